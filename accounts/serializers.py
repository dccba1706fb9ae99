"""Input validation and JSON shapes of the users and referrals API."""

import re

from rest_framework import serializers

from accounts.models import User

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_NOT_TRACKED = "Tracked by the compliance app (a later release); always {} for now."


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
    currency = serializers.ChoiceField(choices=User.Currency.values, required=False)
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
    # The old service's compliance fields. Their data lives in the compliance app of a later
    # release; until then they are answered as null/false, never made up.
    terms_accepted_at = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))
    terms_version = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))
    terms_accepted_ip = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))
    marketing_consent = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("false"))
    marketing_consent_at = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))
    marketing_consent_ip = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))
    marketing_double_opt_in = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("false"))
    marketing_double_opt_in_at = serializers.SerializerMethodField(help_text=_NOT_TRACKED.format("null"))

    class Meta:
        model = User
        fields = ["id", "email", "name", "locale", "currency", "meta", "created_at", "updated_at",
                  "terms_accepted_at", "terms_version", "terms_accepted_ip", "marketing_consent",
                  "marketing_consent_at", "marketing_consent_ip", "marketing_double_opt_in",
                  "marketing_double_opt_in_at"]
        read_only_fields = fields

    def get_terms_accepted_at(self, user) -> str | None:
        return None

    def get_terms_version(self, user) -> str | None:
        return None

    def get_terms_accepted_ip(self, user) -> str | None:
        return None

    def get_marketing_consent(self, user) -> bool:
        return False

    def get_marketing_consent_at(self, user) -> str | None:
        return None

    def get_marketing_consent_ip(self, user) -> str | None:
        return None

    def get_marketing_double_opt_in(self, user) -> bool:
        return False

    def get_marketing_double_opt_in_at(self, user) -> str | None:
        return None
