"""The /partners page's section registry (partners/sections.py): another app's section is shown to
the partner's owner, as HTML or (template, context), and its forms' origins join the page's CSP
form-action; the partners app imports nothing of that app."""

import pathlib
import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils.html import format_html

from partners.sections import partner_page_section_register, partner_page_section_unregister
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def section():
    partner_page_section_register(lambda request, partner: format_html('<section id="extra">{}</section>', partner.name),
                                  name="test.extra", form_action=lambda: ["https://forms.example.test"])
    yield
    partner_page_section_unregister("test.extra")


def test_a_registered_section_is_rendered_with_its_form_action(section):
    partner = partner_make(name="Acme <Sections>")
    client = Client()
    client.force_login(partner.owner)
    response = client.get("/partners")
    page = response.content.decode()
    assert '<section id="extra">Acme &lt;Sections&gt;</section>' in page
    assert 'id="partner-payouts"' in page  # the marketplace's, registered in its ready()
    form_action = response["Content-Security-Policy"].split("form-action")[1].split(";")[0]
    assert "https://forms.example.test" in form_action and "https://connect.stripe.com" in form_action


def test_without_a_partner_no_section_is_rendered(section, user):
    client = Client()
    client.force_login(user)
    assert 'id="extra"' not in client.get("/partners").content.decode()


def test_the_partners_app_does_not_import_the_marketplace():
    root = pathlib.Path(settings.BASE_DIR) / "partners"
    offenders = [str(p) for p in root.rglob("*.py")
                 if re.search(r"^\s*(from|import) marketplace\b", p.read_text(), re.MULTILINE)]
    assert offenders == []
