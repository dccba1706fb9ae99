"""Levqor settings: everything comes from environment variables (see .env.example).

With nothing set the project runs on embedded defaults: SQLite in WAL mode, the
local-memory cache and the django-q2 ORM broker. DATABASE_URL and REDIS_URL switch
it to PostgreSQL and Redis (cache + broker).
"""

import os
import secrets
from decimal import Decimal
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES

from levqor.security import STYLE_ATTRIBUTE_HASHES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEVQOR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_decimal(name: str, default: str) -> Decimal:
    return Decimal(os.environ.get(name) or default)


def env_quota(name: str, default: str) -> int | None:
    """A monthly call quota: a whole number, or "unlimited" (or empty) for none."""
    value = (os.environ.get(name) or default).strip().lower()
    return None if value in {"", "unlimited"} else int(value)


def _embedded_secret_key() -> str:
    """A per-machine random key for the embedded mode, kept in var/ so sessions survive restarts."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY_FROM_ENV = bool(os.environ.get("SECRET_KEY"))
SECRET_KEY = os.environ.get("SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The address people open this service at: links in emails (sign-in) are made from it and `make
# run` prints it. One address for both, because session and CSRF cookies belong to one host name:
# a link to localhost does not find the cookies of a page opened at 127.0.0.1.
SITE_URL_FROM_ENV = bool(os.environ.get("SITE_URL"))
SITE_URL = (os.environ.get("SITE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}").rstrip("/")
LEVQOR_VERSION = os.environ.get("LEVQOR_VERSION", "0.1.0")
LEVQOR_BUILD = os.environ.get("LEVQOR_BUILD", "dev")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc's files, served from our static files (the /api/v1/docs page)
    "levqor.apps.LevqorConfig",
    "levqor.webhooks.apps.WebhooksConfig",  # the one outbound-webhook engine (endpoints, deliveries)
    "accounts",
    "jobs",
    "compliance",
    "partners",
    "marketplace",  # Stripe billing (customers, subscriptions, Checkout, its webhook); later the marketplace
    "waffle",  # feature flags and switches (intelligence: flags, stabilize mode)
    "intelligence",
    # After jobs: an app listed earlier wins a management command's name, and jobs' `qcluster`
    # (django-q2's, plus the reaper and an orderly stop: jobs/cluster.py) must be the one run.
    "django_q",
]

# Order matters: everything that writes headers (correlation id, security headers, CSP, CORS)
# sits above everything that may answer early (rate limit, body limit, static files), so a 429,
# a 413 or a static file carries the same headers as any other response.
MIDDLEWARE = [
    # Outermost: it times the whole request, every middleware's early answer (429, 413) included.
    "levqor.request_metrics.RequestMetricsMiddleware",
    "levqor.middleware.RequestIdMiddleware",
    # Just inside the correlation id: it logs every answer, the early ones (429, 413) too.
    "levqor.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "levqor.security.SecurityHeadersMiddleware",
    "levqor.security.ContentSecurityPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Partner credentials on the policy's forbidden paths: refused before anything else looks at the
    # request (no rate-limit count, no session), inside the log and the security headers so the 403
    # is logged and carries them.
    "partners.middleware.PartnerPathPolicyMiddleware",
    "levqor.ratelimit.RateLimitMiddleware",
    "levqor.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: it needs request.user.
    "compliance.middleware.TermsMiddleware",
    # Growth funnel capture (visits with consent, active users once a day): after authentication,
    # and after the terms gate, so a request sent to accept the terms is no product use.
    "intelligence.growth_middleware.GrowthMiddleware",
]

ROOT_URLCONF = "levqor.urls"
WSGI_APPLICATION = "levqor.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections; the health check (a SELECT 1 before each request reuses one)
    # costs a round trip per request, so it is opt-in for networks that drop idle connections.
    DATABASES = {"default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "600")),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False))}
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        # A connection that stops answering (its host's link cut, a dead server) fails within
        # seconds instead of waiting out TCP's retransmissions (~100 s after a 60 s cut, ~2 min
        # for a connect): a worker's cancel poll blocked that long let its run go on past its
        # lease (`make chaos`). tcp_user_timeout only counts unacknowledged data: a slow query on
        # a live server is not cut.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            connect_timeout=int(os.environ.get("DB_CONNECT_TIMEOUT", "5")),
            tcp_user_timeout=int(os.environ.get("DB_TCP_USER_TIMEOUT_MS", "10000")))
    if env_bool("DB_SERVER_SIDE_BINDING", True):
        # Server-side parameters let psycopg prepare statements that a connection repeats (the
        # claim, the finish, intake), so PostgreSQL stops planning them on every job.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "levqor.sqlite3")),
            # Keep the connection: opening one runs the PRAGMAs and closing one checkpoints the
            # WAL, which cost more than the request itself (and the ORM broker closes
            # non-persistent connections on every enqueue).
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets readers run beside the single writer; IMMEDIATE takes the write
                # lock at BEGIN so two writers queue instead of failing with "database is locked".
                # A commit writes each page it changed into the WAL, whole: 1 KiB pages (set when
                # the file is created) and a checkpoint every 20,000 pages instead of 1,000 halve
                # what an intake's commit costs (measured: ~390 -> ~150 us on this machine).
                "init_command": "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                "PRAGMA busy_timeout=20000; PRAGMA wal_autocheckpoint=20000;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMBEDDED_MODE = not DATABASE_URL

# --- Cache (and Redis) ------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "levqor"),
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "levqor"}}

# --- django-q2 ---------------------------------------------------------------------------
# Our Job table is the record of every run, so django-q2 keeps no successful tasks
# (save_limit=-1) and never retries on its own (max_attempts=1): our reaper does, with
# the lease rules of ARCHITECTURE.md section 4. retry stays far above timeout so a slow
# task is never delivered twice.
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "levqor"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "150")),
    "retry": int(os.environ.get("Q_RETRY", "3600")),
    "max_attempts": 1,
    "save_limit": -1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Django Q2",
    "guard_cycle": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # The embedded queue: a table in our SQLite database, read by a broker whose pusher sleeps on a
    # wake-up poked by each enqueue after its commit (jobs/orm_broker.py), not polling every `poll`.
    Q_CLUSTER.update({"orm": "default", "bulk": 10, "poll": 0.05, "broker_class": "jobs.orm_broker.OrmBroker"})

# --- Auth --------------------------------------------------------------------------------
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/dashboard"
# Magic-link sign-in (accounts.login.login_link_request): how long a link works, and how many
# links one address, or one client IP, may ask for per window.
LOGIN_LINK_MAX_AGE_SECONDS = int(os.environ.get("LOGIN_LINK_MAX_AGE_SECONDS", "900"))
LOGIN_LINK_RATE_LIMIT = int(os.environ.get("LOGIN_LINK_RATE_LIMIT", "5"))
LOGIN_LINK_RATE_WINDOW_SECONDS = int(os.environ.get("LOGIN_LINK_RATE_WINDOW_SECONDS", "900"))

# --- Email ---------------------------------------------------------------------------------
# Resend (accounts.email.ResendEmailBackend, its official SDK) when RESEND_API_KEY is set;
# otherwise each message is written as a file in EMAIL_FILE_PATH (the local outbox).
RESEND_API_KEY = os.environ.get("RESEND_API_KEY", "")
RESEND_API_URL = os.environ.get("RESEND_API_URL", "https://api.resend.com")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "accounts.email.ResendEmailBackend" if RESEND_API_KEY else "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Levqor <no-reply@levqor.local>")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every API view declares the scope a key needs (accounts.permissions); none declared = no key may use it.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "accounts.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "levqor.http_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Levqor API",
    "DESCRIPTION": "Run AI-automation jobs: intake, status, cancel and retry.",
    "VERSION": LEVQOR_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "levqor.openapi.error_responses"],
}

# API calls a key's owner may make per calendar month (UTC), by tier; None = unlimited.
API_MONTHLY_QUOTAS = {
    "sandbox": env_quota("API_QUOTA_SANDBOX", "1000"),
    "pro": env_quota("API_QUOTA_PRO", "10000"),
    "enterprise": env_quota("API_QUOTA_ENTERPRISE", "unlimited"),
}

# --- Billing (marketplace: Stripe) ---------------------------------------------------------
# Off until STRIPE_SECRET_KEY is set: billing calls then answer 503 billing_not_configured, and
# /billing/health says so. Requests made with a test-mode API key (lvk_test_) use only
# STRIPE_TEST_SECRET_KEY, never the live key (ARCHITECTURE.md: test keys cause no real payment).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_TEST_SECRET_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
# Stripe-Signature secrets of the webhook endpoint(s): comma-separated (live and test endpoints,
# or old and new while rotating); a payload signed by any of them is accepted.
STRIPE_WEBHOOK_SECRETS = env_list("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS", "10"))
# The paid tiers' list prices (minor units) and currency, as stripe_sync_products creates them.
BILLING_CURRENCY = os.environ.get("BILLING_CURRENCY", "usd").lower()
TIER_PRICES_MINOR = {"pro": int(os.environ.get("TIER_PRICE_PRO_MINOR", "1900")),
                     "enterprise": int(os.environ.get("TIER_PRICE_ENTERPRISE_MINOR", "19900"))}
# After invoice.payment_failed the paid tier is kept this many days, then the user goes to sandbox.
BILLING_GRACE_DAYS = int(os.environ.get("BILLING_GRACE_DAYS", "7"))
# Stripe webhook: a signature older than this many seconds is refused (Stripe's own default: 300).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300"))
# A stored Stripe event is processed at most this many times; then it is `failed` (admin: process again).
BILLING_EVENT_MAX_ATTEMPTS = int(os.environ.get("BILLING_EVENT_MAX_ATTEMPTS", "5"))
# An event still `received` this long after arriving (its task lost, or an attempt failed) is
# handed to the workers again by the sweep (marketplace.tasks.stripe_events_sweep).
BILLING_EVENT_RETRY_SECONDS = int(os.environ.get("BILLING_EVENT_RETRY_SECONDS", "120"))

# --- Marketplace -----------------------------------------------------------------------------
# A completed order's partner share is transferred (Stripe Connect) this many days after the sale,
# so a refund in that window needs no transfer reversal.
PAYOUT_HOLD_DAYS = int(os.environ.get("PAYOUT_HOLD_DAYS", "7"))
# A payout Stripe refused is tried again by the next daily run, at most this many times in all.
PAYOUT_MAX_ATTEMPTS = int(os.environ.get("PAYOUT_MAX_ATTEMPTS", "5"))
# Connect onboarding: the country of a new Express account, and where Stripe's Account Link
# sends the partner back to (the /partners page, on SITE_URL).
CONNECT_ACCOUNT_COUNTRY = os.environ.get("CONNECT_ACCOUNT_COUNTRY", "US")
# Where the /partners page's "Set up payouts" form may send the browser (Stripe's Connect
# onboarding, the Account Link's origin): added to that page's CSP form-action only.
CONNECT_FORM_ACTION_ORIGINS = env_list("CONNECT_FORM_ACTION_ORIGINS") or ["https://connect.stripe.com"]
# What one run of an installed partner module reserves against the buyer's daily budget (USD).
MARKETPLACE_MODULE_RUN_COST = Decimal(os.environ.get("MARKETPLACE_MODULE_RUN_COST", "0.001"))
# The largest answer a partner module's endpoint may give a run (its JSON result, stored on the
# job); a longer one fails the run as module_bad_response.
MARKETPLACE_MODULE_MAX_RESPONSE_BYTES = int(os.environ.get("MARKETPLACE_MODULE_MAX_RESPONSE_BYTES", str(64 * 1024)))
# How long a Checkout Session for a listing stays open (Stripe's minimum is 30 minutes).
MARKETPLACE_CHECKOUT_EXPIRES_MINUTES = int(os.environ.get("MARKETPLACE_CHECKOUT_EXPIRES_MINUTES", "60"))

# --- Money intelligence --------------------------------------------------------------------
# Profit-driven autoscale: the platform's daily AI spend limit (USD, the jobs' cost unit) and
# the worker range it scales within.
AUTOSCALE_DAILY_SPEND_LIMIT = env_decimal("AUTOSCALE_DAILY_SPEND_LIMIT", "50.00")
AUTOSCALE_MIN_WORKERS = int(os.environ.get("AUTOSCALE_MIN_WORKERS", "1"))
AUTOSCALE_MAX_WORKERS = int(os.environ.get("AUTOSCALE_MAX_WORKERS", "4"))
# Profit ledger: how many days back the daily Stripe reconcile (01:00 UTC) looks for processed
# invoice.paid / charge.refunded events whose money is not in the ledger yet, and how many
# finished days the AI cost schedule (00:15 UTC) fills in when a run was missed.
LEDGER_RECONCILE_DAYS = int(os.environ.get("LEDGER_RECONCILE_DAYS", "7"))
LEDGER_AI_COST_CATCHUP_DAYS = int(os.environ.get("LEDGER_AI_COST_CATCHUP_DAYS", "7"))
# Autoscale decisions (one a minute) older than this many days are purged daily.
AUTOSCALE_RETENTION_DAYS = int(os.environ.get("AUTOSCALE_RETENTION_DAYS", "14"))
# Growth funnel: how long a consenting visitor's first touch (utm_/ref/Referer) is remembered in
# its first-party cookie, and how many signup weeks the cohort retention triangle shows.
GROWTH_FIRST_TOUCH_MAX_AGE = int(os.environ.get("GROWTH_FIRST_TOUCH_MAX_AGE", str(90 * 86400)))
GROWTH_COHORT_WEEKS = int(os.environ.get("GROWTH_COHORT_WEEKS", "12"))

# Request bodies above this are refused with 413 before they are read.
MAX_REQUEST_BODY_BYTES = 512 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
JOB_PAYLOAD_MAX_BYTES = 200 * 1024

# --- Jobs --------------------------------------------------------------------------------
JOB_COST_LIMIT = env_decimal("JOB_COST_LIMIT", "0.35")
DAILY_BUDGET = env_decimal("DAILY_BUDGET", "10.00")
JOB_LEASE_GRACE_SECONDS = int(os.environ.get("JOB_LEASE_GRACE_SECONDS", "30"))
JOB_RETRY_BASE_SECONDS = float(os.environ.get("JOB_RETRY_BASE_SECONDS", "2"))
JOB_RETRY_MAX_SECONDS = float(os.environ.get("JOB_RETRY_MAX_SECONDS", "600"))
# Outbound webhooks (levqor.webhooks): the timeout of one attempt and the consecutive failures
# after which an endpoint is disabled, unless the partner governance policy says otherwise.
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))
WEBHOOK_DISABLE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_DISABLE_AFTER_FAILURES", "10"))
# Fernet keys (comma-separated; the first encrypts, all decrypt) for secrets stored to be read
# back: webhook signing secrets, partner API secrets. Required outside embedded mode (levqor.E004).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
# Workers commit job transitions without waiting for the flush (see jobs/apps.py for why it is safe).
WORKER_ASYNC_COMMIT = env_bool("WORKER_ASYNC_COMMIT", True)
# One run token runs due jobs one after another for up to this long (see jobs.execution.job_run_due).
WORKER_BATCH_SECONDS = float(os.environ.get("WORKER_BATCH_SECONDS", "5"))
# A run token claims up to this many due jobs in one statement, each under its own lease, and writes
# the finishes of quick jobs in groups, at the latest WORKER_FINISH_FLUSH_SECONDS after the oldest
# (jobs.execution._job_run_due_batched). 1: one job per claim, each finish written before the next.
WORKER_CLAIM_BATCH = int(os.environ.get("WORKER_CLAIM_BATCH", "8"))
WORKER_FINISH_FLUSH_SECONDS = float(os.environ.get("WORKER_FINISH_FLUSH_SECONDS", "0.05"))
# The embedded (ORM) queue's pusher waits this long at most for an enqueue's wake-up before it looks
# at the table anyway (jobs/orm_broker.py): what a lost wake-up costs, and the idle cluster's only poll.
WORKER_ORM_WAKE_MAX_WAIT_SECONDS = float(os.environ.get("WORKER_ORM_WAKE_MAX_WAIT_SECONDS", "1"))
# The lease reaper (jobs.execution.job_reap) runs in each qcluster's main process this often (jobs/cluster.py):
# a job whose worker died runs again within its lease plus this, whatever the queue holds.
JOB_REAPER_INTERVAL_SECONDS = float(os.environ.get("JOB_REAPER_INTERVAL_SECONDS", "5"))
# Sweeps that hand over again what a lost task left behind, also run by that loop at these intervals
# (seconds), beside their schedules: their own queued message can be lost with the broker.
CLUSTER_LOOP_SWEEPS = [
    ("jobs.dispatch.heartbeat_enqueue", 30),  # a worker's heartbeat, through the broker (readiness, uptime)
    ("levqor.webhooks.tasks.webhook_deliveries_sweep", 120),
    ("intelligence.tasks.alert_deliveries_sweep", 120),
    ("marketplace.tasks.stripe_events_sweep", 300),
    ("jobs.schedule_ticks.schedule_ticks_resend", 60),
]
# A django-q2 Schedule's tick whose task has not started this long after the cluster loop first saw
# it, with the broker's queue empty, is taken as lost with the broker and sent again once
# (jobs/schedule_ticks.py).
SCHEDULE_TICK_LOST_AFTER_SECONDS = int(os.environ.get("SCHEDULE_TICK_LOST_AFTER_SECONDS", "600"))
WORKER_HEARTBEAT_MAX_AGE_SECONDS = int(os.environ.get("WORKER_HEARTBEAT_MAX_AGE_SECONDS", "150"))
# http.request and callbacks refuse private, loopback and link-local targets unless allowed.
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", DEBUG)
# Webhook endpoints (and partner URLs) must be https in production; local development and the
# tests' fake receivers listen on plain http.
WEBHOOK_HTTPS_ONLY = env_bool("WEBHOOK_HTTPS_ONLY", not DEBUG and not EMBEDDED_MODE)
HTTP_REQUEST_MAX_RESPONSE_BYTES = int(os.environ.get("HTTP_REQUEST_MAX_RESPONSE_BYTES", str(64 * 1024)))

# llm.chat: an OpenAI-compatible chat-completions endpoint. Unset base URL = not configured.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "")
LLM_DEFAULT_MODEL = os.environ.get("LLM_DEFAULT_MODEL", "gpt-4o-mini")
LLM_PRICE_INPUT_PER_1K = env_decimal("LLM_PRICE_INPUT_PER_1K", "0.00015")
LLM_PRICE_OUTPUT_PER_1K = env_decimal("LLM_PRICE_OUTPUT_PER_1K", "0.0006")
LLM_TIMEOUT_SECONDS = float(os.environ.get("LLM_TIMEOUT_SECONDS", "60"))

# --- Compliance ---------------------------------------------------------------------------
# The cookie policy in force: a visitor whose consent cookie names another version is asked again.
COOKIE_POLICY_VERSION = os.environ.get("COOKIE_POLICY_VERSION", "2025-11-14")
# How long the consent cookie lasts (seconds); 6 months by default.
COOKIE_CONSENT_MAX_AGE = int(os.environ.get("COOKIE_CONSENT_MAX_AGE", str(182 * 86400)))

# The first run in embedded mode creates a demo user and prints a demo key.
DEMO_USER_EMAIL = os.environ.get("DEMO_USER_EMAIL", "demo@levqor.local")

# --- Sentry: error reports, only when SENTRY_DSN is set (levqor/sentry.py, started in LevqorConfig.ready) ---
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT") or ("development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE") or "0")

# --- Internationalisation / static ---------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
# whitenoise serves the admin's static files from gunicorn: no separate web server needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security ------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and not EMBEDDED_MODE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "levqor.http_errors.csrf_failure"
# Headers Django has no setting for (levqor.security.SecurityHeadersMiddleware).
CROSS_ORIGIN_EMBEDDER_POLICY = "require-corp"
PERMISSIONS_POLICY = ("geolocation=(), microphone=(), camera=(), payment=(), usb=(), interest-cohort=(), "
                      "accelerometer=(), gyroscope=(), magnetometer=(), fullscreen=(self)")

# Where billing's forms may send the browser after a POST (Stripe Checkout and the billing portal):
# added to form-action on the developer page only (accounts.views.developer_page).
BILLING_FORM_ACTION_ORIGINS = env_list("BILLING_FORM_ACTION_ORIGINS") or [
    "https://checkout.stripe.com", "https://billing.stripe.com"]

# Content-Security-Policy (django-csp 4.x format). This is the policy of HTML pages: scripts and
# styles only from us or carrying the request's nonce. JSON and every other non-HTML answer get
# API_CONTENT_SECURITY_POLICY instead (levqor.security.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # The admin and DRF's browsable API write a few style="..." attributes; allow exactly
        # those values (levqor.security.STYLE_ATTRIBUTE_HASHES), not inline styles in general.
        "style-src-attr": [UNSAFE_HASHES, *STYLE_ATTRIBUTE_HASHES],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        # Only the developer page adds Stripe's origins (BILLING_FORM_ACTION_ORIGINS): its billing
        # forms answer with a redirect there, which browsers hold to form-action too.
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    },
}
API_CONTENT_SECURITY_POLICY = {"default-src": [NONE], "frame-ancestors": [NONE]}

# CORS (django-cors-headers): only these origins (https://app.example.com) may call the API
# from a browser; a preflight from any other origin gets no CORS headers, so browsers refuse.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/(api|public|billing|webhooks)/"
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "idempotency-key", "x-api-key", "x-request-id",
                      "x-correlation-id")
CORS_EXPOSE_HEADERS = ("x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
                       "x-ratelimit-reset", "idempotent-replayed")
CORS_PREFLIGHT_MAX_AGE = 600

# --- Client IP and rate limits ---------------------------------------------------------------
# TRUSTED_PROXIES: CIDRs of our own proxies. Only a request from one of them has its
# X-Forwarded-For read (levqor.client_ip); anyone else's is ignored.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Rate limits (levqor.ratelimit, our own counters): they live in the default cache, so with
# REDIS_URL they are shared by every web process and machine. RATELIMIT_ENABLE switches the
# middleware's limits off (load tests); sign-in links stay limited.
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLED", True)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_CACHE_PREFIX = "rl:"
# Requests per minute (levqor.ratelimit.RateLimitMiddleware).
RATELIMIT_WRITES_PER_IP = int(os.environ.get("RATELIMIT_WRITES_PER_IP", "20"))
RATELIMIT_GLOBAL = int(os.environ.get("RATELIMIT_GLOBAL", "200"))
RATELIMIT_SENSITIVE_PER_IP = int(os.environ.get("RATELIMIT_SENSITIVE_PER_IP", "60"))
RATELIMIT_SENSITIVE_PREFIXES = ("/billing/", "/api/partners/", "/api/admin/", "/api/user/", "/webhooks/",
                                "/api/legal/", "/api/marketing/")
# Paths no per-IP or global limit counts: the Stripe webhook is authenticated by its signature and
# stores each event once, and Stripe sends bursts (month-start renewals) from a few addresses;
# limiting it would only delay what Stripe retries anyway.
RATELIMIT_EXEMPT_PATHS = ("/webhooks/stripe",)
RATELIMIT_PER_KEY_BY_TIER = {
    "sandbox": int(os.environ.get("RATELIMIT_KEY_SANDBOX", "60")),
    "pro": int(os.environ.get("RATELIMIT_KEY_PRO", "600")),
    "enterprise": int(os.environ.get("RATELIMIT_KEY_ENTERPRISE", "6000")),
}
# How the middleware learns a request's key bucket and tier without authenticating (levqor knows
# no app, so it is named here): a function(request) -> (bucket, tier) or None.
RATELIMIT_KEY_TIER_FUNCTION = "accounts.authentication.api_key_rate_bucket"
# What else the rate limiter's round trip carries for the rest of the request (reads, the quota's hit).
RATELIMIT_TRIP_FUNCTION = "accounts.authentication.api_key_trip_extras"

# --- Operations (intelligence): flags, stabilize mode, alerts ------------------------------------
# django-waffle keeps flags and switches in the default cache (Redis with REDIS_URL: every process
# sees a change at once, as saving one clears its cache entry); unknown names read as off.
WAFFLE_CACHE_PREFIX = "waffle:"
WAFFLE_CREATE_MISSING_FLAGS = False
WAFFLE_CREATE_MISSING_SWITCHES = False
# Without Redis each process has its own local-memory cache, which a change made in another
# process (the admin in the web process, a worker's task) never clears: flags, switches and the
# stabilize state are then kept in a cache of their own whose entries last 5 s, so every process
# (web and worker) sees a change within 5 s. With Redis the shared default cache is cleared on change.
if not REDIS_URL:
    CACHES["flags"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "levqor-flags",
                       "TIMEOUT": 5}
WAFFLE_CACHE_NAME = "default" if REDIS_URL else "flags"
# Stabilize mode also makes workers leave `low` priority jobs waiting (they run after it is off).
STABILIZE_PAUSE_LOW_PRIORITY = env_bool("STABILIZE_PAUSE_LOW_PRIORITY", False)
# Intake answers 503 queue_full with this Retry-After (seconds) while due, queued jobs exceed the
# runtime setting queue_max.
QUEUE_FULL_RETRY_AFTER_SECONDS = int(os.environ.get("QUEUE_FULL_RETRY_AFTER_SECONDS", "5"))
# The same alert (dedup key) within this many seconds counts on the first; nothing new is sent.
ALERT_DEDUP_SECONDS = int(os.environ.get("ALERT_DEDUP_SECONDS", "900"))
# Where new alerts go (intelligence.services.alert_channels); AlertRoute rows say which alerts go
# to which channel. A channel whose settings are empty is not configured: nothing is sent to it.
OPS_EMAILS = env_list("OPS_EMAILS")
ALERT_SLACK_WEBHOOK_URL = os.environ.get("ALERT_SLACK_WEBHOOK_URL", "")
ALERT_TELEGRAM_BOT_TOKEN = os.environ.get("ALERT_TELEGRAM_BOT_TOKEN", "")
ALERT_TELEGRAM_CHAT_ID = os.environ.get("ALERT_TELEGRAM_CHAT_ID", "")

# --- Reports, ops emails, Notion ----------------------------------------------------------------
# Reports and ops emails go to OPS_EMAILS (above) through Django's email framework (Resend when
# RESEND_API_KEY is set). Their times are in REPORTS_TIME_ZONE (the old service's Europe/London).
REPORTS_TIME_ZONE = os.environ.get("REPORTS_TIME_ZONE", "Europe/London")
# Notion: off until NOTION_TOKEN is set; each database id names the Notion database a sync writes.
NOTION_TOKEN = os.environ.get("NOTION_TOKEN", "")
NOTION_BASE_URL = os.environ.get("NOTION_BASE_URL", "https://api.notion.com").rstrip("/")
NOTION_DATABASES = {name: os.environ.get(f"NOTION_DB_{name.upper()}", "") for name in
                    ("health", "costs", "pulse", "partners", "catalog", "audit")}
# Notion's documented average limit is 3 requests a second per integration.
NOTION_REQUESTS_PER_SECOND = float(os.environ.get("NOTION_REQUESTS_PER_SECOND", "3"))
NOTION_TIMEOUT_SECONDS = float(os.environ.get("NOTION_TIMEOUT_SECONDS", "20"))
# A row whose request fails (5xx, timeout) is tried this many times, waiting base, 2x base... between.
NOTION_MAX_ATTEMPTS = int(os.environ.get("NOTION_MAX_ATTEMPTS", "4"))
NOTION_RETRY_BASE_SECONDS = float(os.environ.get("NOTION_RETRY_BASE_SECONDS", "2"))
ALERT_TELEGRAM_API_URL = os.environ.get("ALERT_TELEGRAM_API_URL", "https://api.telegram.org")
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_SECRET = os.environ.get("ALERT_WEBHOOK_SECRET", "")
ALERT_HTTP_TIMEOUT_SECONDS = float(os.environ.get("ALERT_HTTP_TIMEOUT_SECONDS", "5"))
# A failed send is retried on the workers with exponential backoff (base, doubling, capped) up to
# this many attempts in all, then the delivery is failed.
ALERT_DELIVERY_MAX_ATTEMPTS = int(os.environ.get("ALERT_DELIVERY_MAX_ATTEMPTS", "8"))
ALERT_RETRY_BASE_SECONDS = float(os.environ.get("ALERT_RETRY_BASE_SECONDS", "10"))
ALERT_RETRY_MAX_SECONDS = float(os.environ.get("ALERT_RETRY_MAX_SECONDS", "3600"))

# Live metrics (levqor.metrics): every request and job measured in the process, sent to the shared
# store (Redis; the database in embedded mode) once its minute is over, rolled up each minute into
# MetricMinute rows by the "intelligence.rollup" schedule. Off: no middleware, nothing recorded.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# How often each process's flusher thread looks for finished minutes nobody has sent yet (on Redis a
# rate-limited request usually carries them first, in its counters' round trip).
METRICS_FLUSH_SECONDS = 5.0
# Whether each process runs that thread (and flushes at exit); the tests flush by hand instead.
METRICS_BACKGROUND_FLUSH = True
# MetricMinute rows older than this are purged daily ("intelligence.metrics_purge").
METRICS_RETENTION_DAYS = int(os.environ.get("METRICS_RETENTION_DAYS", "30"))

# --- Logging -------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "levqor.logging.JsonFormatter"}},
    # Every handler redacts secrets (keys, tokens, passwords, auth headers, query secrets).
    "filters": {"redact": {"()": "levqor.redaction.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django-q": {"level": os.environ.get("Q_LOG_LEVEL", "WARNING")},
        # weasyprint logs each rendering step at INFO; reports keep to warnings (a missing font...).
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # One line per request at INFO; LOG_REQUESTS=false leaves them out (e.g. when the proxy logs).
        "levqor.request": {"level": "INFO" if env_bool("LOG_REQUESTS", True) else "WARNING"},
    },
}
