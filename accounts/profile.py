"""Fields of a user that other apps own (terms, marketing consent), for the users API.

accounts knows no other app: an app that owns such fields registers a provider here (in its
AppConfig.ready), a function(user) -> dict of field values; the users API merges what they give."""

from collections.abc import Callable

_providers: list[Callable] = []


def register_user_fields(provider: Callable) -> None:
    if provider not in _providers:
        _providers.append(provider)


def user_extra_fields(user) -> dict:
    fields: dict = {}
    for provider in _providers:
        fields.update(provider(user))
    return fields
