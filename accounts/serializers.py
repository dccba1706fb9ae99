"""Input validation and JSON shapes of the accounts API: users and referrals, then API keys (metadata
only; the raw key appears once, when it is made)."""

import re

from django.utils import timezone
from rest_framework import serializers

from accounts.models import SCOPES, ApiKey, User
from accounts.profile import user_extra_fields
from accounts.services.keys import ROTATION_GRACE_MAX_SECONDS, ROTATION_GRACE_SECONDS

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_EXTRA = "Kept by the compliance app; {} when there is none."


def _locale_check(value: str) -> str:
    if not _LOCALE.match(value):
        raise serializers.ValidationError("Use a language tag such as en-GB or fr.")
    return value


def _meta_check(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("meta must be a JSON object.")
    return value


class UserProfileSerializer(serializers.Serializer):
    """The fields PATCH users/<id> accepts (all optional)."""

    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    locale = serializers.CharField(max_length=16, required=False, validators=[_locale_check])
    currency = serializers.ChoiceField(choices=User.Currency.choices, required=False)
    meta = serializers.JSONField(required=False, validators=[_meta_check],
                                 help_text="A JSON object; on update its keys are merged into the stored meta.")


class UserUpsertSerializer(UserProfileSerializer):
    email = serializers.EmailField(max_length=254, help_text="Compared stripped and lower-cased.")


class ReferralTrackSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    source = serializers.CharField(max_length=100, required=False, default="direct")
    campaign = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    medium = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class UserSerializer(serializers.ModelSerializer):
    # The old service's compliance fields. The compliance app owns their data and fills them
    # through accounts.profile (a provider it registers); without one they are null/false.
    terms_accepted_at = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))
    terms_version = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))
    terms_accepted_ip = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))
    marketing_consent = serializers.SerializerMethodField(help_text=_EXTRA.format("false"))
    marketing_consent_at = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))
    marketing_consent_ip = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))
    marketing_double_opt_in = serializers.SerializerMethodField(help_text=_EXTRA.format("false"))
    marketing_double_opt_in_at = serializers.SerializerMethodField(help_text=_EXTRA.format("null"))

    class Meta:
        model = User
        fields = ["id", "email", "name", "locale", "currency", "meta", "created_at", "updated_at",
                  "terms_accepted_at", "terms_version", "terms_accepted_ip", "marketing_consent",
                  "marketing_consent_at", "marketing_consent_ip", "marketing_double_opt_in",
                  "marketing_double_opt_in_at"]
        read_only_fields = fields

    def _extra(self, user) -> dict:
        # Asked once per user and serializer, not once per field.
        memo = self.__dict__.setdefault("_extra_memo", {})
        if user.pk not in memo:
            memo[user.pk] = user_extra_fields(user)
        return memo[user.pk]

    def _time(self, user, name):
        value = self._extra(user).get(name)
        return serializers.DateTimeField().to_representation(value) if value else None

    def get_terms_accepted_at(self, user) -> str | None:
        return self._time(user, "terms_accepted_at")

    def get_terms_version(self, user) -> str | None:
        return self._extra(user).get("terms_version")

    def get_terms_accepted_ip(self, user) -> str | None:
        return self._extra(user).get("terms_accepted_ip")

    def get_marketing_consent(self, user) -> bool:
        return bool(self._extra(user).get("marketing_consent", False))

    def get_marketing_consent_at(self, user) -> str | None:
        return self._time(user, "marketing_consent_at")

    def get_marketing_consent_ip(self, user) -> str | None:
        return self._extra(user).get("marketing_consent_ip")

    def get_marketing_double_opt_in(self, user) -> bool:
        return bool(self._extra(user).get("marketing_double_opt_in", False))

    def get_marketing_double_opt_in_at(self, user) -> str | None:
        return self._time(user, "marketing_double_opt_in_at")


class ErrorSerializer(serializers.Serializer):
    """The project's one error shape, for the schema."""

    error = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()
    correlation_id = serializers.CharField()


def api_errors(*statuses: int) -> dict:
    """The error answers of an operation for extend_schema(responses={..., **api_errors(400, 404)})."""
    return {status: ErrorSerializer for status in statuses}


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
