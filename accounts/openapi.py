"""How the OpenAPI schema describes API-key authentication (drf-spectacular finds this extension
once the module is imported, see AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "ApiKeyBearer"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key",
             "description": "An API key: lvk_live_... (live mode) or lvk_test_... (test mode)."},
            {"type": "http", "scheme": "bearer", "description": "The same key as a bearer token."},
        ]
