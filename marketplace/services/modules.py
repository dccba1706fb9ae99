"""Installed listings as workflows: a buyer who installed a listing has the workflow
`partner.<slug>` (jobs.workflows' provider for the prefix "partner.", registered in ready()).

The workflow is the listing's: its input schema validates the payload at intake (the same intake,
guardrails and budget as every job), and a run calls the partner's endpoint (module_runs). It is
there while the install stands (not uninstalled), in the install's mode, the listing is published
and its partner approved: a listing delisted or a partner suspended stops new runs, and a queued
job of it then fails as unknown_workflow (nothing runs against a module nobody may sell any more).

Workflow objects (their schema compiled once) are kept per process by (listing id, updated_at,
policy version): an edited listing or a new policy gets a fresh one, an unchanged one costs no
compile per request."""

from decimal import Decimal

from django.conf import settings

from jobs.workflows import Workflow
from marketplace.models import Installation, Listing

PREFIX = "partner."
MODULE_MAX_ATTEMPTS = 3
_COMPILED: dict[tuple, Workflow] = {}
_COMPILED_MAX = 2000


def installs_live(*, owner_id, livemode: bool):
    """The account's installs that are workflows now (in this mode): not uninstalled, the listing
    published, its partner approved. A queryset, the listing joined."""
    return (Installation.objects.filter(user_id=owner_id, livemode=livemode, uninstalled_at__isnull=True,
                                        listing__status=Listing.Status.PUBLISHED,
                                        listing__partner__status="approved",
                                        listing__partner__deleted_at__isnull=True)
            .select_related("listing"))


def _estimate(payload: dict) -> Decimal:
    return settings.MARKETPLACE_MODULE_RUN_COST


def module_timeout_seconds(policy=None) -> float:
    """A run's deadline: the governance policy's webhook timeout (the same rule as every call to a
    partner), so a slow partner endpoint cannot hold a worker longer than the policy allows."""
    from partners.services.policy import policy_current

    return float((policy or policy_current()).webhook_timeout_seconds)


def listing_workflow(listing: Listing) -> Workflow:
    """The workflow of `listing` (cached per process by its id, updated_at and the governance policy's
    version: a new policy's webhook timeout applies to the next job, not after a restart)."""
    from marketplace.services.module_runs import module_run
    from partners.services.policy import policy_current

    policy = policy_current()
    key = (listing.pk, listing.updated_at, policy.version)
    workflow = _COMPILED.get(key)
    if workflow is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        listing_id = listing.pk
        workflow = Workflow(
            name=listing.workflow_name,
            description=f"{listing.name} (marketplace module by {listing.partner.name})",
            payload_schema=listing.input_schema or {"type": "object"},
            handler=lambda ctx, payload: module_run(ctx, payload, listing_id=listing_id),
            estimate_cost=_estimate,
            timeout_seconds=module_timeout_seconds(policy),
            max_attempts=MODULE_MAX_ATTEMPTS,
        )
        _COMPILED[key] = workflow
    return workflow


class PartnerModuleProvider:
    """jobs.workflows.WorkflowProvider for "partner.<slug>"."""

    def get(self, name: str, *, owner_id, livemode: bool) -> Workflow | None:
        if owner_id is None or not name.startswith(PREFIX):
            return None
        install = (installs_live(owner_id=owner_id, livemode=livemode)
                   .select_related("listing__partner").filter(listing__slug=name[len(PREFIX):]).first())
        return listing_workflow(install.listing) if install else None

    def for_owner(self, *, owner_id, livemode: bool) -> list[Workflow]:
        if owner_id is None:
            return []
        return [listing_workflow(install.listing)
                for install in installs_live(owner_id=owner_id, livemode=livemode).select_related("listing__partner")]


MODULE_PROVIDER = PartnerModuleProvider()
