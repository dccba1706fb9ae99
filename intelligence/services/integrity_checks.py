"""The integrity check's checks of the parts under the stack (database, cache, broker, schedules)
and of configuration (email, Stripe, Sentry): each returns a one-line detail or raises
IntegrityFailed saying what is wrong. Nothing here calls an outside service."""

import platform
import uuid

import django
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction


class IntegrityFailed(Exception):
    """A step's finding: the message is the step's detail."""


def check_database() -> str:
    """A write and a read back inside a transaction that is then rolled back (nothing stays)."""
    from intelligence.models import IntegrityRun

    marker = f"probe-{uuid.uuid4().hex[:12]}"

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            IntegrityRun.objects.create(source=marker[:32])
            found = IntegrityRun.objects.filter(source=marker[:32]).count()
            raise _Rollback(found)
    except _Rollback as done:
        found = done.args[0]
    if found != 1:
        raise IntegrityFailed(f"wrote one row and read back {found}")
    return f"{connection.vendor}: write and read back in a transaction (rolled back)"


def check_cache() -> str:
    key, value = f"integrity:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=60)
    got = cache.get(key)
    cache.delete(key)
    if got != value:
        raise IntegrityFailed("a value set was not read back")
    if cache.get(key) is not None:
        raise IntegrityFailed("a deleted key is still there")
    return f"{_cache_kind()}: set, get and delete of a unique key"


def check_broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        raise IntegrityFailed(f"{type(broker).__name__} does not answer")
    return f"{type(broker).__name__} answers; {broker.queue_size()} task(s) queued"


def check_schedules() -> str:
    """Every declared schedule present exactly once, calling what was declared."""
    from django_q.models import Schedule

    from levqor.schedules import schedules_declared

    declared = schedules_declared()
    rows: dict[str, list] = {}
    for name, func in Schedule.objects.filter(name__in=declared).values_list("name", "func"):
        rows.setdefault(name, []).append(func)
    missing = sorted(name for name in declared if name not in rows)
    doubled = sorted(name for name, funcs in rows.items() if len(funcs) > 1)
    wrong = sorted(name for name, funcs in rows.items() if any(f != declared[name].func for f in funcs))
    problems = [f"{label}: {', '.join(names)}" for label, names in
                (("missing", missing), ("more than once", doubled), ("wrong task", wrong)) if names]
    if problems:
        raise IntegrityFailed("; ".join(problems) + " (manage.py migrate writes them)")
    return f"{len(declared)} declared schedules present once each"


def check_email() -> str:
    """The backend that would send (nothing is sent), and who the ops emails go to. An empty
    OPS_EMAILS is said, not failed: who receives is an operator's choice."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 1)[-1]
    if backend == "ResendEmailBackend" and not settings.RESEND_API_KEY:
        raise IntegrityFailed("the Resend backend is selected but RESEND_API_KEY is not set")
    recipients = len(settings.OPS_EMAILS)
    to = f"OPS_EMAILS has {recipients} address(es)" if recipients else "OPS_EMAILS is empty: ops emails go nowhere"
    return f"backend {backend}; {to}"


def check_stripe() -> str:
    """Stripe configured or deliberately off; a key without a webhook secret is a failure (payments
    would be taken and their events refused). No call to Stripe."""
    from marketplace.stripe_api import stripe_configured

    live, test = stripe_configured(livemode=True), stripe_configured(livemode=False)
    if not (live or test):
        return "not configured (STRIPE_SECRET_KEY unset): payments are off"
    if not settings.STRIPE_WEBHOOK_SECRETS:
        raise IntegrityFailed("a Stripe key is set but STRIPE_WEBHOOK_SECRET is not")
    modes = " and ".join(mode for mode, on in (("live", live), ("test", test)) if on)
    return f"configured ({modes}), webhook secret set"


def check_sentry() -> str:
    """Informational: Sentry is optional, so an unset SENTRY_DSN is reported, not failed."""
    from levqor.sentry import sentry_status

    if not settings.SENTRY_DSN:
        return "not configured (SENTRY_DSN is not set); errors go to the logs only"
    return sentry_status()


def _cache_kind() -> str:
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def environment() -> dict[str, str]:
    """What the evidence records about where the check ran."""
    import django_q

    vendor = connection.vendor
    try:
        with connection.cursor() as cursor:
            cursor.execute("select sqlite_version()" if vendor == "sqlite" else "show server_version")
            db_version = cursor.fetchone()[0]
    except Exception:  # the database step says what is wrong with it
        db_version = "unknown"
    q_version = ".".join(map(str, django_q.VERSION))
    broker = "redis" if settings.Q_CLUSTER.get("redis") else f"orm ({settings.Q_CLUSTER.get('orm', 'default')})"
    return {
        "Database": f"{vendor} {db_version}",
        "Cache": _cache_kind(),
        "Broker": f"django-q2 {broker}, {settings.Q_CLUSTER.get('workers', 'default')} worker(s)",
        "Versions": f"Levqor {settings.LEVQOR_VERSION}, Python {platform.python_version()}, "
                    f"Django {django.get_version()}, django-q2 {q_version}",
        "Host": platform.node(),
    }
