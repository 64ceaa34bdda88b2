"""Tokens, authentication on every endpoint, the error shape, throttling, schema, browsable API."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from tasks_app.models import Task
from tasks_app.throttles import SubmitRateThrottle

from .api_support import API, assert_error, client_for, reset_throttles

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
TOKEN = f"{API}/auth/token"

ANY_ID = uuid.uuid4()
ENDPOINTS = [
    ("get", f"{API}/tasks/"),
    ("post", f"{API}/tasks/"),
    ("get", f"{API}/tasks/{ANY_ID}/"),
    ("patch", f"{API}/tasks/{ANY_ID}/"),
    ("delete", f"{API}/tasks/{ANY_ID}/"),
    ("get", f"{API}/tasks/{ANY_ID}/status"),
    ("get", f"{API}/tasks/status/{ANY_ID}"),
    ("get", f"{API}/tasks/{ANY_ID}/result"),
    ("get", f"{API}/tasks/{ANY_ID}/events"),
    ("post", f"{API}/tasks/{ANY_ID}/cancel"),
    ("post", f"{API}/tasks/{ANY_ID}/retry"),
    ("post", f"{API}/tasks/bulk"),
    ("get", f"{API}/tasks/count"),
    ("get", f"{API}/tasks/stats"),
    ("post", f"{API}/tasks/example"),
    ("post", f"{API}/tasks/add"),
    ("post", f"{API}/tasks/process-document"),
    ("post", f"{API}/auth/logout"),
]


@pytest.fixture(autouse=True)
def _no_throttle_history():
    reset_throttles()


def login(user) -> dict:
    response = APIClient().post(
        TOKEN, {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_authenticates_as_bearer_until_it_expires(user):
    body = login(user)

    assert set(body) == {"token", "expiry"}
    response = bearer(body["token"]).get(f"{API}/tasks/")
    assert response.status_code == 200
    expiry = AuthToken.objects.get(user=user).expiry
    assert timedelta(days=6) < expiry - timezone.now() <= timedelta(days=7)


def test_an_expired_token_is_refused_and_removed(user):
    token = login(user)["token"]
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))

    response = bearer(token).get(f"{API}/tasks/")

    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"
    assert not AuthToken.objects.filter(user=user).exists()


def test_a_request_looks_its_token_up_with_one_query(user, django_assert_num_queries):
    token = login(user)["token"]
    client = bearer(token)

    # The token with its user, then the list's one statement (page and capped count).
    with django_assert_num_queries(2):
        response = client.get(f"{API}/tasks/")

    assert response.status_code == 200
    assert response.wsgi_request.user == user


def test_the_token_lookup_returns_the_token_and_its_whole_user(user):
    from django.contrib.auth import get_user_model
    from django.forms.models import model_to_dict
    from knox.crypto import hash_token

    from tasks_app.authentication import token_with_user

    token = login(user)["token"]
    stored = AuthToken.objects.get(user=user)

    found = token_with_user(hash_token(token))

    assert model_to_dict(found) == model_to_dict(stored)
    assert found.user == user and found.pk == stored.pk and found.expiry == stored.expiry
    reloaded = get_user_model().objects.get(pk=user.pk)
    assert model_to_dict(found.user) == model_to_dict(reloaded)
    assert found.user.last_login == reloaded.last_login is not None
    assert token_with_user(hash_token(token[:-1] + ("1" if token[-1] == "0" else "0"))) is None


def test_an_unknown_token_is_refused_and_touches_no_row(user):
    token = login(user)["token"]
    forged = ("0" if token[0] != "0" else "1") + token[1:]

    assert_error(bearer(forged).get(f"{API}/tasks/"), 401, "authentication_failed")
    assert AuthToken.objects.filter(user=user).count() == 1


def test_a_token_of_an_inactive_user_is_refused(user):
    token = login(user)["token"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert_error(bearer(token).get(f"{API}/tasks/"), 401, "authentication_failed")


def test_a_refused_expired_token_takes_its_users_other_expired_tokens_along(user, other_user):
    """Requests no longer sweep a user's tokens; an expired one presented does, for that user."""
    expired = login(user)["token"]
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    AuthToken.objects.create(user, expiry=timedelta(seconds=-5))  # another, expired
    live = login(user)["token"]
    AuthToken.objects.create(other_user, expiry=timedelta(seconds=-5))

    assert_error(bearer(expired).get(f"{API}/tasks/"), 401, "authentication_failed")

    assert AuthToken.objects.filter(user=user).count() == 1
    assert bearer(live).get(f"{API}/tasks/").status_code == 200
    assert AuthToken.objects.filter(user=other_user).count() == 1


def test_a_new_token_deletes_the_users_expired_ones(user, other_user):
    old = login(user)["token"]
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    kept = login(user)["token"]
    AuthToken.objects.create(other_user, expiry=timedelta(seconds=-5))

    newest = login(user)["token"]

    assert AuthToken.objects.filter(user=user).count() == 2
    assert AuthToken.objects.filter(user=other_user).count() == 1
    assert_error(bearer(old).get(f"{API}/tasks/"), 401, "authentication_failed")
    assert bearer(kept).get(f"{API}/tasks/").status_code == 200
    assert bearer(newest).get(f"{API}/tasks/").status_code == 200


def test_logout_revokes_the_token(user):
    token = login(user)["token"]
    client = bearer(token)

    assert client.post(f"{API}/auth/logout").status_code == 204
    assert_error(client.get(f"{API}/tasks/"), 401, "authentication_failed")


def test_wrong_credentials_are_a_400_and_make_no_token(user):
    response = APIClient().post(
        TOKEN, {"username": user.username, "password": "wrong"}, format="json"
    )

    body = assert_error(response, 400, "invalid_credentials")
    assert body["detail"] == "Unable to log in with the given username and password."
    assert not AuthToken.objects.exists()


def test_token_requests_are_throttled_with_retry_after(user):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "token": "2/min"}
    with override_settings(REST_FRAMEWORK={**_rest(), "DEFAULT_THROTTLE_RATES": rates}):
        client = APIClient()
        for _ in range(2):
            client.post(TOKEN, {"username": user.username, "password": "x"}, format="json")
        response = client.post(
            TOKEN, {"username": user.username, "password": PASSWORD}, format="json"
        )

    body = assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert body["retry_after"] == int(response["Retry-After"])


def test_racing_requests_never_exceed_the_rate(user):
    """Check and record are one atomic step in Redis: 20 requests racing for five slots get
    exactly five (reading the history and writing it back let racing requests through)."""
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "submit": "5/min"}
    request = SimpleNamespace(user=user)
    barrier = threading.Barrier(20)

    def attempt(_):
        barrier.wait()
        return SubmitRateThrottle().allow_request(request, None)

    with override_settings(REST_FRAMEWORK={**_rest(), "DEFAULT_THROTTLE_RATES": rates}):
        with ThreadPoolExecutor(20) as pool:
            allowed = list(pool.map(attempt, range(20)))

    assert allowed.count(True) == 5


def test_submissions_are_throttled_per_user(user, other_user):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "submit": "2/min"}
    payload = {"task_type": "add", "params": {"x": 1, "y": 2}}
    with override_settings(REST_FRAMEWORK={**_rest(), "DEFAULT_THROTTLE_RATES": rates}):
        client = client_for(user)
        codes = [client.post(f"{API}/tasks/", payload, format="json").status_code for _ in range(3)]
        listing = client.get(f"{API}/tasks/")
        other = client_for(other_user).post(f"{API}/tasks/", payload, format="json")
        shortcut = client.post(f"{API}/tasks/add?x=1&y=2")

    assert codes == [201, 201, 429]
    assert listing.status_code == 200  # reads are not submissions
    assert other.status_code == 201
    assert_error(shortcut, 429, "throttled")
    assert Task.objects.filter(owner=user).count() == 2


def _rest() -> dict:
    from django.conf import settings

    return settings.REST_FRAMEWORK


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_needs_authentication(method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")

    assert_error(response, 401, "not_authenticated")


def test_a_malformed_bearer_header_is_a_401(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert_error(client.get(f"{API}/tasks/"), 401, "authentication_failed")


# --- the error shape for malformed requests ---------------------------------------------------


def test_malformed_json_is_a_400_parse_error(user):
    response = client_for(user).post(
        f"{API}/tasks/", '{"task_type": "add", ', content_type="application/json"
    )

    body = assert_error(response, 400, "parse_error")
    assert body["fields"] == {}


def test_a_body_that_is_not_json_or_a_form_is_a_415(user):
    response = client_for(user).post(f"{API}/tasks/", "x,y", content_type="text/csv")

    assert_error(response, 415, "unsupported_media_type")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_huge_body_is_a_413_not_a_500(user):
    huge = {"task_type": "add", "params": {"x": 1, "y": 2}, "name": "n" * 5000}

    json_response = client_for(user).post(f"{API}/tasks/", huge, format="json")
    form_response = client_for(user).post(
        f"{API}/tasks/", "name=" + "n" * 5000, content_type="application/x-www-form-urlencoded"
    )

    assert_error(json_response, 413, "request_too_large")
    assert_error(form_response, 413, "request_too_large")
    assert Task.objects.count() == 0


def test_a_json_array_body_is_a_400(user):
    response = client_for(user).post(f"{API}/tasks/", [1, 2], format="json")

    assert_error(response, 400, "invalid")


def test_wrong_types_are_400s_naming_the_field(user):
    response = client_for(user).post(
        f"{API}/tasks/", {"task_type": "add", "params": [1, 2]}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == ["params"]


# --- schema and browsable API ---------------------------------------------------------------


def test_the_schema_validates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_and_docs_are_served(user):
    client = client_for(user)

    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert schema.status_code == 200
    assert b"/api/v1/tasks/{task_id}/status/" in schema.content
    assert (docs.status_code, redoc.status_code) == (200, 200)


@pytest.mark.parametrize(
    "path", ["/tasks/", "/tasks/count", "/tasks/{id}/", "/tasks/{id}/status", "/tasks/bulk"]
)
def test_the_browsable_api_renders(user, path):
    from .api_support import submit

    task = submit(user)
    client = APIClient()
    client.force_login(user)

    response = client.get(API + path.format(id=task.id), HTTP_ACCEPT="text/html")

    assert response.status_code in (200, 405)
    assert response["Content-Type"].startswith("text/html")
    assert b"Casework" in response.content or b"Django REST framework" in response.content


def test_the_browsable_api_login_page_is_mounted():
    assert APIClient().get("/api-auth/login/").status_code == 200
