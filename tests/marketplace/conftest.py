"""Fixtures of the marketplace tests."""

import pytest
from django.test import Client

from tests.factories import terms_accepted_by


@pytest.fixture
def browser(user):
    """A signed-in user's client that checks CSRF as a browser's requests are checked (the page forms)."""
    terms_accepted_by(user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.user = user
    return client
