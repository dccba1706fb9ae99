"""The growth page of the admin (staff only, linked from the admin index, charts as inline SVG, the
cohort heat map in classes, no style attribute) and the operators' API of the same figures."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import GrowthDay, RetentionCohort
from intelligence.services.growth_aggregates import growth_backfill
from tests.factories import UserFactory, api_key_for
from tests.intelligence.growth_support import a_month_of_growth

pytestmark = pytest.mark.django_db

PAGE = "/admin/money/growth/"


@pytest.fixture
def month():
    today = timezone.now().date()
    users = a_month_of_growth(today)
    growth_backfill(days=30)
    return users


def test_the_growth_page_is_for_staff_only():
    assert Client().get(PAGE).status_code == 302
    customer = Client()
    customer.force_login(UserFactory(terms_accepted=True))
    response = customer.get(PAGE)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert customer.post(f"{PAGE}recompute").status_code == 302
    assert not GrowthDay.objects.exists()


def test_staff_reach_it_from_the_admin_index(operator):
    index = operator.get("/admin/").content.decode()
    assert f'href="{PAGE}" id="growth-link"' in index


def test_the_page_draws_the_charts_the_sources_and_the_heat_map(operator, month, django_assert_max_num_queries):
    operator.get(PAGE)  # templates compiled, the user's day marked
    with django_assert_max_num_queries(14):
        response = operator.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg class="chart"') == 3
    for key in ("funnel", "active", "paying"):
        assert f'id="chart-{key}"' in page
    assert 'data-source="newsletter"' in page and 'data-source="google.com"' in page
    heat = re.findall(r'class="heat (heat-[0-9a-z]+)"', page)
    assert heat and all(re.fullmatch(r"heat-(10|[0-9]|none)", h) for h in heat)
    assert len([h for h in heat if h != "heat-none"]) == RetentionCohort.objects.count()
    assert "style=" not in page  # the page policy forbids style attributes
    assert "conversion % = signups / max(visits, 1)" in page


def test_an_empty_window_says_how_to_fill_it(operator):
    page = operator.get(PAGE).content.decode()
    assert 'id="growth-empty"' in page and "manage.py growth_aggregate --days 30" in page
    assert '<svg class="chart"' not in page


def test_staff_recompute_the_window(operator):
    a_month_of_growth(timezone.now().date())
    response = operator.post(f"{PAGE}recompute?days=7")
    assert response.status_code == 302 and response["Location"] == f"{PAGE}?days=7"
    yesterday = timezone.now().date() - timedelta(days=1)
    days = set(GrowthDay.objects.values_list("day", flat=True))
    assert days == {yesterday - timedelta(days=n) for n in range(7)}
    assert operator.get(PAGE).status_code == 200


def test_the_recompute_form_needs_the_csrf_token(django_user_model):
    staff = django_user_model.objects.create_superuser("csrf-ops@levqor.test", "a-long-operator-password")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(f"{PAGE}recompute").status_code == 403


# --- the API ------------------------------------------------------------------------------------

def test_the_growth_api_gives_the_figures_as_exact_decimals(month, client_for):
    _, raw = api_key_for(scopes=["admin:read"])
    body = client_for(raw).get("/api/v1/intelligence/growth?days=30").json()
    assert body["days"] == 30 and body["to"] == (timezone.now().date() - timedelta(days=1)).isoformat()
    sources = {row["source"]: row for row in body["sources"]}
    news = sources["newsletter"]
    visits, signups = news["visits"], news["signups"]
    assert news["conversion_pct"] == f"{signups * 100 / visits:.2f}"
    assert body["total"]["visits"] == sum(r["visits"] for r in body["sources"])
    usd = body["total"]["revenue"]["USD"]
    assert usd["revenue"] == f"{usd['revenue_minor'] / 100:.2f}" and isinstance(usd["revenue_minor"], int)


def test_the_retention_api(month, client_for):
    _, raw = api_key_for(scopes=["admin:read"])
    body = client_for(raw).get("/api/v1/intelligence/retention?days=7").json()
    assert len(body["series"]) == 7 and set(body["series"][0]) == {"day", "dau", "wau", "mau", "paying"}
    assert all(row["dau"] <= row["wau"] <= row["mau"] for row in body["series"])
    assert body["cohorts"] and body["cohorts"][0]["cells"][0]["weeks_since"] == 0


def test_the_api_is_for_operators_and_validates_days(api, client_for):
    for path in ("/api/v1/intelligence/growth", "/api/v1/intelligence/retention"):
        assert api.get(path).status_code == 403
    _, raw = api_key_for(scopes=["admin:read"])
    answer = client_for(raw).get("/api/v1/intelligence/growth?days=0")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "validation_failed" and body["details"]["errors"][0]["field"] == "days"
    assert client_for(raw).get("/api/v1/intelligence/retention?days=x").status_code == 400


def test_the_events_and_tables_are_listed_read_only_in_admin(operator, month):
    for model in ("growthevent", "growthday", "growthrevenueday", "retentionday", "retentioncohort"):
        response = operator.get(f"/admin/intelligence/{model}/")
        assert response.status_code == 200, model
        assert operator.get(f"/admin/intelligence/{model}/add/").status_code == 403, model
