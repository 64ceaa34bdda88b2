"""End to end on a real Celery worker, broker and database: upload → process → SUCCESS."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document, DocumentStatus
from tasks_app.models import Task, TaskStatus
from tests.conftest import WorkerProcess, wait_for
from tests.documents import samples
from tests.tasks_app.api_support import client_for, reset_throttles

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def documents_worker(transactional_db, clean_redis, tmp_path, settings):
    """A worker sharing this test's storage, so it reads the files the API stored."""
    process = WorkerProcess(
        log_path=tmp_path / "worker.log",
        extra_env={
            "MEDIA_ROOT": settings.MEDIA_ROOT,
            "DOCUMENTS_IMPORT_ROOTS": ",".join(settings.DOCUMENTS_IMPORT_ROOTS),
        },
    )
    yield process
    process.stop()


def test_an_uploaded_document_is_processed_by_a_worker(user, documents_worker):
    reset_throttles()
    client = client_for(user)
    response = client.post(
        "/api/v1/documents/async/upload",
        {
            "file": SimpleUploadedFile("合同.txt", samples.gbk_text()),
            "split": "true",
            "chunk_size": "40",
            "chunk_overlap": "10",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    task_id = response.json()["task_id"]

    wait_for(
        lambda: Task.objects.get(pk=task_id).is_terminal,
        timeout=60,
        message=f"task to finish; worker log:\n{documents_worker.output()}",
    )

    body = client.get(f"/documents/async/tasks/{task_id}").json()
    assert body["status"] == "SUCCESS", (body, documents_worker.output())
    assert body["progress"] == 100
    assert body["result"]["document_count"] == 6
    assert body["result"]["filename"] == "合同.txt"
    assert [d["index"] for d in body["result"]["documents"]] == [0, 1, 2, 3, 4, 5]
    task = Task.objects.get(pk=task_id)
    assert task.status == TaskStatus.SUCCEEDED
    assert [s["name"] for s in task.steps] == ["load", "extract", "split", "index"]
    document = Document.objects.get(pk=response.json()["document_id"])
    assert document.status == DocumentStatus.READY
    assert list(document.chunks.values_list("start", "end")) == [
        (0, 25),
        (19, 43),
        (43, 72),
        (71, 92),
        (84, 109),
        (109, 128),
    ]
    hits = client.get("/api/v1/documents/search", {"q": "违约责任"}).json()["results"]
    assert [(h["document_id"], h["chunk_index"]) for h in hits] == [
        (document.pk, 3),
        (document.pk, 4),
    ]
