"""The documents API: every endpoint, its errors, two users, and the legacy async paths."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from knox.models import AuthToken
from rest_framework.test import APIClient

from documents import services
from documents.models import Chunk, Document, DocumentStatus, Export
from tasks_app import lifecycle
from tasks_app.models import Task, TaskStatus
from tests.documents import samples
from tests.documents.conftest import running_context
from tests.tasks_app.api_support import assert_error, client_for, reset_throttles

pytestmark = pytest.mark.django_db

API = "/api/v1/documents"


@pytest.fixture(autouse=True)
def _no_throttle_history():
    reset_throttles()


def upload(client, name="合同.txt", data=None, path=f"{API}/async/upload", **fields):
    content = samples.gbk_text() if data is None else data
    return client.post(
        path, {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


def processed(owner, name="合同.txt", data=None, **options) -> Document:
    """A ready document of ``owner``, processed by the task body."""
    from tasks_app import registry

    document, task = services.document_upload(
        owner=owner,
        upload=SimpleUploadedFile(name, samples.gbk_text() if data is None else data),
        options=services.ProcessOptions(**options),
    )
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    claimed = lifecycle.claim(task.id, worker="test")
    from tasks_app.context import TaskContext

    kind = registry.get("documents.process")
    result = kind.body(
        TaskContext.for_task(claimed, min_write_interval=0), **kind.validate(claimed.params)
    )
    lifecycle.finish_succeeded(task.id, attempt=1, result=result, progress_fields={})
    document.refresh_from_db()
    return document


# --- async upload ---------------------------------------------------------------------------


def test_upload_stores_a_pending_document_and_submits_its_task(user, media_root):
    response = upload(client_for(user), split="true", chunk_size="300", chunk_overlap="50")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["message"] == "文档处理任务已提交"
    document = Document.objects.get(pk=body["document_id"])
    task = Task.objects.get(pk=body["task_id"])
    assert task.task_type == "documents.process"
    assert task.owner == user
    assert task.params == {
        "document_id": document.pk,
        "split": True,
        "chunk_size": 300,
        "chunk_overlap": 50,
    }
    assert document.ingest_task == task
    assert (document.status, document.kind, document.original_filename) == (
        "pending",
        "txt",
        "合同.txt",
    )
    assert document.size == len(samples.gbk_text())
    stored = media_root / document.file.name
    assert stored.read_bytes() == samples.gbk_text()
    assert document.file.name.startswith(f"documents/{user.pk}/")
    assert "合同" not in document.file.name


def test_upload_answers_on_the_legacy_path_too(user):
    response = upload(client_for(user), path="/documents/async/upload")
    assert response.status_code == 201
    assert Task.objects.filter(pk=response.json()["task_id"]).exists()


def test_oversized_upload_is_refused_with_413_and_nothing_written(user, settings, media_root):
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 1000
    response = upload(client_for(user), name="big.txt", data=b"a" * 5000)

    assert_error(response, 413, "file_too_large")
    assert Document.objects.count() == 0
    assert Task.objects.count() == 0
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_upload_over_the_cap_is_stopped_while_streaming(user, settings):
    """The declared length is within the envelope allowance; the stream passes the cap."""
    from documents.uploads import ENVELOPE_BYTES

    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 100_000
    data = b"b" * (100_000 + ENVELOPE_BYTES // 2)
    response = upload(client_for(user), name="big.txt", data=data)
    assert_error(response, 413, "file_too_large")
    assert Document.objects.count() == 0


def test_upload_of_an_image_is_refused_by_content_with_415(user):
    response = upload(client_for(user), name="contract.pdf", data=samples.PNG)
    assert_error(
        response, 415, "unsupported_type", file=["Unsupported document: this is a PNG image."]
    )
    assert Document.objects.count() == 0


def test_upload_of_a_type_outside_the_allowlist_is_refused(user, settings):
    settings.DOCUMENTS_ALLOWED_TYPES = ["pdf"]
    response = upload(client_for(user))
    body = assert_error(response, 415, "type_not_allowed")
    assert "allowed: pdf" in body["fields"]["file"][0]
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"chunk_size": "100", "chunk_overlap": "100"}, "chunk_overlap"),
        ({"chunk_overlap": "-1"}, "chunk_overlap"),
        ({"chunk_size": "0"}, "chunk_size"),
        ({"chunk_size": "many"}, "chunk_size"),
    ],
)
def test_bad_split_options_are_a_400_naming_the_field(user, fields, field):
    response = upload(client_for(user), **fields)
    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == [field]
    assert Document.objects.count() == 0


def test_upload_without_a_file_is_a_400(user):
    response = client_for(user).post(f"{API}/async/upload", {"split": "true"}, format="multipart")
    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == ["file"]


def test_upload_needs_authentication():
    response = upload(APIClient())
    assert_error(response, 401, "not_authenticated")


def test_upload_with_a_bearer_token(user):
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert upload(client).status_code == 201


# --- async process --------------------------------------------------------------------------


def test_process_of_a_path_submits_a_task(user, import_root):
    (import_root / "a.txt").write_text("text")
    response = client_for(user).post(
        f"{API}/async/process", {"source": "a.txt", "split": True}, format="json"
    )
    assert response.status_code == 201, response.content
    task = Task.objects.get(pk=response.json()["task_id"])
    assert task.params == {
        "source": "a.txt",
        "split": True,
        "chunk_size": 1000,
        "chunk_overlap": 200,
    }


def test_process_accepts_a_form_body_as_the_old_scripts_send(user):
    response = client_for(user).post(
        "/documents/async/process", {"source": "https://example.com/a", "split": "True"}
    )
    assert response.status_code == 201, response.content
    assert Task.objects.get(pk=response.json()["task_id"]).params["split"] is True


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("../etc/passwd", "The path may not contain '..'."),
        ("/etc/passwd", "outside the allowed import directories"),
        ("missing.txt", "No such file or directory"),
        ("http://127.0.0.1/admin", "blocked address (127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data", "blocked address"),
        ("http://2130706433/", "unusual spelling"),
        ("file:///etc/passwd", "Only http and https"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_process_refuses_unsafe_sources_with_a_400(user, source, message):
    response = client_for(user).post(f"{API}/async/process", {"source": source}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert message in body["fields"]["source"][0]
    assert Task.objects.count() == 0


# --- async task status ----------------------------------------------------------------------


def test_task_status_in_celery_words_with_the_result(user):
    document = processed(user, split=True, chunk_size=40, chunk_overlap=10)
    response = client_for(user).get(f"{API}/async/tasks/{document.ingest_task_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "SUCCESS"
    assert body["progress"] == 100 or body["progress"] >= 0
    assert body["result"]["status"] == "success"
    assert body["result"]["filename"] == "合同.txt"
    assert body["result"]["document_count"] == 6
    assert len(body["result"]["documents"]) == 6
    assert body["error"] is None
    legacy = client_for(user).get(f"/documents/async/tasks/{document.ingest_task_id}")
    assert legacy.json()["result"] == body["result"]


@pytest.mark.parametrize(
    ("state", "word"),
    [("pending", "PENDING"), ("queued", "PENDING"), ("running", "STARTED"), ("revoked", "REVOKED")],
)
def test_task_status_maps_engine_states(user, state, word):
    response = upload(client_for(user))
    task_id = response.json()["task_id"]
    if state != "pending":
        Task.objects.filter(pk=task_id).update(status=TaskStatus.QUEUED)
    if state == "running":
        lifecycle.claim(task_id, worker="w")
    if state == "revoked":
        from tasks_app.services import task_cancel

        task_cancel(task=Task.objects.get(pk=task_id))
    body = client_for(user).get(f"{API}/async/tasks/{task_id}").json()
    assert (body["status"], body["state"]) == (word, state)
    assert body["result"] is None


def test_a_failed_task_reports_its_error(user):
    response = upload(client_for(user), name="scan.pdf", data=samples.scanned_pdf())
    task_id = response.json()["task_id"]
    from tasks_app import runner

    Task.objects.filter(pk=task_id).update(status=TaskStatus.QUEUED)
    runner.execute(task_id, worker="test")

    body = client_for(user).get(f"{API}/async/tasks/{task_id}").json()
    assert body["status"] == "FAILURE"
    assert body["error"] == "PDF has no text layer (scanned?); OCR it first. [no_text_layer]"
    document = Document.objects.get(pk=response.json()["document_id"])
    assert (document.status, document.error_code) == (DocumentStatus.FAILED, "no_text_layer")


def test_another_users_task_is_404(user, other_user):
    task_id = upload(client_for(other_user)).json()["task_id"]
    assert_error(client_for(user).get(f"{API}/async/tasks/{task_id}"), 404, "not_found")
    assert_error(client_for(user).get(f"{API}/async/tasks/not-a-uuid"), 404, "not_found")


# --- documents ------------------------------------------------------------------------------


def test_list_shows_only_my_documents_newest_first(
    user, other_user, staff_user, django_assert_max_num_queries
):
    first = processed(user)
    second = processed(user, name="lease.txt", data=samples.LEASE_EN.encode())
    processed(other_user)
    with django_assert_max_num_queries(4):
        response = client_for(user).get(f"{API}/")
    body = response.json()
    assert body["count"] == 2
    assert [d["id"] for d in body["results"]] == [second.pk, first.pk]
    assert body["results"][0]["owner"] == user.username
    assert body["results"][0]["content_type"] == "text/plain"
    assert "text" not in body["results"][0]
    assert client_for(staff_user).get(f"{API}/").json()["count"] == 3


def test_detail_has_text_and_chunks(user):
    document = processed(user, split=True, chunk_size=40, chunk_overlap=10)
    body = client_for(user).get(f"{API}/{document.pk}").json()
    assert body["text"] == samples.CONTRACT_ZH
    assert [(c["index"], c["start"], c["end"]) for c in body["chunks"]] == [
        (0, 0, 25),
        (1, 19, 43),
        (2, 43, 72),
        (3, 71, 92),
        (4, 84, 109),
        (5, 109, 128),
    ]
    assert body["status"] == "ready"
    assert body["language"] == "zh"


def test_foreign_documents_are_404_everywhere(user, other_user):
    theirs = processed(other_user)
    client = client_for(user)
    for response in (
        client.get(f"{API}/{theirs.pk}"),
        client.delete(f"{API}/{theirs.pk}"),
        client.get(f"{API}/{theirs.pk}/download"),
        client.post(f"{API}/{theirs.pk}/analyze"),
        client.post(f"{API}/export", {"document_ids": [theirs.pk]}, format="json"),
    ):
        assert_error(response, 404, "not_found")
    assert Document.objects.filter(pk=theirs.pk).exists()


def test_download_returns_the_original_to_its_owner_only(user, staff_user):
    document = processed(user)
    response = client_for(user).get(f"{API}/{document.pk}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == samples.gbk_text()
    assert response["Content-Type"] == "text/plain"
    assert "attachment" in response["Content-Disposition"]
    assert_error(client_for(staff_user).get(f"{API}/{document.pk}/download"), 404, "not_found")


def test_delete_removes_row_chunks_and_file(user, media_root, django_capture_on_commit_callbacks):
    document = processed(user)
    stored = media_root / document.file.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).delete(f"{API}/{document.pk}")
    assert response.status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert Chunk.objects.filter(document_id=document.pk).count() == 0
    assert not stored.exists()


def test_analyze_submits_a_task(user):
    document = processed(user)
    response = client_for(user).post(f"{API}/{document.pk}/analyze")
    assert response.status_code == 201
    task = Task.objects.get(pk=response.json()["task_id"])
    assert (task.task_type, task.params) == ("documents.analyze", {"document_id": document.pk})


# --- search ---------------------------------------------------------------------------------


def test_search_finds_chinese_and_english_with_highlights(user, other_user):
    contract = processed(user)
    lease = processed(user, name="lease.txt", data=samples.LEASE_EN.encode())
    processed(other_user)  # the same contract, someone else's: never found
    client = client_for(user)

    body = client.get(f"{API}/search", {"q": "违约责任"}).json()
    assert body["terms"] == ["违约责任"]
    assert [(r["document_id"], r["chunk_index"]) for r in body["results"]] == [(contract.pk, 0)]
    assert "<mark>违约责任</mark>" in body["results"][0]["highlight"]
    assert body["results"][0]["score"] > 0

    body = client.get(f"{API}/search", {"q": "arbitration Singapore"}).json()
    assert [r["document_id"] for r in body["results"]] == [lease.pk]
    assert "<mark>arbitration</mark> in <mark>Singapore</mark>" in body["results"][0]["highlight"]

    assert client.get(f"{API}/search", {"q": "nothing-like-this"}).json()["results"] == []


def test_search_needs_a_query(user):
    assert_error(client_for(user).get(f"{API}/search"), 400, "invalid")


# --- exports --------------------------------------------------------------------------------


def test_export_start_and_download(user, other_user):
    document = processed(user)
    response = client_for(user).post(
        f"{API}/export", {"document_ids": [document.pk]}, format="json"
    )
    assert response.status_code == 201
    task_id = response.json()["task_id"]
    task = Task.objects.get(pk=task_id)
    assert (task.task_type, task.queue, task.params) == (
        "documents.export",
        "low_priority",
        {"document_ids": [document.pk]},
    )
    url = f"{API}/export/{task_id}/download"
    body = assert_error(client_for(user).get(url), 409, "export_not_ready")
    assert body["status"] == "pending"

    from tasks_app import registry
    from tasks_app.context import TaskContext

    Task.objects.filter(pk=task_id).update(status=TaskStatus.QUEUED)
    ctx = TaskContext.for_task(lifecycle.claim(task_id, worker="t"), min_write_interval=0)
    registry.get("documents.export").body(ctx, document_ids=[document.pk])

    response = client_for(user).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "manifest.json" in archive.namelist()
    assert_error(client_for(other_user).get(url), 404, "not_found")


def test_an_expired_export_is_gone(user):
    from django.utils import timezone

    document = processed(user)
    ctx = running_context(user, "documents.export", {"document_ids": [document.pk]})
    from tasks_app import registry

    registry.get("documents.export").body(ctx, document_ids=[document.pk])
    Export.objects.update(expires_at=timezone.now())
    assert_error(
        client_for(user).get(f"{API}/export/{ctx.task_id}/download"), 410, "export_expired"
    )


def test_export_validates_its_ids(user):
    response = client_for(user).post(f"{API}/export", {"document_ids": []}, format="json")
    assert_error(response, 400, "invalid")


# --- bulk import ----------------------------------------------------------------------------


def test_bulk_import_submits_for_a_directory_inside_the_roots(user, import_root, tmp_path):
    (import_root / "batch").mkdir()
    client = client_for(user)
    response = client.post(f"{API}/import", {"path": "batch"}, format="json")
    assert response.status_code == 201
    task = Task.objects.get(pk=response.json()["task_id"])
    assert (task.task_type, task.queue) == ("documents.bulk_import", "low_priority")

    response = client.post(f"{API}/import", {"path": str(tmp_path)}, format="json")
    body = assert_error(response, 400, "unsafe_path")
    assert "outside the allowed import directories" in body["fields"]["path"][0]


def test_oversized_upload_with_session_auth_and_csrf_is_still_a_413(user, settings):
    """The CSRF check of session auth reads the form: the cap applies there too."""
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 1000
    from django.middleware.csrf import _get_new_csrf_string

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    # A cookie but no header: the check looks for the token in the form, reading the body.
    client.cookies["csrftoken"] = _get_new_csrf_string()
    response = upload(client, name="big.txt", data=b"a" * 5000)
    assert_error(response, 413, "file_too_large")
    assert Document.objects.count() == 0
