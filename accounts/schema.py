"""How the OpenAPI schema describes our API-key authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        # X-Api-Key is the documented header; Authorization: Bearer <key> is accepted as well.
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                "description": "An API key (lvk_live_... or lvk_test_...); also accepted as Authorization: Bearer."}
