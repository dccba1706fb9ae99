"""Sections other apps add to the /partners page (the marketplace's Payouts), without the partners
app importing them (ARCHITECTURE.md: a lower app offers a registry that higher apps join).

    partner_page_section_register(fn, name="payouts", form_action=lambda: ["https://connect.stripe.com"])

fn(request, partner) returns the section's HTML (a SafeString, e.g. render_to_string), a
(template, context) pair, or None to show nothing. form_action: origins the section's forms may
redirect the browser to after a POST, added to the page's CSP form-action."""

from collections.abc import Callable
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class PartnerPageSection:
    name: str
    render: Callable
    form_action: Callable[[], list[str]] | None = None


_sections: dict[str, PartnerPageSection] = {}


def partner_page_section_register(fn: Callable, *, name: str | None = None,
                                  form_action: Callable[[], list[str]] | None = None) -> None:
    """Add (or replace, by name) a section of the /partners page, shown to a partner's owner."""
    key = name or f"{fn.__module__}.{fn.__qualname__}"
    _sections[key] = PartnerPageSection(name=key, render=fn, form_action=form_action)


def partner_page_section_unregister(name: str) -> None:
    _sections.pop(name, None)


def partner_page_sections_render(request, partner) -> list[SafeString]:
    """Each registered section rendered for this partner, in the order registered."""
    rendered = []
    for section in _sections.values():
        result = section.render(request, partner)
        if result is None:
            continue
        if isinstance(result, tuple):
            template, context = result
            result = render_to_string(template, context, request=request)
        rendered.append(SafeString(result))
    return rendered


def partner_page_form_action_origins() -> list[str]:
    """The origins the sections' forms redirect to (CSP form-action), read when the page is served."""
    origins: list[str] = []
    for section in _sections.values():
        for origin in (section.form_action() if section.form_action else []):
            if origin not in origins:
                origins.append(origin)
    return origins
