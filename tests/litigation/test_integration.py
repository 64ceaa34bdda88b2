"""A contract review end to end: the API, the broker, a real Celery worker, the report file."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tasks_app.models import Task, TaskStatus
from tests.conftest import WorkerProcess, wait_for
from tests.fixtures.litigation import load_document

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(transactional_db, clean_redis, tmp_path, media_root):
    """The shared worker fixture's process, writing files where this test reads them."""
    process = WorkerProcess(
        log_path=tmp_path / "worker.log", extra_env={"MEDIA_ROOT": str(media_root)}
    )
    yield process
    process.stop()


def test_contract_review_runs_on_a_worker_and_its_report_downloads(worker, user):
    cache.clear()
    client = APIClient()
    client.force_authenticate(user)
    contract = load_document("sales_contract_en_risky.txt")

    started = client.post(
        "/api/v1/contracts/review",
        {"text": contract["text"], "title": "Sales contract"},
        format="json",
    )

    assert started.status_code == 201, started.content
    task = Task.objects.get(pk=started.json()["task_id"])

    def finished():
        task.refresh_from_db()
        return task.is_terminal

    wait_for(finished, timeout=60, message="the review to finish")
    assert task.status == TaskStatus.SUCCEEDED, (task.error_message, worker.output())
    assert task.queue == "low_priority"
    assert [(step["name"], step["status"]) for step in task.steps] == [
        ("load document", "succeeded"),
        ("review clauses", "succeeded"),
        ("report", "succeeded"),
    ]
    assert task.result["summary"] == {"high": 3, "medium": 4, "low": 0, "total": 7}
    report = client.get(task.result["artifacts"]["md"])
    assert report.status_code == 200
    text = b"".join(report.streaming_content).decode()
    assert "Seller may terminate this Agreement at any time for any reason" in text
