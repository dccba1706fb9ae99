"""GET /ops/stabilize: stabilize mode's state, for operators and their tools (admin:read keys or
staff). Beside the other /ops views, outside the versioned API (not in the OpenAPI schema)."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.services.stabilize import stabilize_state


class StabilizeStateView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(exclude=True)
    def get(self, request):
        """{"enabled", "since", "by", "reason"}: from the cached state (no query once cached)."""
        return Response(stabilize_state())
