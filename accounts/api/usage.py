"""Accounts API: the key owner's monthly usage."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import api_usage_for


class UsageView(APIView):
    required_scopes = ""  # any of the owner's keys may see the owner's usage
    # Reading one's usage is not a call: a client out of quota must still be able to see when it
    # resets, and polling it must not use up what it measures.
    counts_against_quota = False

    @extend_schema(
        summary="My API calls this month and my quota",
        description="Calls counted this calendar month (UTC) by the key's owner, across all their keys. "
                    "calls_limit and calls_remaining are null on an unlimited tier. Reading this endpoint "
                    "does not count as a call, and it answers even when the quota is used up.",
        responses=inline_serializer("Usage", {
            "calls_used": serializers.IntegerField(min_value=0),
            "calls_limit": serializers.IntegerField(allow_null=True, help_text="null = unlimited"),
            "calls_remaining": serializers.IntegerField(allow_null=True, help_text="null = unlimited"),
            "reset_at": serializers.DateTimeField(help_text="First instant of next month, UTC"),
            "tier": serializers.ChoiceField(choices=["sandbox", "pro", "enterprise"]),
        }),
        examples=[OpenApiExample("Sandbox", value={"calls_used": 120, "calls_limit": 1000, "calls_remaining": 880,
                                                   "reset_at": "2025-12-01T00:00:00Z", "tier": "sandbox"})],
    )
    def get(self, request):
        return Response(api_usage_for(request.user).as_dict())
