from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import TermsVersion


@pytest.fixture
def terms(db):
    """A published terms version (through the ORM, as the admin saves it)."""
    return TermsVersion.objects.create(version="2025-11-14", text="Be nice. Pay your bills.",
                                       published_at=timezone.now() - timedelta(days=1))


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
