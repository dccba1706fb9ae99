"""GET /api/v1/flags: every feature flag and switch with its state, for operators."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.services.flag_state import flag_states, switch_states

_FLAG_FIELDS = {
    "name": serializers.CharField(),
    "note": serializers.CharField(help_text="What it gates."),
    "state": serializers.ChoiceField(["on", "off", "some"], help_text="on/off for everyone, or on for some (see summary)."),
    "summary": serializers.CharField(),
    "everyone": serializers.BooleanField(allow_null=True, help_text="Decided for everyone (null: by the conditions)."),
    "percent": serializers.CharField(allow_null=True),
    "users": serializers.IntegerField(help_text="How many users it is on for by name."),
    "groups": serializers.ListField(child=serializers.CharField()),
    "superusers": serializers.BooleanField(),
    "staff": serializers.BooleanField(),
    "authenticated": serializers.BooleanField(),
    "languages": serializers.ListField(child=serializers.CharField()),
    "testing": serializers.BooleanField(),
    "rollout": serializers.BooleanField(),
    "modified": serializers.DateTimeField(),
}
_SWITCH_FIELDS = {
    "name": serializers.CharField(),
    "note": serializers.CharField(),
    "state": serializers.ChoiceField(["on", "off"]),
    "active": serializers.BooleanField(),
    "modified": serializers.DateTimeField(),
}


class FlagListView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="Feature flags and switches with their state (admin:read keys or staff)",
                   operation_id="flags_list",
                   responses=inline_serializer("FlagList", {
                       "flags": inline_serializer("FeatureFlag", _FLAG_FIELDS, many=True),
                       "switches": inline_serializer("FeatureSwitch", _SWITCH_FIELDS, many=True)}))
    def get(self, request):
        return Response({"flags": flag_states(), "switches": switch_states()})
