"""The personal data registry: what every app holds about a user, for data export (GDPR art.
15/20) and account erasure (art. 17).

accounts knows no other app, yet export and erasure must cover them all: an app that holds
personal data registers a provider here from its AppConfig.ready(), one per section of the
export document, as Django's own registries work (admin.site.register, signals). Export and
erasure walk the providers in registration order, which follows INSTALLED_APPS (so it is the
same on every process and every run); accounts registers its own first.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import api_key_list_for
from accounts.services.users import user_anonymise
from levqor.webhooks.selectors import webhook_owner_export

# The export document's own key, beside the providers' sections.
EXPORTED_AT = "exported_at"


@dataclass(frozen=True)
class Erasure:
    """Who erases, for providers that audit it. ip is the actor's address when staff erase
    someone else, and None when people erase themselves (then we keep no address of theirs)."""

    actor: User | None
    ip: str | None
    by_self: bool


@dataclass(frozen=True)
class PersonalDataProvider:
    """One section of the export document and the erasure of what it covers, both called with
    keyword arguments.

    export(user=...) returns JSON-able data (datetimes, decimals and UUIDs allowed, as Django's
    JSON encoder writes them), never a hash or a secret. erase(user=..., erasure=...) removes or
    anonymises that data, and may keep rows that others need (billing, audit) once they no
    longer name the person; None when another section's erasure already covers it."""

    name: str
    export: Callable[..., Any]
    erase: Callable[..., None] | None = None


class AlreadyRegistered(Exception):
    """Another provider already has this section name."""


_providers: dict[str, PersonalDataProvider] = {}


def personal_data_register(*, name: str, export: Callable[..., Any],
                           erase: Callable[..., None] | None = None) -> PersonalDataProvider:
    """Add a provider of the export section `name`. Registering the same provider again changes
    nothing; another provider under a taken name raises AlreadyRegistered (two apps writing one
    section would overwrite each other's data in the export)."""
    if name == EXPORTED_AT:
        raise ValueError(f"{EXPORTED_AT!r} is the export document's own key.")
    provider = PersonalDataProvider(name=name, export=export, erase=erase)
    existing = _providers.get(name)
    if existing is not None and existing != provider:
        raise AlreadyRegistered(f"A personal data provider named {name!r} is already registered.")
    _providers[name] = provider
    return provider


def personal_data_unregister(name: str) -> None:
    _providers.pop(name, None)


def personal_data_providers() -> list[PersonalDataProvider]:
    return list(_providers.values())


def personal_data_export(*, user: User) -> dict:
    """Everything we hold about the user: {"exported_at", <section>: <data>, ...}."""
    document: dict = {EXPORTED_AT: timezone.now()}
    for provider in personal_data_providers():
        document[provider.name] = provider.export(user=user)
    return document


def personal_data_erase(*, user: User, actor: User | None, ip: str | None) -> Erasure:
    """Erase the user's personal data in every app that registered some, in one transaction:
    an erasure is done entirely or not at all. The actor's address reaches the audits only when
    staff erase someone else. Returns the erasure's context (who, from where, by self or not)."""
    by_self = actor is None or actor.pk == user.pk
    erasure = Erasure(actor=actor, ip=None if by_self else ip, by_self=by_self)
    with transaction.atomic():
        for provider in personal_data_providers():
            if provider.erase is not None:
                provider.erase(user=user, erasure=erasure)
    return erasure


# --- accounts' own sections -------------------------------------------------------------------

def profile_export(*, user: User) -> dict:
    return {"id": user.pk, "email": user.email, "name": user.name, "locale": user.locale,
            "currency": user.currency, "meta": user.meta, "tier": user.tier,
            "created_at": user.created_at, "updated_at": user.updated_at, "last_login": user.last_login}


def profile_erase(*, user: User, erasure: Erasure) -> None:
    """The user anonymised: email, name and meta gone, password unusable (which ends their
    sessions), account deactivated, referrals without the address, usable keys revoked."""
    user_anonymise(user=user, actor=erasure.actor, ip=erasure.ip)  # revokes keys (forgotten again on commit)


def api_keys_export(*, user: User) -> list[dict]:
    """Key metadata only: never a key or its hash."""
    return [{"prefix": k.prefix, "name": k.name, "livemode": k.livemode, "scopes": k.scopes,
             "created_at": k.created_at, "last_used_at": k.last_used_at, "last_used_ip": k.last_used_ip,
             "expires_at": k.expires_at, "revoked_at": k.revoked_at} for k in api_key_list_for(user)]


def webhooks_export(*, user: User) -> dict:
    return webhook_owner_export(owner=user)


def accounts_personal_data_register() -> None:
    """accounts' sections; called from AccountsConfig.ready(), before the other apps register."""
    personal_data_register(name="profile", export=profile_export, erase=profile_erase)
    # The keys are revoked by the profile's erasure (user_anonymise); their metadata stays as audit.
    personal_data_register(name="api_keys", export=api_keys_export)
    # The webhook engine (levqor, which knows no app) holds endpoints and deliveries; the profile's
    # erasure (user_anonymise) deletes them.
    personal_data_register(name="webhooks", export=webhooks_export)
