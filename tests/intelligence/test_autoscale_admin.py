"""The autoscale's admin page (staff only, linked from the admin index): the latest decision, its
history as server-drawn charts over the dashboard's ranges, the latest decisions with their reasons;
and the read-only list of every decision."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import AutoscaleDecision
from tests.factories import UserFactory
from tests.intelligence.autoscale_data import decisions_of_the_last

pytestmark = pytest.mark.django_db

URL = "/admin/money/autoscale/"


def test_staff_see_the_latest_decision_the_charts_and_the_reasons(operator):
    decisions_of_the_last(40)
    page = operator.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert re.search(r'id="autoscale-latest">\s*<h2>Latest decision</h2>\s*<p class="ops-big">hold: 1 worker</p>', text)
    assert text.count('<svg class="chart"') == 3
    for key in ("workers", "p95", "queue"):
        assert f'id="chart-{key}"' in text
    workers = re.search(r'id="chart-workers".*?</svg>', text, flags=re.S).group(0)
    assert workers.count('class="col"') == 60 and 'class="line s-workers"' in workers
    assert "Under pressure (14 jobs queued, over 10) but frozen (margin 8 % under 10 %)" in text  # the freeze's reason
    assert text.count('<tr class="autoscale-') == 30  # the 30 latest
    assert "Off" in re.search(r'id="autoscale-flag">.*?</div>', text, flags=re.S).group(0)
    assert 'href="/admin/money/autoscale/"' in operator.get("/admin/").content.decode()


def test_its_links_lead_to_the_flag_and_the_held_changes(operator, django_capture_on_commit_callbacks):
    from waffle.models import Switch

    from intelligence.models import HeldAction
    from intelligence.services.automation import STABILIZE_SWITCH

    with django_capture_on_commit_callbacks(execute=True):
        Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})
    HeldAction.objects.create(at=timezone.now(), action="autoscale", reason="stabilize_mode", detail={"would": "scale_up"})
    HeldAction.objects.create(at=timezone.now(), action="autotune.apply", reason="stabilize_mode")
    text = operator.get(URL).content.decode()
    held = re.search(r'href="([^"]+\?action=autoscale)"', text).group(1)
    flag = re.search(r'href="([^"]+\?name=AUTOSCALE_ENABLED)"', text).group(1)
    listed = operator.get(held)
    assert listed.status_code == 200 and re.search(r"1\s+held action\b", listed.content.decode())  # autoscale's only
    assert "AUTOSCALE_ENABLED" in operator.get(flag).content.decode()


def test_the_ranges(operator):
    decisions_of_the_last(90)
    for name, columns in (("day", 24), ("week", 168)):
        text = operator.get(f"{URL}?range={name}").content.decode()
        workers = re.search(r'id="chart-workers".*?</svg>', text, flags=re.S).group(0)
        assert workers.count('class="col"') == columns, name


def test_no_decision_yet(operator):
    text = operator.get(URL).content.decode()
    assert "None yet" in text and 'id="autoscale-empty"' in text and not AutoscaleDecision.objects.exists()


def test_the_page_is_a_handful_of_queries(operator, django_assert_max_num_queries):
    decisions_of_the_last(60)
    operator.get(URL)
    with django_assert_max_num_queries(4):  # session, user, the history (aggregated per step), the latest 30
        assert operator.get(URL).status_code == 200


def test_others_are_sent_to_the_sign_in():
    member = Client()
    member.force_login(UserFactory())
    assert member.get(URL).status_code == 302
    assert Client().get(URL).status_code == 302


def test_every_decision_is_listed_read_only(operator):
    decisions_of_the_last(5)
    page = operator.get("/admin/intelligence/autoscaledecision/")
    assert page.status_code == 200 and "one more worker" in page.content.decode()
    assert operator.get("/admin/intelligence/autoscaledecision/add/").status_code == 403
    decision = AutoscaleDecision.objects.first()
    assert operator.get(f"/admin/intelligence/autoscaledecision/{decision.pk}/change/").status_code == 200
