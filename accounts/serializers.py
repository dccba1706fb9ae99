"""How API keys look from outside: metadata only; the raw key appears once, when it is made."""

from django.utils import timezone
from rest_framework import serializers

from accounts.models import SCOPES, ApiKey
from accounts.services import ROTATION_GRACE_MAX_SECONDS, ROTATION_GRACE_SECONDS


class ErrorSerializer(serializers.Serializer):
    """The project's one error shape, for the schema."""

    error = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()
    correlation_id = serializers.CharField()


class ApiKeySerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    rotated_from = serializers.UUIDField(source="rotated_from_id", allow_null=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES))

    class Meta:
        model = ApiKey
        fields = ["id", "object", "name", "prefix", "livemode", "scopes", "status", "created_at", "last_used_at",
                  "last_used_ip", "expires_at", "revoked_at", "rotated_from"]

    def get_object(self, api_key) -> str:
        return "api_key"

    def get_status(self, api_key) -> str:
        if api_key.revoked_at is not None:
            return "revoked"
        return "active" if api_key.is_usable() else "expired"


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(help_text="The raw key. Shown this once: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = ["key", *ApiKeySerializer.Meta.fields]

    def get_key(self, api_key) -> str:
        return self.context["raw_key"]


class ApiKeyRotatedSerializer(ApiKeyCreatedSerializer):
    previous_key = ApiKeySerializer(source="rotated_from",
                                    help_text="The replaced key; it stops working at its expires_at.")

    class Meta(ApiKeyCreatedSerializer.Meta):
        fields = [*ApiKeyCreatedSerializer.Meta.fields, "previous_key"]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    livemode = serializers.BooleanField(required=False, help_text="Default: the mode of the key making the request.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), required=False, min_length=1,
                                   help_text="Default: the usual scopes, within those of the key making the request.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_scopes(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each scope may appear once.")
        return value

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("expires_at must be in the future.")
        return value


class ApiKeyRotateSerializer(serializers.Serializer):
    grace_seconds = serializers.IntegerField(
        min_value=0, max_value=ROTATION_GRACE_MAX_SECONDS, default=ROTATION_GRACE_SECONDS,
        help_text="How long the old key keeps working; 0 stops it now.")
