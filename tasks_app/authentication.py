"""API authentication: expiring, revocable tokens sent as `Authorization: Bearer <token>`.

django-rest-knox stores only a digest of each token, gives each one an expiry
(`REST_KNOX["TOKEN_TTL"]`) and deletes it on logout, which DRF's built-in tokens cannot do.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

BEARER = "Bearer"


class BearerTokenAuthentication(TokenAuthentication):
    """Knox token authentication with the `Bearer` prefix the users' clients already send."""

    def authenticate_header(self, request) -> str:
        return BEARER

    def authenticate_credentials(self, token: bytes):
        # Knox decodes the token as UTF-8 and would raise (a 500) on other bytes; real
        # tokens are hex digits, anything else is simply not a token.
        if not token.isascii() or not token.isalnum():
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Document the scheme in OpenAPI as HTTP bearer authentication."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=BEARER)
