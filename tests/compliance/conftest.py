import pytest
from django.test import Client

from compliance.models import TermsVersion
from tests.factories import terms_shipped


@pytest.fixture
def terms(db):
    """The terms in force: the version a fresh install ships (2025-11-14)."""
    return terms_shipped()


@pytest.fixture
def no_terms(db):
    """An install where no terms version is published (the shipped one removed, as in the admin)."""
    TermsVersion.objects.all().delete()


@pytest.fixture
def browser(user):
    """A signed-in browser session (Django's test client, which enforces CSRF like a browser)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.user = user
    return client


def csrf_from(client, path="/settings") -> str:
    """The CSRF token a page hands the browser (its cookie)."""
    client.get(path)
    return client.cookies["csrftoken"].value
