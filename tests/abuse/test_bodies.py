"""Hostile bodies get a clear 4xx in the one error shape, never a 500, never a row."""

import pytest
from rest_framework.test import APIClient

from tasks_app.models import Task

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_raw(api, body: bytes | str, content_type: str, path: str = TASKS):
    return api.generic("POST", path, body, content_type=content_type)


@pytest.mark.parametrize(
    "body, detail",
    [
        (
            '{"task_type": "add", "params": ' + "[" * 5000 + "]" * 5000 + "}",
            "JSON parse error - nested deeper than 32 levels",
        ),
        (
            '{"task_type": "add", "params": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}",
            "JSON parse error - nested deeper than 32 levels",
        ),
        (
            "{" * 5000,
            "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)",
        ),
        ("\xff\xfe", None),
    ],
)
def test_malformed_or_deeply_nested_json_is_a_400(api, body, detail):
    response = post_raw(
        api, body.encode("latin-1") if body == "\xff\xfe" else body, "application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    if detail:
        assert response.json()["detail"] == detail
    assert Task.objects.count() == 0


def test_wrong_types_name_the_field(api):
    bad_priority = api.post(
        TASKS,
        {"task_type": "add", "params": {"x": 1, "y": 2}, "priority": "high"},
        format="json",
    )
    bad_params = api.post(
        TASKS, {"task_type": "add", "params": {"x": [1], "y": {"a": 1}}}, format="json"
    )

    assert (bad_priority.status_code, bad_params.status_code) == (400, 400)
    assert set(bad_priority.json()["fields"]) == {"priority"}
    assert set(bad_params.json()["fields"]) == {"params.x", "params.y"}
    assert Task.objects.count() == 0


def test_a_body_past_the_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"task_type": "add", "params": {"x": 1, "y": 2}, "name": "' + "a" * 2000 + '"}'

    response = post_raw(api, body, "application/json")

    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert Task.objects.count() == 0


def test_malformed_multipart_is_a_400(api):
    response = post_raw(
        api,
        b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nno closing boundary',
        "multipart/form-data; boundary=x",
        path="/api/v1/documents/async/upload",
    )

    assert response.status_code == 400
    assert response.json()["fields"].keys() == {"file"}


def test_an_unsupported_content_type_is_a_415(api):
    response = post_raw(api, "<task/>", "application/xml")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("header", ["Bearer \xff\xfe", "Bearer a b", "Bearer ../../x", "Bearer"])
def test_a_malformed_bearer_header_is_a_401_not_a_500(header):
    response = APIClient().get(TASKS, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["error"] in ("authentication_failed", "not_authenticated")
