"""Writes of the documents app: ingestion, the search index, deletion, exports, bulk import.

A document row is written whole or not at all: its text, chunks and index entries are written
in one transaction, and a file saved to storage for a row that then fails to commit is
removed again. Files of deleted rows leave storage once the deletion commits.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from documents.engines.analyze import analyze_text, detect_language
from documents.engines.archive import iter_safe_zip
from documents.engines.errors import (
    DocumentRejected,
    DocumentTooLarge,
    UnsupportedDocumentType,
)
from documents.engines.extract import ExtractedDocument, extract, sniff_type
from documents.engines.search import tokenize_for_index
from documents.engines.split import Chunk as TextChunk
from documents.engines.split import split_text
from documents.fetch import check_url
from documents.models import (
    SQLITE_FTS_TABLE,
    Chunk,
    Document,
    DocumentSource,
    DocumentStatus,
    Export,
)
from documents.paths import UnsafePath, iter_import_files, resolve_import_path
from tasks_app.models import Task
from tasks_app.services import task_submit

ProgressCallback = Callable[[float, str], None]

PROCESS_TASK_TYPE = "documents.process"
ANALYZE_TASK_TYPE = "documents.analyze"
EXPORT_TASK_TYPE = "documents.export"
BULK_IMPORT_TASK_TYPE = "documents.bulk_import"

# Sniffing needs the head of a text or PDF file only; a ZIP (DOCX) is read whole.
SNIFF_BYTES = 64 * 1024
CHUNK_BATCH = 500
RESULT_CHUNK_LIMIT = 1000
PREVIEW_CHARACTERS = 200
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class ProcessOptions:
    """How a document is split; ``split`` decides whether a task's result lists the chunks."""

    split: bool = False
    chunk_size: int = 1000
    chunk_overlap: int = 200

    def as_params(self) -> dict:
        return asdict(self)


class DocumentTypeNotAllowed(UnsupportedDocumentType):
    code = "type_not_allowed"


# --- uploads and submissions -----------------------------------------------------------------


def document_upload(
    *, owner, upload: UploadedFile, options: ProcessOptions
) -> tuple[Document, Task]:
    """Store an uploaded file as a pending document and submit its processing task.

    The type is decided from the content and checked against DOCUMENTS_ALLOWED_TYPES first;
    raises ``DocumentRejected`` (no row, no file) when it is not accepted.
    """
    kind = sniff_upload(upload)
    digest, size = _digest(upload.chunks())
    filename = clean_filename(upload.name or "")
    document = Document(
        owner=owner,
        title=PurePosixPath(filename).stem[:300],
        original_filename=filename,
        kind=kind,
        size=size,
        sha256=digest,
        source=DocumentSource.UPLOAD,
    )
    upload.seek(0)
    with _file_removed_on_failure(document):
        with transaction.atomic():
            document.file.save("original", upload, save=False)
            document.save(force_insert=True)
            task = task_submit(
                owner=owner,
                task_type=PROCESS_TASK_TYPE,
                params={"document_id": document.pk, **options.as_params()},
                name=f"Process {filename or document.pk}"[:200],
            ).task
            document.ingest_task = task
            document.save(update_fields=["ingest_task", "updated_at"])
    return document, task


def process_submit(*, owner, source: str, options: ProcessOptions) -> Task:
    """Submit the processing of a URL or a server path; its form is checked first."""
    classify_source(source)
    return task_submit(
        owner=owner,
        task_type=PROCESS_TASK_TYPE,
        params={"source": source, **options.as_params()},
        name=f"Process {source}"[:200],
    ).task


def analyze_submit(*, owner, document: Document) -> Task:
    return task_submit(
        owner=owner,
        task_type=ANALYZE_TASK_TYPE,
        params={"document_id": document.pk},
        name=f"Analyze {document}"[:200],
    ).task


def export_submit(*, owner, document_ids: list[int]) -> Task:
    return task_submit(
        owner=owner,
        task_type=EXPORT_TASK_TYPE,
        params={"document_ids": document_ids},
        name=f"Export {len(document_ids)} documents",
    ).task


def bulk_import_submit(*, owner, path: str, options: ProcessOptions) -> Task:
    resolve_import_path(path, directory=True)
    return task_submit(
        owner=owner,
        task_type=BULK_IMPORT_TASK_TYPE,
        params={"path": path, **options.as_params()},
        name=f"Import {path}"[:200],
    ).task


def classify_source(source: str) -> tuple[str, str]:
    """Return ``(DocumentSource, value)`` for a URL or a server path; raise if unusable.

    A URL's form is checked (its address is checked when fetched); a path must resolve
    inside an import root, and the value returned is its real path.
    """
    if _URL_SCHEME.match(source):
        return DocumentSource.URL, check_url(source)
    return DocumentSource.PATH, str(resolve_import_path(source))


# --- extraction and storage --------------------------------------------------------------------


def sniff_upload(upload: UploadedFile) -> str:
    """Return the kind of an uploaded file, decided from its content; raise if not allowed."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    if head.startswith(b"PK"):
        upload.seek(0)
        head = upload.read()
    upload.seek(0)
    kind = sniff_type(head, upload.name or "")
    check_allowed(kind)
    return kind


def check_allowed(kind: str) -> None:
    allowed = [str(k).lower() for k in settings.DOCUMENTS_ALLOWED_TYPES]
    if kind not in allowed:
        raise DocumentTypeNotAllowed(
            f"Documents of type {kind} are not accepted here; allowed: {', '.join(allowed)}."
        )


def document_extract(data: bytes, filename: str = "") -> ExtractedDocument:
    """Return the extracted document, refusing types outside DOCUMENTS_ALLOWED_TYPES."""
    check_allowed(sniff_type(data, filename))
    return extract(data, filename, max_bytes=settings.DOCUMENTS_MAX_UPLOAD_BYTES)


def document_split(extracted: ExtractedDocument, options: ProcessOptions) -> list[TextChunk]:
    return split_text(
        extracted.text,
        chunk_size=options.chunk_size,
        chunk_overlap=options.chunk_overlap,
        pages=extracted.pages,
    )


def document_save_extracted(
    *,
    owner_id: int,
    extracted: ExtractedDocument,
    chunks: list[TextChunk],
    document: Document | None = None,
    data: bytes | None = None,
    filename: str = "",
    source: str = DocumentSource.UPLOAD,
    source_url: str = "",
    source_path: str = "",
    task_id=None,
    on_progress: ProgressCallback | None = None,
) -> Document:
    """Write a document's text, chunks and index entries in one transaction; mark it ready.

    With ``document`` (an uploaded row, or one an earlier attempt wrote) its chunks are
    replaced; otherwise a new row is made and ``data`` stored as its original.
    """
    tokens = _tokenize(chunks, on_progress)
    if document is None:
        document = Document(
            owner_id=owner_id,
            original_filename=clean_filename(filename),
            size=len(data or b""),
            sha256=hashlib.sha256(data or b"").hexdigest(),
            source=source,
            source_url=source_url,
            source_path=source_path,
        )
    fresh = document.pk is None
    with _file_removed_on_failure(document, only_if=fresh):
        with transaction.atomic():
            if fresh:
                document.file.save("original", ContentFile(data or b""), save=False)
            else:
                document = Document.objects.select_for_update().get(pk=document.pk)
                _unindex(document.pk)
                document.chunks.all().delete()
            _fill(document, extracted, task_id)
            document.save()
            Chunk.objects.bulk_create(
                (
                    Chunk(
                        document=document,
                        index=piece.index,
                        text=piece.text,
                        start=piece.start,
                        end=piece.end,
                        page_start=piece.page_start,
                        page_end=piece.page_end,
                        search_tokens=token_text,
                    )
                    for piece, token_text in zip(chunks, tokens, strict=True)
                ),
                batch_size=CHUNK_BATCH,
            )
            _index(document.pk)
    return document


def document_ingest(
    *,
    owner_id: int,
    data: bytes,
    filename: str,
    options: ProcessOptions,
    source: str,
    source_url: str = "",
    source_path: str = "",
    task_id=None,
    document: Document | None = None,
) -> Document:
    """Extract, split and store ``data`` as a ready document (the bulk import's one step)."""
    extracted = document_extract(data, filename)
    chunks = document_split(extracted, options)
    return document_save_extracted(
        owner_id=owner_id,
        extracted=extracted,
        chunks=chunks,
        document=document,
        data=data,
        filename=filename,
        source=source,
        source_url=source_url,
        source_path=source_path,
        task_id=task_id,
    )


def document_mark_processing(*, document: Document, task_id=None) -> None:
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING,
        error="",
        error_code="",
        ingest_task_id=task_id or document.ingest_task_id,
        updated_at=timezone.now(),
    )


def document_mark_failed(*, document: Document, error: DocumentRejected) -> None:
    """Record why an uploaded document could not be processed; its chunks are left as they were."""
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.FAILED,
        error=error.message,
        error_code=error.code,
        updated_at=timezone.now(),
    )


def document_read_original(document: Document) -> bytes:
    limit = settings.DOCUMENTS_MAX_UPLOAD_BYTES
    with document.file.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLarge(f"The document is over the limit of {limit} bytes.")
    return data


def read_import_file(path: Path) -> bytes:
    """Return a server file's bytes, refusing one over DOCUMENTS_MAX_UPLOAD_BYTES."""
    limit = settings.DOCUMENTS_MAX_UPLOAD_BYTES
    size = path.stat().st_size
    if size > limit:
        raise DocumentTooLarge(f"The file is {size} bytes; the limit is {limit} bytes.")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLarge(f"The file is over the limit of {limit} bytes.")
    return data


def document_analyze(*, document: Document) -> dict:
    """Analyse the document's text, store the analysis on the row and return it."""
    analysis = analyze_text(document.text)
    Document.objects.filter(pk=document.pk).update(analysis=analysis, updated_at=timezone.now())
    document.analysis = analysis
    return analysis


def document_delete(*, document: Document) -> None:
    """Delete the document, its chunks and index entries; its file goes once this commits."""
    with transaction.atomic():
        _unindex(document.pk)
        document.delete()


def process_result(document: Document, *, split: bool) -> dict:
    """The result of a ``documents.process`` run, in the shape the users' clients read.

    Split, ``documents`` lists the chunks (at most RESULT_CHUNK_LIMIT, with a preview of
    each); unsplit, the one document. Full chunk texts are at the document's endpoint.
    """
    summary = {
        "document_id": document.pk,
        "title": document.title,
        "kind": document.kind,
        "language": document.language,
        "characters": len(document.text),
        "page_count": document.page_count,
        "source": document.source,
    }
    chunk_count = document.chunks.count()
    if split:
        rows = document.chunks.order_by("index").values(
            "index", "start", "end", "page_start", "page_end", "text"
        )[:RESULT_CHUNK_LIMIT]
        items = [
            {
                "document_id": document.pk,
                "index": row["index"],
                "start": row["start"],
                "end": row["end"],
                "page_start": row["page_start"],
                "page_end": row["page_end"],
                "characters": len(row["text"]),
                "preview": row["text"][:PREVIEW_CHARACTERS],
            }
            for row in rows
        ]
        count = chunk_count
    else:
        items = [{**summary, "preview": document.text[:PREVIEW_CHARACTERS]}]
        count = 1
    return {
        "status": "success",
        "filename": document.display_name,
        "document_id": document.pk,
        "document_count": count,
        "chunk_count": chunk_count,
        "documents": items,
        "documents_truncated": count > len(items),
    }


# --- exports ---------------------------------------------------------------------------------


def export_write(
    *,
    owner_id: int,
    documents: list[Document],
    task_id,
    on_progress: ProgressCallback | None = None,
) -> Export:
    """Write the documents into one ZIP on storage and record it as the task's export.

    Per document a folder with ``original.<kind>``, ``text.txt`` and ``chunks.json``; at the
    top ``manifest.json``. Originals are copied in pieces, never read whole.
    """
    manifest = {"created_at": timezone.now().isoformat(), "documents": []}
    with tempfile.TemporaryFile(suffix=".zip") as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number, document in enumerate(documents, start=1):
                folder = _archive_folder(document)
                _write_document(archive, folder, document)
                manifest["documents"].append(_manifest_entry(document, folder))
                if on_progress:
                    on_progress(100 * number / len(documents), f"{number}/{len(documents)}")
            archive.writestr(
                "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
            )
        size = spool.tell()
        spool.seek(0)
        old = Export.objects.filter(task_id=task_id).first()
        export = Export(
            owner_id=owner_id,
            task_id=task_id,
            size=size,
            document_ids=[d.pk for d in documents],
            expires_at=timezone.now() + export_lifetime(),
        )
        with _file_removed_on_failure(export):
            with transaction.atomic():
                if old is not None:
                    old.delete()  # an earlier attempt's archive; its file goes on commit
                export.file.save("export.zip", File(spool), save=False)
                export.save(force_insert=True)
    return export


def export_lifetime() -> timedelta:
    """How long an export is kept: as long as its task is (the task's retention if one is
    configured for it, else the default one, else the result expiry)."""
    retention = getattr(settings, "CASEWORK_RETENTION_DAYS", None) or {}
    days = retention.get(EXPORT_TASK_TYPE, retention.get("default"))
    if days:
        return timedelta(days=float(days))
    return timedelta(seconds=settings.CELERY_RESULT_EXPIRES)


def export_prune_expired(*, now=None) -> int:
    """Delete exports past their expiry (their files go on commit); return how many."""
    expired = Export.objects.filter(expires_at__lte=now or timezone.now())
    count = 0
    for export in expired.iterator():
        export.delete()
        count += 1
    return count


# --- bulk import -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileOutcome:
    file: str
    status: str  # "imported", "failed" or "skipped"
    document_id: int | None = None
    error: str = ""
    code: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def bulk_import_files(directory: Path) -> list[tuple[str, Path | None, str]]:
    return list(iter_import_files(directory))


def bulk_import_one(
    *, owner_id: int, name: str, path: Path | None, refusal: str, options: ProcessOptions, task_id
) -> list[FileOutcome]:
    """Import one file of a directory (a ZIP archive: each of its members); never raises
    ``DocumentRejected``: a bad file is recorded as failed and the import goes on."""
    if path is None:
        return [FileOutcome(name, "skipped", error=refusal, code=UnsafePath.code)]
    try:
        data = read_import_file(path)
        if _is_archive(data, name):
            return _import_archive(owner_id, name, path, data, options, task_id)
        return [_import_bytes(owner_id, name, str(path), data, options, task_id)]
    except DocumentRejected as exc:
        return [FileOutcome(name, "failed", error=exc.message, code=exc.code)]
    except OSError as exc:
        return [FileOutcome(name, "failed", error=f"The file cannot be read: {exc}.", code="io")]


def _import_bytes(
    owner_id: int, name: str, source_path: str, data: bytes, options: ProcessOptions, task_id
) -> FileOutcome:
    # A document this task already wrote for this file (before a crash) is rewritten in place.
    existing = (
        Document.objects.filter(ingest_task_id=task_id, source_path=source_path).first()
        if task_id
        else None
    )
    try:
        document = document_ingest(
            owner_id=owner_id,
            data=data,
            filename=PurePosixPath(name).name,
            options=options,
            source=DocumentSource.PATH,
            source_path=source_path,
            task_id=task_id,
            document=existing,
        )
    except DocumentRejected as exc:
        return FileOutcome(name, "failed", error=exc.message, code=exc.code)
    return FileOutcome(name, "imported", document_id=document.pk)


def _is_archive(data: bytes, name: str) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        sniff_type(data, name)
    except UnsupportedDocumentType:
        return True
    return False


def _import_archive(
    owner_id: int, name: str, path: Path, data: bytes, options: ProcessOptions, task_id
) -> list[FileOutcome]:
    outcomes = []
    limit = settings.DOCUMENTS_MAX_UPLOAD_BYTES
    for member, reader in iter_safe_zip(data):
        label = f"{name}!{member}"
        content = reader.read(limit + 1)
        if len(content) > limit:
            outcomes.append(
                FileOutcome(label, "failed", error="Over the size limit.", code="too_large")
            )
            continue
        outcomes.append(
            _import_bytes(owner_id, label, f"{path}!{member}", content, options, task_id)
        )
    return outcomes


# --- helpers -----------------------------------------------------------------------------------


def clean_filename(name: str) -> str:
    """Return the last component of a client-supplied name, printable, at most 255 chars."""
    name = PurePosixPath(name.replace("\\", "/")).name
    return "".join(ch for ch in name if ch.isprintable())[:255]


def _digest(pieces: Iterable[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for piece in pieces:
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def _tokenize(chunks: list[TextChunk], on_progress: ProgressCallback | None) -> list[str]:
    tokens = []
    for number, piece in enumerate(chunks, start=1):
        tokens.append(tokenize_for_index(piece.text))
        if on_progress and (number % 50 == 0 or number == len(chunks)):
            on_progress(100 * number / len(chunks), f"indexed {number} of {len(chunks)} chunks")
    return tokens


def _fill(document: Document, extracted: ExtractedDocument, task_id) -> None:
    document.kind = extracted.kind
    document.title = (
        extracted.title or PurePosixPath(document.original_filename).stem or document.title
    )[:300]
    document.text = extracted.text
    document.page_count = len(extracted.pages)
    document.language = detect_language(extracted.text)
    document.metadata = {
        "encoding": extracted.encoding,
        "tables": extracted.tables,
        "pages": [[p.number, p.start, p.end] for p in extracted.pages],
    }
    document.status = DocumentStatus.READY
    document.error = ""
    document.error_code = ""
    if task_id is not None:
        document.ingest_task_id = task_id


def _index(document_id: int) -> None:
    """Add the document's chunks to the SQLite FTS5 table (PostgreSQL indexes by itself)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SQLITE_FTS_TABLE} (rowid, search_tokens) "
                "SELECT id, search_tokens FROM documents_chunk WHERE document_id = %s",
                [document_id],
            )


def _unindex(document_id: int) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {SQLITE_FTS_TABLE} WHERE rowid IN "
                "(SELECT id FROM documents_chunk WHERE document_id = %s)",
                [document_id],
            )


class _file_removed_on_failure:
    """Remove a file just saved to storage if the block that saves its row fails."""

    def __init__(self, instance, *, only_if: bool = True):
        self.instance = instance
        self.only_if = only_if

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        name = self.instance.file.name
        if exc_type is not None and self.only_if and name:
            default_storage.delete(name)
        return False


_KIND_EXTENSIONS = {"pdf": "pdf", "docx": "docx", "html": "html", "md": "md", "txt": "txt"}


def _archive_folder(document: Document) -> str:
    stem = PurePosixPath(clean_filename(document.display_name)).stem
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem).strip("._")
    return f"{document.pk:06d}-{safe[:60] or 'document'}"


def _write_document(archive: zipfile.ZipFile, folder: str, document: Document) -> None:
    if document.file:
        extension = _KIND_EXTENSIONS.get(document.kind, "bin")
        with (
            document.file.open("rb") as source,
            archive.open(f"{folder}/original.{extension}", "w", force_zip64=True) as target,
        ):
            shutil.copyfileobj(source, target, 1024 * 1024)
    archive.writestr(f"{folder}/text.txt", document.text)
    with archive.open(f"{folder}/chunks.json", "w", force_zip64=True) as target:
        writer = io.TextIOWrapper(target, encoding="utf-8")
        writer.write("[\n")
        rows = document.chunks.order_by("index").values(
            "index", "start", "end", "page_start", "page_end", "text"
        )
        for number, row in enumerate(rows.iterator(chunk_size=CHUNK_BATCH)):
            writer.write((",\n" if number else "") + json.dumps(row, ensure_ascii=False))
        writer.write("\n]\n")
        writer.flush()
        writer.detach()


def _manifest_entry(document: Document, folder: str) -> dict:
    return {
        "id": document.pk,
        "folder": folder,
        "title": document.title,
        "original_filename": document.original_filename,
        "kind": document.kind,
        "size": document.size,
        "sha256": document.sha256,
        "source": document.source,
        "source_url": document.source_url,
        "language": document.language,
        "page_count": document.page_count,
        "created_at": document.created_at.isoformat(),
    }
