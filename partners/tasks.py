"""django-q2 entry points of the partners app: thin, each calls a service."""

from partners.services.governance import partner_governance_sweep


def governance_sweep() -> dict:
    """The daily schedule partners.governance_sweep: every approved partner against the auto-suspend rules."""
    return partner_governance_sweep()
