"""Email and webhook notifications: task bodies, the finish hook, the API, signatures."""

import hashlib
import hmac
import json

import pytest
from django.core import mail

from tasks_app import lifecycle, notifications, runner, services
from tasks_app.models import ErrorKind, Task, TaskStatus
from tasks_app.registry import TransientError
from tests.tasks_app.api_support import API, assert_error, client_for, reset_throttles

pytestmark = pytest.mark.django_db


def system_task(task_type: str, params: dict) -> Task:
    return services.task_submit(owner=None, task_type=task_type, params=params, system=True).task


def finish(task: Task, *, ok: bool = True) -> Task:
    lifecycle.claim(task.id, worker="w1")
    if ok:
        lifecycle.finish_succeeded(task.id, attempt=1, result={"sum": 3}, progress_fields={})
    else:
        lifecycle.finish_failed(task.id, attempt=1, kind=ErrorKind.EXCEPTION, message="boom")
    return Task.objects.get(pk=task.pk)


# --- email bodies ---------------------------------------------------------------------------


def test_send_email_task_sends_one_message_through_the_backend():
    task = system_task(
        "notifications.send_email", {"to": "ann@example.test", "subject": "Hi", "body": "Text"}
    )

    assert runner.execute(task.id) == TaskStatus.SUCCEEDED

    task.refresh_from_db()
    assert task.result == {"sent": 1, "to": "ann@example.test"}
    assert [(m.to, m.subject, m.body) for m in mail.outbox] == [
        (["ann@example.test"], "Hi", "Text")
    ]


def test_send_notification_mails_each_recipient_separately():
    task = system_task(
        "notifications.send_notification",
        {"recipients": ["a@example.test", "b@example.test"], "subject": "S", "body": "B"},
    )

    assert runner.execute(task.id) == TaskStatus.SUCCEEDED

    assert [m.to for m in mail.outbox] == [["a@example.test"], ["b@example.test"]]
    assert Task.objects.get(pk=task.pk).result == {"sent": 2, "recipients": 2}


def test_send_email_params_are_validated_by_name():
    with pytest.raises(Exception) as raised:
        system_task("notifications.send_email", {"to": "not-an-address", "subject": "S"})
    assert set(raised.value.detail) == {"to", "body"}


# --- on finish ------------------------------------------------------------------------------


def test_a_finished_task_that_asked_is_followed_by_an_email_to_its_owner(user):
    task = services.task_submit(
        owner=user, task_type="add", params={"x": 1, "y": 2}, notify_email=True
    ).task
    finish(task, ok=False)

    notifications.notify_finished(task.id)

    email = Task.objects.get(task_type="notifications.send_email")
    assert (email.owner, email.parent_id) == (None, task.id)
    assert email.params["to"] == user.email
    assert email.params["subject"] == "Casework: add failed"
    assert "Status: failed" in email.params["body"]
    assert "Error: boom" in email.params["body"]
    assert runner.execute(email.id) == TaskStatus.SUCCEEDED
    assert [m.to for m in mail.outbox] == [[user.email]]
    # A second call for the same finish submits nothing new.
    assert notifications.notify_finished(task.id)[0].id == email.id
    assert Task.objects.filter(task_type="notifications.send_email").count() == 1


def test_the_terminal_transition_submits_email_and_webhook_on_commit_only(
    user, settings, django_capture_on_commit_callbacks
):
    settings.DOCUMENTS_FETCH_ALLOWLIST = ["127.0.0.1:9"]
    task = services.task_submit(
        owner=user,
        task_type="add",
        params={"x": 1, "y": 2},
        notify_email=True,
        callback_url="http://127.0.0.1:9/hook",
    ).task
    plain = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 2}).task

    with django_capture_on_commit_callbacks(execute=True):
        finish(task)
        finish(plain)
        assert not Task.objects.filter(parent=task).exists()  # not before the commit

    children = {c.task_type: c for c in Task.objects.filter(parent=task)}
    assert set(children) == {"notifications.send_email", "notifications.webhook"}
    hook = children["notifications.webhook"]
    assert hook.params["url"] == "http://127.0.0.1:9/hook"
    assert hook.params["payload"]["task_id"] == str(task.id)
    assert hook.params["payload"]["status"] == "succeeded"
    assert hook.params["payload"]["result"] == {"sum": 3}
    assert not Task.objects.filter(parent=plain).exists()


def test_notification_tasks_never_notify_about_themselves(user):
    email = system_task(
        "notifications.send_email", {"to": "a@example.test", "subject": "S", "body": ""}
    )
    Task.objects.filter(pk=email.pk).update(notify_email=True, callback_url="https://x.test/")
    email.refresh_from_db()
    assert not notifications.wants_notification(email)


# --- submit through the API -----------------------------------------------------------------


@pytest.fixture
def api(user):
    reset_throttles()
    return client_for(user)


def test_submit_with_notify_and_a_callback_url(api, settings):
    response = api.post(
        f"{API}/tasks/",
        {
            "task_type": "add",
            "params": {"x": 1, "y": 2},
            "notify": True,
            "callback_url": "https://hooks.example.com/casework",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["notify_email"], body["callback_url"]) == (
        True,
        "https://hooks.example.com/casework",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://2130706433/",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
    ],
)
def test_callback_urls_the_ssrf_guard_refuses_are_400_naming_the_field(api, url):
    response = api.post(
        f"{API}/tasks/",
        {"task_type": "add", "params": {"x": 1, "y": 2}, "callback_url": url},
        format="json",
    )

    assert_error(response, 400, "invalid")
    assert "callback_url" in response.json()["fields"]
    assert not Task.objects.exists()


# --- signatures and delivery ----------------------------------------------------------------


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = notifications.encode_payload({"task_id": "t", "status": "succeeded"})

    expected = hmac.new(b"test-webhook-secret", body, hashlib.sha256).hexdigest()
    assert body == b'{"status":"succeeded","task_id":"t"}'
    assert notifications.sign(body) == f"sha256={expected}"


def test_webhook_to_a_loopback_address_is_refused_without_the_allowlist(settings, httpserver):
    settings.DOCUMENTS_FETCH_ALLOWLIST = []
    httpserver.expect_request("/hook").respond_with_data("ok")

    with pytest.raises(notifications.WebhookRejected):
        notifications.deliver_webhook(url=f"http://127.0.0.1:{httpserver.port}/hook", payload={})
    assert httpserver.log == []


def test_webhook_delivery_outcomes(settings, httpserver):
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    url = f"http://127.0.0.1:{httpserver.port}/hook"
    for status in (503, 429):
        httpserver.expect_oneshot_request("/hook").respond_with_data("busy", status=status)
        with pytest.raises(TransientError):
            notifications.deliver_webhook(url=url, payload={"a": 1})
    httpserver.expect_oneshot_request("/hook").respond_with_data("gone", status=410)
    with pytest.raises(notifications.WebhookRejected):
        notifications.deliver_webhook(url=url, payload={"a": 1})
    httpserver.expect_oneshot_request("/hook").respond_with_data("", status=204)
    assert notifications.deliver_webhook(url=url, payload={"a": 1}, delivery_id="d1") == {
        "status_code": 204,
        "bytes": 7,
    }
    request = httpserver.log[-1][0]
    assert request.headers["X-Casework-Delivery"] == "d1"
    assert request.headers["X-Casework-Signature"] == notifications.sign(b'{"a":1}')
    assert json.loads(request.data) == {"a": 1}
