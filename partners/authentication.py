"""DRF's side of the signed partner API. Least privilege: a partner credential authenticates only
the views that opt in (authentication_classes = [PartnerSignatureAuthentication] and permission
IsSignedPartner); every other API ignores the X-Levqor-* headers and asks for a key or a session."""

from rest_framework import authentication, permissions

from partners.models import Partner, PartnerCredential
from partners.services.credentials import credential_used
from partners.signing import SIGNATURE_HEADERS, request_signed_target, signature_refused, signed_request_verify

SIGNATURE_CHALLENGE = 'Levqor-HMAC-SHA256 realm="partner"'


class PartnerSignatureAuthentication(authentication.BaseAuthentication):
    """A request signed with a partner credential (partners.signing): request.user is the
    partner's owner, request.auth the PartnerCredential. A request without any X-Levqor-*
    signature header is left to other authenticators (None)."""

    def authenticate(self, request):
        if not any(request.headers.get(name) for name in SIGNATURE_HEADERS):
            return None
        django_request = request._request  # DRF's documented way to the HttpRequest: the raw body
        if getattr(django_request, "_partner_signature_refused", False):
            return None  # refused once already: rendering the refusal (browsable API) asks again
        path, query = request_signed_target(django_request)
        try:
            credential = signed_request_verify(headers=request.headers, method=request.method, path=path, query=query,
                                               body=django_request.body)
        except Exception:
            django_request._partner_signature_refused = True
            raise
        credential_used(credential=credential)
        return credential.partner.owner, credential

    def authenticate_header(self, request):
        return SIGNATURE_CHALLENGE


class IsSignedPartner(permissions.BasePermission):
    """Only a request signed with a partner credential passes; anything else (no signature, an API
    key, a session) is told how to sign: 401 signature_invalid. Its refusal is our AppError, which
    the browsable API's forms do not expect: views with it render JSON only (JSONRenderer)."""

    def has_permission(self, request, view):
        if isinstance(request.auth, PartnerCredential):
            return True
        raise signature_refused("missing_headers", "This endpoint needs a signed partner request "
                                f"({', '.join(SIGNATURE_HEADERS)}).", missing=list(SIGNATURE_HEADERS))


def partner_from_request(request) -> Partner | None:
    """The partner whose credential signed this request, or None (not a signed partner request)."""
    auth = getattr(request, "auth", None)
    return auth.partner if isinstance(auth, PartnerCredential) else None

