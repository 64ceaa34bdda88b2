"""Tokens for the API: log in with a username and password, log out to revoke the token."""

from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import get_token_model
from knox.settings import knox_settings
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api_errors import invalid
from ..authentication import BearerTokenAuthentication, delete_expired_tokens
from ..parsers import BoundedFormParser, BoundedJSONParser
from ..serializers import TokenRequestSerializer, TokenSerializer
from ..throttles import TokenRateThrottle
from .common import errors

TAGS = ["auth"]


class TokenApi(APIView):
    """Exchange a username and password for an expiring token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [BoundedJSONParser, BoundedFormParser]
    serializer_class = TokenRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="auth_token",
        summary="Get a token",
        description="Send it as `Authorization: Bearer <token>` until `expiry`. Throttled per "
        "client address.",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **errors(400, 413, 415, 429)},
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            message = "Unable to log in with the given username and password."
            raise invalid({"non_field_errors": [message]}, code="invalid_credentials")
        # Requests no longer sweep a user's expired tokens (tasks_app.authentication); a new
        # one does, so they never pile up.
        delete_expired_tokens(user=user)
        instance, token = get_token_model().objects.create(
            user=user, expiry=knox_settings.TOKEN_TTL
        )
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data)


class LogoutApi(APIView):
    """Revoke the token the request was made with."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        operation_id="auth_logout",
        summary="Revoke this token",
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), **errors(401)},
    )
    def post(self, request):
        request.auth.delete()
        user_logged_out.send(
            sender=request.user.__class__, request=request._request, user=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
