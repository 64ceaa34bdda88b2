"""WebSocket authentication: the session cookie (pages) or `Authorization: Bearer` (clients).

The Origin header, when a client sends one, must name one of ALLOWED_HOSTS: a page on another
site must not ride the user's session cookie into a socket. A client that sends no Origin (not
a browser) must authenticate with a bearer token; its session cookie alone is not enough.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework.exceptions import AuthenticationFailed

from .authentication import BearerTokenAuthentication

BEARER_PREFIX = b"bearer "


def header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


def bearer_token(scope) -> bytes | None:
    value = header(scope, b"authorization")
    if value and value[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
        return value[len(BEARER_PREFIX) :].strip()
    return None


def origin_allowed(scope) -> bool | None:
    """True/False for a present Origin header; None when the client sent none."""
    origin = header(scope, b"origin")
    if origin is None:
        return None
    host = urlparse(origin.decode("latin1")).hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS)


@database_sync_to_async
def user_for_token(token: bytes):
    """The token's user and its knox row, or (AnonymousUser, None) if invalid or expired."""
    if not token.isascii() or not token.isalnum():
        return AnonymousUser(), None
    try:
        user, auth_token = BearerTokenAuthentication().authenticate_credentials(token)
    except AuthenticationFailed:
        return AnonymousUser(), None
    return user, auth_token


@database_sync_to_async
def token_still_valid(auth_token) -> bool:
    """False once the token was revoked (deleted) or has expired."""
    from django.utils import timezone
    from knox.models import get_token_model

    row = get_token_model().objects.filter(pk=auth_token.pk).values("expiry").first()
    return bool(row) and (row["expiry"] is None or row["expiry"] > timezone.now())


class TokenOrSessionAuthMiddleware:
    """Set scope['user'] (and scope['auth_token'] for bearer clients); check Origin."""

    def __init__(self, inner):
        self.inner = inner
        self.session_auth = CookieMiddleware(SessionMiddleware(AuthMiddleware(inner)))

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        origin_ok = origin_allowed(scope)
        scope["origin_rejected"] = origin_ok is False
        token = bearer_token(scope)
        if token is not None:
            scope["user"], scope["auth_token"] = await user_for_token(token)
            return await self.inner(scope, receive, send)
        if origin_ok:
            return await self.session_auth(scope, receive, send)
        scope["user"] = AnonymousUser()
        return await self.inner(scope, receive, send)
