"""Reads of API keys that more than one caller needs."""

from django.db.models import QuerySet

from accounts.models import ApiKey, User


def api_key_list_for(owner: User) -> QuerySet[ApiKey]:
    """The owner's keys, newest first (revoked and expired ones too: the list is their history)."""
    return ApiKey.objects.filter(owner=owner).order_by("-created_at", "-id")


def api_key_get_for(owner: User, *, key_id) -> ApiKey | None:
    """One of the owner's keys; None for an unknown id or another owner's key (the API answers 404 for both)."""
    return ApiKey.objects.filter(owner=owner, pk=key_id).first()
