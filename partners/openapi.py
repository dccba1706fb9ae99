"""How the OpenAPI schema describes a signed partner request (drf-spectacular finds this extension
once the module is imported, see PartnersConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PartnerSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "partners.authentication.PartnerSignatureAuthentication"
    name = "PartnerSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Levqor-Key-Id",
                "description": "A partner credential's key id (lpk_...), with X-Levqor-Timestamp, X-Levqor-Nonce and "
                               "X-Levqor-Signature: v1=<hex HMAC-SHA256 of the signed string> (README, Signed partner API)."}
