"""The installs API (list in the key's mode, uninstall, owner only), installing by buying (an order's
install makes the workflow), downloads counted once per install, and the listing page's uninstall
form."""

from decimal import Decimal

import pytest
from django.test import Client

from marketplace.models import Installation, Listing, Order
from marketplace.services.installs import listing_install
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.marketplace.store_support import SCHEMA, csrf_post, listing_make, page_messages

pytestmark = pytest.mark.django_db
INSTALLS = "/api/v1/marketplace/installs"


def workflow_names(api) -> list[str]:
    return [w["name"] for w in api.get("/api/v1/workflows").json()["data"]]


def order_for(listing, buyer) -> Order:
    return Order.objects.create(listing=listing, partner=listing.partner, buyer=buyer, amount_minor=1000,
                                currency="usd", revenue_share=Decimal("0.700"), partner_share_minor=700,
                                platform_fee_minor=300, status=Order.Status.COMPLETED, checkout_session_id="cs_test_1")


def test_the_list_shows_my_live_installs_in_the_keys_mode_with_their_workflow(api, client_for):
    mine = listing_make(slug="summarise", name="Summariser")
    listing_install(user=api.user, listing=mine, livemode=True)
    test_only = listing_make(slug="test-only")
    listing_install(user=api.user, listing=test_only, livemode=False)
    gone = listing_make(slug="gone")
    install, _ = listing_install(user=api.user, listing=gone, livemode=True)
    Installation.objects.filter(pk=install.pk).update(uninstalled_at=install.created_at)
    delisted = listing_make(slug="delisted", status=Listing.Status.DELISTED)
    listing_install(user=api.user, listing=delisted, livemode=True)
    listing_install(user=UserFactory(), listing=listing_make(slug="someone-elses"), livemode=True)

    body = api.get(INSTALLS).json()
    (row,) = body["results"]
    assert row["listing"] == {"id": str(mine.pk), "slug": "summarise", "name": "Summariser",
                              "partner": mine.partner.name}
    assert row["livemode"] is True
    assert row["workflow"]["name"] == "partner.summarise" and row["workflow"]["payload_schema"] == SCHEMA
    _, test_raw = api_key_for(api.user, livemode=False)
    (test_row,) = client_for(test_raw).get(INSTALLS).json()["results"]
    assert test_row["listing"]["slug"] == "test-only" and test_row["livemode"] is False


def test_the_list_is_paginated_and_its_queries_do_not_grow(api, django_assert_max_num_queries):
    for number in range(3):
        listing_install(user=api.user, listing=listing_make(slug=f"page-{number}"), livemode=True)
    first = api.get(INSTALLS, {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    assert len(api.get(first["next"]).json()["results"]) == 1
    for number in range(3, 8):
        listing_install(user=api.user, listing=listing_make(slug=f"page-{number}"), livemode=True)
    with django_assert_max_num_queries(8):
        assert len(api.get(INSTALLS).json()["results"]) == 8


def test_uninstall_is_for_the_owner_only(api, client_for):
    listing = listing_make(slug="owned")
    install, _ = listing_install(user=api.user, listing=listing, livemode=True)
    _, other_raw = api_key_for()
    assert_api_error(client_for(other_raw).delete(f"{INSTALLS}/{install.pk}"), 404, "not_found")
    _, test_raw = api_key_for(api.user, livemode=False)
    assert_api_error(client_for(test_raw).delete(f"{INSTALLS}/{install.pk}"), 404, "not_found")
    assert_api_error(api.delete(f"{INSTALLS}/999999"), 404, "not_found")
    assert "partner.owned" in workflow_names(api)

    assert api.delete(f"{INSTALLS}/{install.pk}").status_code == 204
    install.refresh_from_db()
    assert install.uninstalled_at is not None
    assert "partner.owned" not in workflow_names(api)
    assert api.get(INSTALLS).json()["results"] == []
    assert_api_error(api.delete(f"{INSTALLS}/{install.pk}"), 404, "not_found")


def test_the_installs_api_needs_the_marketplace_scopes(client_for):
    _, raw = api_key_for(scopes=["jobs:read", "jobs:write"])
    assert_api_error(client_for(raw).get(INSTALLS), 403, "insufficient_scope")
    assert_api_error(client_for(raw).delete(f"{INSTALLS}/1"), 403, "insufficient_scope")
    _, reader = api_key_for(scopes=["marketplace:read"])
    assert client_for(reader).get(INSTALLS).status_code == 200
    assert_api_error(client_for(reader).delete(f"{INSTALLS}/1"), 403, "insufficient_scope")
    assert_api_error(Client().get(INSTALLS), 401, "not_authenticated")


def test_buying_installs_the_module_and_counts_one_download(api):
    listing = listing_make(slug="bought", amount_minor=1000)
    assert "partner.bought" not in workflow_names(api)
    order = order_for(listing, api.user)
    install, created = listing_install(user=api.user, listing=listing, livemode=True, order=order)
    assert created and install.order_id == order.pk
    assert "partner.bought" in workflow_names(api)
    # The same order completed again (a repeated webhook): the same install, no second download.
    again, created = listing_install(user=api.user, listing=listing, livemode=True, order=order)
    assert again.pk == install.pk and not created
    listing.refresh_from_db()
    assert listing.downloads == 1
    # Another buyer's install counts; a reinstall after an uninstall does not (downloads count buyers).
    listing_install(user=UserFactory(), listing=listing, livemode=True)
    assert api.delete(f"{INSTALLS}/{install.pk}").status_code == 204
    listing_install(user=api.user, listing=listing, livemode=True)
    listing.refresh_from_db()
    assert listing.downloads == 2


def test_the_uninstall_form(browser):
    listing = listing_make(slug="form-module", name="Form module")
    install, _ = listing_install(user=browser.user, listing=listing, livemode=True)
    path = "/marketplace/form-module/uninstall"
    assert Client().post(path)["Location"].startswith("/login")
    assert browser.get(path).status_code == 405
    assert browser.post(path).status_code == 403  # no CSRF token

    response = csrf_post(browser, path)
    assert response.status_code == 302 and response["Location"] == "/marketplace/form-module"
    assert any("uninstalled" in message for message in page_messages(response))
    install.refresh_from_db()
    assert install.uninstalled_at is not None

    response = csrf_post(browser, path)
    assert response["Location"] == "/marketplace/form-module"
    assert page_messages(response) == ["This module is not installed on your account."]


def test_the_listing_page_shows_the_message_after_uninstalling(browser):
    listing = listing_make(slug="page-uninstall", name="Page module")
    listing_install(user=browser.user, listing=listing, livemode=True)
    assert 'id="uninstall-form"' in browser.get("/marketplace/page-uninstall").content.decode()
    response = csrf_post(browser, "/marketplace/page-uninstall/uninstall")
    page = browser.get(response["Location"]).content.decode()
    assert "Page module is uninstalled" in page and 'id="uninstall-form"' not in page
