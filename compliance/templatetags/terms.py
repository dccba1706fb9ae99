"""What the public terms page (levqor's pages/terms.html, extended by compliance/terms_page.html)
shows: the version in force, read where it is kept, so levqor's page needs to import no app."""

from django import template

from compliance import selectors
from compliance.models import TermsVersion

register = template.Library()


@register.simple_tag
def terms_in_force() -> TermsVersion | None:
    """The terms version in force now (the latest published), or None when none is published."""
    current = selectors.terms_current()
    return selectors.terms_version_get(version_id=current.id) if current else None
