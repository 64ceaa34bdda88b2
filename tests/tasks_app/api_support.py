"""Helpers of the API tests: authenticated clients and tasks put in a given status."""

from django.core.cache import cache
from rest_framework.test import APIClient

from tasks_app import lifecycle, services
from tasks_app.models import ErrorKind, Task, TaskStatus

API = "/api/v1"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def reset_throttles() -> None:
    """Throttle windows live in the cache's Redis database; each test starts with none."""
    cache.clear()


def submit(owner, task_type="add", params=None, **kwargs) -> Task:
    return services.task_submit(
        owner=owner, task_type=task_type, params=params or {"x": 1, "y": 2}, **kwargs
    ).task


def in_status(owner, status: str, **kwargs) -> Task:
    """A task of `owner` in `status`, reached through the lifecycle as a worker would."""
    task = submit(owner, **kwargs)
    if status == TaskStatus.PENDING:
        return task
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    if status == TaskStatus.QUEUED:
        return Task.objects.get(pk=task.pk)
    lifecycle.claim(task.id, worker="w1")
    if status == TaskStatus.SUCCEEDED:
        lifecycle.finish_succeeded(task.id, attempt=1, result={"sum": 3}, progress_fields={})
    elif status == TaskStatus.FAILED:
        lifecycle.finish_failed(
            task.id, attempt=1, kind=ErrorKind.EXCEPTION, message="boom", traceback="Traceback…"
        )
    elif status == TaskStatus.REVOKED:
        lifecycle.finish_revoked(task.id, attempt=1, reason="cancelled")
    return Task.objects.get(pk=task.pk)


def task_url(task, suffix: str = "") -> str:
    return f"{API}/tasks/{task.id}/{suffix}"


def assert_error(response, status_code: int, code: str, **fields) -> dict:
    """The response is `status_code` in the one error shape, with `code` and these fields."""
    assert response.status_code == status_code, response.content
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert set(body) >= {"error", "detail", "fields"}
    for name, messages in fields.items():
        assert body["fields"][name] == messages, body
    return body
