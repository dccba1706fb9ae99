"""The growth funnel's events as people cause them: visits stored only with consent to analytics,
the first touch (UTM, ?ref=, Referer) remembered in a cookie only with that consent and carried
to the signup, active users once a day (memo, cache, unique row), the first paid tier from
billing's signal, and the events in the personal data export and erasure."""

import contextlib
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.personal_data import personal_data_erase, personal_data_export
from accounts.services.users import referral_track, user_get_or_create
from intelligence.growth_attribution import ATTRIBUTION_COOKIE, first_touch_from_cookie
from intelligence.models import GrowthEvent
from intelligence.services import growth
from jobs.models import Job
from marketplace.models import StripeEvent, Subscription
from marketplace.signals import subscription_changed
from tests.accounts.test_login import ask_link, last_token
from tests.compliance.test_cookie_consent import choose, cookie
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db

PAGE = "/marketing/confirm"  # a public HTML page


def consenting(analytics=True):
    client = Client()
    client.get(PAGE)  # the banner's CSRF cookie
    choose(client, {"choices": {"functional": True, "analytics": analytics, "marketing": False}})
    return client


def visits():
    return list(GrowthEvent.objects.filter(kind="visit").order_by("id").values_list("visitor", "source", "campaign", "medium"))


# --- consent ------------------------------------------------------------------------------------

def test_no_visit_and_no_cookie_without_consent_to_analytics():
    client = Client()  # no decision yet
    response = client.get(f"{PAGE}?utm_source=news&utm_campaign=launch")
    assert response.status_code == 200
    assert ATTRIBUTION_COOKIE not in response.cookies
    refused = consenting(analytics=False)
    response = refused.get(f"{PAGE}?utm_source=news")
    assert response.status_code == 200 and ATTRIBUTION_COOKIE not in response.cookies
    assert not GrowthEvent.objects.filter(kind="visit").exists()


def test_a_consenting_visitor_has_one_visit_a_day_and_their_first_touch_remembered(clock):
    client = consenting()
    response = client.get(f"{PAGE}?utm_source=Newsletter&utm_campaign=Launch&utm_medium=email")
    morsel = response.cookies[ATTRIBUTION_COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Lax"
    visitor_id = cookie(client)["id"]
    assert visits() == [(visitor_id, "newsletter", "launch", "email")]
    # Later the same day, from elsewhere: no second visit, and the first touch is kept.
    response = client.get(PAGE, HTTP_REFERER="https://news.ycombinator.com/item?id=1")
    assert ATTRIBUTION_COOKIE not in response.cookies
    assert len(visits()) == 1
    clock.advance(24 * 3600)
    client.get(PAGE, HTTP_REFERER="https://www.Example.org/post")
    assert visits()[1] == (visitor_id, "example.org", "", "referral")  # the visit's own source
    request = type("R", (), {"COOKIES": {ATTRIBUTION_COOKIE: client.cookies[ATTRIBUTION_COOKIE].value}})
    assert first_touch_from_cookie(request).source == "newsletter"  # first touch unchanged


def test_withdrawn_consent_removes_the_first_touch_cookie_and_stores_nothing(clock):
    client = consenting()
    client.get(f"{PAGE}?ref=partner-blog")
    assert visits()[0][1:] == ("partner-blog", "", "referral")
    choose(client, {"action": "reject_all"})
    clock.advance(24 * 3600)
    response = client.get(f"{PAGE}?utm_source=ads")
    assert response.cookies[ATTRIBUTION_COOKIE].value == ""  # deleted
    assert len(visits()) == 1


def test_a_forged_consent_cookie_with_a_visitor_id_we_never_gave_counts_nothing(settings):
    client = Client()
    forged = {"v": settings.COOKIE_POLICY_VERSION, "id": "x y\nz", "c": {"analytics": True}}
    client.cookies["levqor_consent"] = quote(json.dumps(forged))
    response = client.get(f"{PAGE}?utm_source=news")
    assert response.status_code == 200 and ATTRIBUTION_COOKIE not in response.cookies
    assert not GrowthEvent.objects.exists()


def test_api_calls_and_other_answers_are_no_visits():
    client = consenting()
    client.get("/health")
    client.get("/no-such-page")
    assert client.post("/login", {"email": "not an address"}).status_code == 400
    assert not GrowthEvent.objects.filter(kind="visit").exists()


def test_attribution_order_utm_then_ref_then_referer_then_direct(clock):
    cases = [
        ({"path": f"{PAGE}?utm_source=twitter&ref=ignored", "HTTP_REFERER": "https://t.co/x"}, ("twitter", "", "")),
        ({"path": f"{PAGE}?ref=Friend"}, ("friend", "", "referral")),
        ({"path": PAGE, "HTTP_REFERER": "https://www.google.com/search?q=levqor"}, ("google.com", "", "referral")),
        # Our own page as the Referer: no source itself, but the landing page's parameters count.
        ({"path": PAGE, "HTTP_REFERER": "http://testserver/?utm_source=podcast&utm_medium=audio"},
         ("podcast", "", "audio")),
        ({"path": PAGE, "HTTP_REFERER": "http://testserver/pricing"}, ("direct", "", "")),
        ({"path": PAGE}, ("direct", "", "")),
    ]
    for n, (request, expected) in enumerate(cases):
        client = consenting()
        path = request.pop("path")
        client.get(path, **request)
        assert visits()[n][1:] == expected, (path, request)


# --- signup -------------------------------------------------------------------------------------

def _sign_up_by_link(client, email):
    ask_link(client, email)
    token = last_token(email)
    assert client.post("/login/confirm", {"token": token}).status_code == 302
    return User.objects.get(email=email)


def test_the_first_touch_is_carried_to_the_signup():
    client = consenting()
    client.get(f"{PAGE}?utm_source=newsletter&utm_campaign=november&utm_medium=email")
    client.get("/login", HTTP_REFERER="https://elsewhere.example/")
    user = _sign_up_by_link(client, "ada@example.com")
    signup = GrowthEvent.objects.get(kind="signup")
    assert (signup.user, signup.visitor, signup.source, signup.campaign, signup.medium) == (
        user, cookie(client)["id"], "newsletter", "november", "email")
    # Signing in again is no second signup.
    client.post("/logout")
    _sign_up_by_link(client, "ada@example.com")
    assert GrowthEvent.objects.filter(kind="signup").count() == 1
    assert len(mail.outbox) == 2


def test_a_signup_without_consent_takes_the_first_referral_or_is_direct():
    referral_track(email="Bob@Example.com", source="podcast", campaign="ep12", medium="audio")
    referral_track(email="bob@example.com", source="later", campaign="", medium="")
    client = Client()
    client.get(f"{PAGE}?utm_source=ignored-without-consent")
    bob = _sign_up_by_link(client, "bob@example.com")
    carol, _ = user_get_or_create(email="carol@example.com")
    rows = {e.user_id: (e.visitor, e.source, e.campaign, e.medium) for e in GrowthEvent.objects.filter(kind="signup")}
    assert rows == {bob.pk: ("", "podcast", "ep12", "audio"), carol.pk: ("", "direct", "", "")}


def test_an_operator_creating_a_user_lends_them_no_touch_of_their_own(client_for):
    """The operator's own browser cookies (consent and first touch) travel with their API call:
    the user created is not given the operator's attribution."""
    _, raw = api_key_for(scopes=["users:write", "admin:read"])
    consent = consenting()
    consent.get(f"{PAGE}?utm_source=ops-browser")
    client = client_for(raw)
    client.cookies["levqor_consent"] = consent.cookies["levqor_consent"].value
    client.cookies[ATTRIBUTION_COOKIE] = consent.cookies[ATTRIBUTION_COOKIE].value
    assert post_json(client, "/api/v1/users/upsert", {"email": "dee@example.com"}).status_code == 201
    dee = User.objects.get(email="dee@example.com")
    assert GrowthEvent.objects.get(kind="signup", user=dee).source == "direct"


# --- active -------------------------------------------------------------------------------------

def test_active_once_a_day_per_user_by_memo_cache_and_row(api, clock):
    assert api.get("/api/v1/usage").status_code == 200
    assert GrowthEvent.objects.filter(kind="active", user=api.user).count() == 1
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/usage")
    assert not [q for q in queries if "growth" in q["sql"]]  # the memo: nothing asked
    growth.reset()  # another process: the cache says it is done, no INSERT either
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/usage")
    assert not [q for q in queries if "growth" in q["sql"]]
    # A process whose memo and cache both forgot (a cache flush): the INSERT adds nothing.
    growth.reset()
    from tests.conftest import cache_clear_own
    cache_clear_own()
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/usage")
    assert len([q for q in queries if "intelligence_growthevent" in q["sql"]]) == 1
    assert GrowthEvent.objects.filter(kind="active").count() == 1
    clock.advance(24 * 3600)
    api.get("/api/v1/usage")
    days = list(GrowthEvent.objects.filter(kind="active").order_by("day").values_list("day", flat=True))
    assert len(days) == 2 and days[1] - days[0] == timedelta(days=1)


def test_a_signed_in_page_view_is_active_and_anonymous_or_refused_calls_are_not(client_for):
    user = UserFactory(terms_accepted=True)
    browser = Client()
    browser.force_login(user)
    assert browser.get("/account").status_code == 200
    assert client_for("lvk_live_" + "0" * 32).get("/api/v1/usage").status_code == 401
    Client().get(PAGE)
    assert list(GrowthEvent.objects.filter(kind="active").values_list("user", flat=True)) == [user.pk]


def test_the_race_between_processes_adds_one_row():
    user = UserFactory()
    now = timezone.now()
    growth.growth_active_mark(user_id=user.pk, now=now)
    for _ in range(3):
        growth.reset()
        from tests.conftest import cache_clear_own
        cache_clear_own()
        growth.growth_active_mark(user_id=user.pk, now=now)
    assert GrowthEvent.objects.filter(kind="active", user=user).count() == 1


# --- paid ---------------------------------------------------------------------------------------

def _subscription(user, *, livemode=True):
    return Subscription.objects.create(stripe_id=f"sub_{user.pk}_{livemode}", user=user, livemode=livemode,
                                       tier="pro", status="active")


def test_the_first_move_to_a_paid_tier_is_the_paid_event_under_the_acquisition_source():
    referral_track(email="eve@example.com", source="newsletter")
    eve, _ = user_get_or_create(email="eve@example.com")
    event = StripeEvent.objects.create(id="evt_1", type="customer.subscription.created", livemode=True,
                                       created=1_764_000_000, payload={})
    sub = _subscription(eve)
    subscription_changed.send(sender=Subscription, subscription=sub, old_tier="sandbox", new_tier="pro", event=event)
    paid = GrowthEvent.objects.get(kind="paid")
    assert (paid.user, paid.source, paid.day.isoformat()) == (eve, "newsletter", "2025-11-24")
    # Re-processed, upgraded, lapsed and back: still the first one only.
    subscription_changed.send(sender=Subscription, subscription=sub, old_tier="sandbox", new_tier="pro", event=event)
    subscription_changed.send(sender=Subscription, subscription=sub, old_tier="pro", new_tier="enterprise", event=None)
    subscription_changed.send(sender=Subscription, subscription=sub, old_tier="sandbox", new_tier="enterprise",
                              event=None)
    assert GrowthEvent.objects.filter(kind="paid").count() == 1


def test_moves_that_are_no_first_payment_record_nothing():
    user = UserFactory()
    GrowthEvent.objects.filter(user=user).delete()  # a user from before the funnel was recorded
    live, test = _subscription(user), _subscription(user, livemode=False)
    subscription_changed.send(sender=Subscription, subscription=test, old_tier="sandbox", new_tier="pro", event=None)
    subscription_changed.send(sender=Subscription, subscription=live, old_tier="pro", new_tier="sandbox", event=None)
    subscription_changed.send(sender=Subscription, subscription=live, old_tier="sandbox", new_tier="sandbox",
                              event=None)
    assert not GrowthEvent.objects.filter(kind="paid").exists()
    subscription_changed.send(sender=Subscription, subscription=live, old_tier="sandbox", new_tier="pro", event=None)
    assert GrowthEvent.objects.get(kind="paid").source == "(unattributed)"  # no signup event


# --- personal data ------------------------------------------------------------------------------

def test_growth_events_are_exported_and_erased_with_the_visits_of_the_visitor():
    client = consenting()
    client.get(f"{PAGE}?utm_source=newsletter")
    user = _sign_up_by_link(client, "fay@example.com")
    other = consenting()
    other.get(f"{PAGE}?utm_source=other")
    exported = personal_data_export(user=user)["growth"]
    assert sorted(e["kind"] for e in exported) == ["active", "signup", "visit"]
    assert {e["source"] for e in exported if e["kind"] != "active"} == {"newsletter"}
    personal_data_erase(user=user, actor=None, ip=None)
    assert list(GrowthEvent.objects.values_list("source", flat=True)) == ["other"]


# --- a failed mark ------------------------------------------------------------------------------

@contextlib.contextmanager
def growth_inserts_refused():
    """The database refuses every new growth event (a trigger), as a locked or failing table would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CREATE FUNCTION growth_refuse() RETURNS trigger AS $$ BEGIN "
                           "RAISE EXCEPTION 'growth events refused'; END; $$ LANGUAGE plpgsql")
            cursor.execute("CREATE TRIGGER growth_refuse BEFORE INSERT ON intelligence_growthevent "
                           "FOR EACH ROW EXECUTE FUNCTION growth_refuse()")
        else:
            cursor.execute("CREATE TRIGGER growth_refuse BEFORE INSERT ON intelligence_growthevent "
                           "BEGIN SELECT RAISE(ABORT, 'growth events refused'); END")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER growth_refuse" + (" ON intelligence_growthevent"
                                                            if connection.vendor == "postgresql" else ""))
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION growth_refuse()")


# Transactional: GrowthMiddleware runs outside any transaction (no ATOMIC_REQUESTS), as here; a
# refused INSERT inside the test's own transaction would abort it on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_a_failed_active_mark_leaves_the_answer_alone_and_a_later_request_marks_it(api, caplog):
    api.raise_request_exception = False
    with growth_inserts_refused():
        response = post_json(api, "/api/v1/jobs", {"workflow": "demo.flow", "payload": {}})
    assert response.status_code == 201, response.content  # the job was made: its answer says so
    assert Job.objects.filter(owner=api.user).count() == 1
    assert not GrowthEvent.objects.filter(kind="active").exists()
    assert "the active mark of user" in caplog.text
    assert api.get("/api/v1/usage").status_code == 200  # the same process, the same day
    assert list(GrowthEvent.objects.filter(kind="active").values_list("user", flat=True)) == [api.user.pk]


@pytest.mark.django_db(transaction=True)
def test_a_failed_visit_leaves_the_page_alone_and_the_next_view_records_it():
    client = consenting()
    with growth_inserts_refused():
        response = client.get(f"{PAGE}?utm_source=news")
    assert response.status_code == 200 and not visits()
    assert client.get(PAGE).status_code == 200
    assert [v[1] for v in visits()] == ["news"]
