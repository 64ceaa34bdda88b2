"""Services: rows are written whole or not at all, and stored files follow their rows."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from documents import services
from documents.models import Chunk, Document, DocumentSource, Export
from tests.documents import samples
from tests.documents.conftest import running_context

pytestmark = pytest.mark.django_db


def stored_files(media_root) -> list:
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def ingest(owner, text: str, **options) -> Document:
    return services.document_ingest(
        owner_id=owner.pk,
        data=text.encode(),
        filename="a.txt",
        options=services.ProcessOptions(**options),
        source=DocumentSource.UPLOAD,
    )


def test_a_failed_submit_leaves_no_row_and_no_file(user, media_root, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("broker exploded")

    monkeypatch.setattr(services, "task_submit", broken)
    with pytest.raises(RuntimeError):
        services.document_upload(
            owner=user,
            upload=SimpleUploadedFile("a.txt", b"text"),
            options=services.ProcessOptions(),
        )
    assert Document.objects.count() == 0
    assert stored_files(media_root) == []


def test_a_failure_while_writing_chunks_leaves_no_row_and_no_file(user, media_root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Chunk.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        ingest(user, "some text")
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0
    assert stored_files(media_root) == []


def test_reprocessing_replaces_the_chunks(user):
    document = ingest(user, samples.LEASE_EN, chunk_size=40, chunk_overlap=0)
    assert document.chunks.count() > 1
    extracted = services.document_extract(samples.LEASE_EN.encode(), "a.txt")
    services.document_save_extracted(
        owner_id=user.pk,
        extracted=extracted,
        chunks=services.document_split(extracted, services.ProcessOptions(chunk_size=1000)),
        document=document,
    )
    assert list(document.chunks.values_list("index", "start", "end")) == [(0, 0, 177)]


def test_deleting_a_user_removes_their_files_on_commit(
    user, media_root, django_capture_on_commit_callbacks
):
    document = ingest(user, "text")
    path = media_root / document.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert not path.exists()
    assert Chunk.objects.count() == 0


def test_expired_exports_are_pruned_with_their_files(
    user, media_root, run_body, django_capture_on_commit_callbacks
):
    document = ingest(user, "text")
    ctx, _ = run_body(user, "documents.export", {"document_ids": [document.pk]})
    fresh_ctx, _ = run_body(user, "documents.export", {"document_ids": [document.pk]})
    expired = Export.objects.get(task_id=ctx.task_id)
    Export.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    path = media_root / expired.file.name

    with django_capture_on_commit_callbacks(execute=True):
        assert services.export_prune_expired() == 1

    assert not path.exists()
    assert list(Export.objects.values_list("task_id", flat=True)) == [fresh_ctx.task_id]


def test_a_second_export_attempt_replaces_the_first_archive(
    user, media_root, run_body, django_capture_on_commit_callbacks
):
    document = ingest(user, "text")
    ctx = running_context(user, "documents.export", {"document_ids": [document.pk]})
    with django_capture_on_commit_callbacks(execute=True):
        run_body(user, "documents.export", {"document_ids": [document.pk]}, ctx=ctx)
        first = Export.objects.get(task_id=ctx.task_id).file.name
        ctx.steps = []
        run_body(user, "documents.export", {"document_ids": [document.pk]}, ctx=ctx)
    second = Export.objects.get(task_id=ctx.task_id).file.name
    assert first != second
    assert not (media_root / first).exists()
    assert (media_root / second).exists()


def test_an_oversized_server_file_is_refused_before_reading(user, import_root, settings):
    settings.DOCUMENTS_MAX_UPLOAD_BYTES = 10
    (import_root / "big.txt").write_bytes(b"x" * 11)
    from documents.engines.errors import DocumentTooLarge

    with pytest.raises(DocumentTooLarge, match="11 bytes; the limit is 10"):
        services.read_import_file(import_root / "big.txt")


def test_a_zip_bomb_in_a_bulk_import_is_recorded_not_expanded(user, import_root, settings):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../escape.txt", b"x")
    (import_root / "evil.zip").write_bytes(buffer.getvalue())
    outcomes = services.bulk_import_one(
        owner_id=user.pk,
        name="evil.zip",
        path=import_root / "evil.zip",
        refusal="",
        options=services.ProcessOptions(),
        task_id=None,
    )
    assert [(o.status, o.code) for o in outcomes] == [("failed", "unsafe_archive")]
    assert "climbs out of the archive" in outcomes[0].error
    assert Document.objects.count() == 0


def test_exports_live_as_long_as_their_task_is_retained(settings):
    from datetime import timedelta

    settings.CASEWORK_RETENTION_DAYS = {"default": 30, "documents.export": 2}
    assert services.export_lifetime() == timedelta(days=2)
    settings.CASEWORK_RETENTION_DAYS = {"default": 30}
    assert services.export_lifetime() == timedelta(days=30)
    settings.CASEWORK_RETENTION_DAYS = {}
    settings.CELERY_RESULT_EXPIRES = 3600
    assert services.export_lifetime() == timedelta(hours=1)
