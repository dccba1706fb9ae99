"""Security headers on every response: the ones Django has no setting for, and the CSP that
fits what is answered (a strict one for JSON, a nonce-based one for HTML pages)."""

import base64
import hashlib

from csp.constants import HEADER
from csp.decorators import csp_update
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings

# The style="..." attribute values that DRF's page templates write (the browsable API's
# extra-actions and filters buttons, its admin renderer's layout; Django's admin writes none).
# A nonce cannot cover an attribute, so the page policy allows these exact values by hash
# ('unsafe-hashes'), and no other inline style. tests/levqor/test_edge.py renders the pages that
# write them (test_the_style_attributes_drf_writes_are_the_ones_the_page_policy_allows_by_hash)
# and the admin's and API's pages (_check_page), and fails when a template writes a value missing
# here or the policy lacks its hash.
STYLE_ATTRIBUTES = (
    "float: right; margin-right: 10px",
    "float:left",
    "float: right",
    "clear: both",
)


def _csp_hash(value: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode() + "'"


STYLE_ATTRIBUTE_HASHES = tuple(_csp_hash(value) for value in STYLE_ATTRIBUTES)


class SecurityHeadersMiddleware:
    """Cross-Origin-Embedder-Policy and Permissions-Policy on every response (SecurityMiddleware
    writes HSTS, nosniff, Referrer-Policy and COOP; XFrameOptionsMiddleware X-Frame-Options)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Embedder-Policy", settings.CROSS_ORIGIN_EMBEDDER_POLICY)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _is_html(response) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp, with the page policy (CONTENT_SECURITY_POLICY) for HTML and the API policy
    (API_CONTENT_SECURITY_POLICY: nothing may load, nothing may frame it) for everything else.
    A JSON body opened in a browser then cannot run or load anything, even if it is sniffed."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and not _is_html(response) and parts.config is None:
            return PolicyParts(config=settings.API_CONTENT_SECURITY_POLICY)
        return parts

    def process_response(self, request, response):
        # Every JSON answer gets the same API policy: write the header built once, instead of
        # django-csp building it afresh (two dataclass copies and a join) on each response.
        if not _is_html(response) and HEADER not in response and not self._has_own_policy(request, response):
            response[HEADER] = _api_policy_header(settings.API_CONTENT_SECURITY_POLICY)
            return response
        return super().process_response(request, response)

    def _has_own_policy(self, request, response) -> bool:
        """Whether this non-HTML response needs django-csp's full path: its view set a whole
        policy (@csp, also REPORT_ONLY) or none (@csp_exempt, or the documented _csp_exempt
        attribute), or a report-only policy is configured. Asked through django-csp's public
        get_policy_parts (@csp_update/@csp_replace change pages' policy, never the API's)."""
        if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or getattr(response, "_csp_exempt", False):
            return True
        return (super().get_policy_parts(request, response).config is not None
                or super().get_policy_parts(request, response, report_only=True).config is not None)


_api_policy_built: dict[int, tuple[dict, str]] = {}


def _api_policy_header(policy: dict) -> str:
    """The API policy's header value, built once per policy object (tests may swap the setting)."""
    cached = _api_policy_built.get(id(policy))
    if cached is None or cached[0] is not policy:
        cached = _api_policy_built[id(policy)] = (policy, build_policy(config=policy))
    return cached[1]


# What Redoc (drf-spectacular-sidecar's redoc.standalone.js, served from our static files) needs
# beyond the page policy, and no more. Its own styles carry the nonce (static/levqor/api_docs.js
# gives it to Redoc); scripts, fonts, images and the schema stay 'self'.
REDOC_STYLE_HASHES = (
    # The <style> of perfect-scrollbar's CSS, written as the bundle loads, before Redoc can be
    # given the nonce: inserted empty, then filled. A new Redoc changes the second hash, and the
    # browser test (tests/browser/test_api_docs.py) fails naming the new one.
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)
_docs_csp = csp_update({
    "style-src": list(REDOC_STYLE_HASHES),
    "worker-src": ["blob:"],  # the search index runs in a Web Worker made from a blob: URL
})


def docs_page_policy(view):
    """The API reference page (Redoc): the page policy, plus a blob: worker for its search and
    the two style elements it writes before it has the nonce, by their hashes."""
    return _docs_csp(view)


def billing_form_action(view):
    """For a page whose forms answer with a redirect to Stripe (Checkout, the customer portal):
    browsers hold that redirect to the page's CSP form-action, so the page alone adds
    BILLING_FORM_ACTION_ORIGINS to it, read when the page is served (django-csp's csp_update). The
    developer page and a marketplace listing's page use it."""
    def wrapped(request, *args, **kwargs):
        return csp_update({"form-action": list(settings.BILLING_FORM_ACTION_ORIGINS)})(view)(request, *args, **kwargs)
    return wrapped
