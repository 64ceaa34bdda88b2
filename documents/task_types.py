"""The documents task types: process, analyze, export, bulk_import (and the export pruner).

Each body takes ids and options, loads rows, calls services and reports its steps. A
document that cannot be used (``DocumentRejected``) fails the task permanently with the
reason; a fetch that may succeed later is retried.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.urls import reverse

from documents import services
from documents.engines.errors import DocumentRejected
from documents.fetch import FetchUnavailable, fetch_url
from documents.models import Document, DocumentSource, DocumentStatus
from documents.paths import UnsafePath, resolve_import_path
from documents.serializers import BulkImportParams, DocumentIdParams, ExportParams, ProcessParams
from tasks_app.context import TaskContext
from tasks_app.models import Priority, Queue
from tasks_app.registry import PermanentError, TransientError, task_type


def rejection(exc: DocumentRejected) -> PermanentError:
    """The permanent task failure for a refused document: its reason and its code."""
    return PermanentError(f"{exc.message} [{exc.code}]")


@task_type(
    services.PROCESS_TASK_TYPE,
    params=ProcessParams,
    priority=Priority.NORMAL,
    max_retries=3,
    retry_on=(TransientError,),
    soft_time_limit=1800,
    time_limit=1860,
)
def process(
    ctx: TaskContext,
    *,
    split: bool,
    chunk_size: int,
    chunk_overlap: int,
    document_id: int | None = None,
    source: str | None = None,
) -> dict:
    """Extract, split and index a document: an uploaded one, a URL or a server path."""
    options = services.ProcessOptions(split, chunk_size, chunk_overlap)
    ctx.plan([("load", 1), ("extract", 3), ("split", 1), ("index", 3)])
    uploaded = document_id is not None
    document = None
    try:
        with ctx.step("load"):
            if uploaded:
                document = _visible_document(ctx, document_id)
                services.document_mark_processing(document=document, task_id=ctx.task_id)
                data = services.document_read_original(document)
                filename, origin = document.original_filename, {}
            else:
                # A document an earlier attempt of this task wrote is rewritten, not doubled.
                document = Document.objects.filter(ingest_task_id=ctx.task_id).first()
                data, filename, origin = _load_source(source)
            ctx.progress(100, f"read {len(data)} bytes")
        with ctx.step("extract"):
            extracted = services.document_extract(data, filename)
            ctx.progress(100, f"{extracted.kind}: {len(extracted.text)} characters")
        with ctx.step("split"):
            chunks = services.document_split(extracted, options)
            ctx.progress(100, f"{len(chunks)} chunks")
        with ctx.step("index"):
            document = services.document_save_extracted(
                owner_id=ctx.owner_id,
                extracted=extracted,
                chunks=chunks,
                document=document,
                data=data,
                filename=filename,
                task_id=ctx.task_id,
                on_progress=ctx.progress,
                **origin,
            )
    except DocumentRejected as exc:
        if uploaded and document is not None:
            services.document_mark_failed(document=document, error=exc)
        raise rejection(exc) from exc
    except FetchUnavailable as exc:
        raise TransientError(str(exc)) from exc
    except Exception as exc:
        if uploaded and document is not None:
            services.document_mark_failed(
                document=document,
                error=DocumentRejected(str(exc) or type(exc).__name__, code="error"),
            )
        raise
    return services.process_result(document, split=split)


@task_type(services.ANALYZE_TASK_TYPE, params=DocumentIdParams, priority=Priority.NORMAL)
def analyze(ctx: TaskContext, *, document_id: int) -> dict:
    """Find the language, counts, key terms, dates, amounts, parties and case numbers."""
    ctx.plan([("analyze", 1)])
    document = _visible_document(ctx, document_id)
    if document.status != DocumentStatus.READY:
        raise PermanentError(
            f"Document {document_id} is {document.status}; only ready documents can be analysed."
        )
    with ctx.step("analyze"):
        analysis = services.document_analyze(document=document)
    return {"status": "success", "document_id": document.pk, "analysis": analysis}


@task_type(
    services.EXPORT_TASK_TYPE,
    params=ExportParams,
    priority=Priority.LOW,
    queue=Queue.LOW,
    soft_time_limit=1800,
    time_limit=1860,
)
def export(ctx: TaskContext, *, document_ids: list[int]) -> dict:
    """Write the documents (original, text, chunks) and a manifest into one ZIP."""
    ctx.plan([("collect", 1), ("write", 9)])
    with ctx.step("collect"):
        documents = _visible_documents(ctx, document_ids)
    with ctx.step("write"):
        archive = services.export_write(
            owner_id=ctx.owner_id,
            documents=documents,
            task_id=ctx.task_id,
            on_progress=ctx.progress,
        )
    return {
        "status": "success",
        "export_id": archive.pk,
        "document_count": len(documents),
        "document_ids": archive.document_ids,
        "size": archive.size,
        "expires_at": archive.expires_at.isoformat(),
        "download_url": reverse("documents:export-download", args=[str(ctx.task_id)]),
    }


@task_type(
    services.BULK_IMPORT_TASK_TYPE,
    params=BulkImportParams,
    priority=Priority.LOW,
    queue=Queue.LOW,
    soft_time_limit=3300,
    time_limit=3500,
)
def bulk_import(
    ctx: TaskContext, *, path: str, split: bool, chunk_size: int, chunk_overlap: int
) -> dict:
    """Import every file under a server directory; a bad file is recorded and skipped.

    After each file the outcomes so far are checkpointed, so a later attempt (after a crash)
    goes on with the next file.
    """
    options = services.ProcessOptions(split, chunk_size, chunk_overlap)
    try:
        directory = resolve_import_path(path, directory=True)
    except UnsafePath as exc:
        raise rejection(exc) from exc
    done: dict[str, list[dict]] = dict((ctx.checkpoint or {}).get("outcomes", {}))
    resumed = len(done)
    ctx.plan([("scan", 1), ("import", 19)])
    with ctx.step("scan"):
        files = services.bulk_import_files(directory)
        ctx.progress(100, f"{len(files)} files")
    with ctx.step("import"):
        for number, (name, real, refusal) in enumerate(files, start=1):
            if name in done:
                continue
            ctx.check_cancelled()
            outcomes = services.bulk_import_one(
                owner_id=ctx.owner_id,
                name=name,
                path=real,
                refusal=refusal,
                options=options,
                task_id=ctx.task_id,
            )
            done[name] = [outcome.as_dict() for outcome in outcomes]
            ctx.save_checkpoint({"outcomes": done})
            ctx.progress(100 * number / len(files), f"{number}/{len(files)} {name}")
    ordered = [outcome for name, _, _ in files for outcome in done.get(name, [])]
    counts = {
        status: sum(1 for o in ordered if o["status"] == status)
        for status in ("imported", "failed", "skipped")
    }
    return {
        "status": "success",
        "directory": path,
        "file_count": len(ordered),
        **counts,
        "document_count": counts["imported"],
        "documents": [o["document_id"] for o in ordered if o["status"] == "imported"],
        "files": ordered,
        "resumed_after": resumed,
    }


@task_type("documents.prune_exports", public=False, priority=Priority.LOW, max_retries=0)
def prune_exports(ctx: TaskContext) -> dict:
    """Delete exports past their expiry, with their files."""
    return {"deleted": services.export_prune_expired()}


# --- loading ---------------------------------------------------------------------------------


def _load_source(source: str) -> tuple[bytes, str, dict]:
    kind, value = services.classify_source(source)
    if kind == DocumentSource.URL:
        fetched = fetch_url(value)
        return fetched.content, fetched.filename, {"source": kind, "source_url": source}
    path = Path(value)
    data = services.read_import_file(path)
    return data, path.name, {"source": kind, "source_path": value}


def _owner(ctx: TaskContext):
    if ctx.owner_id is None:
        return None
    return get_user_model().objects.filter(pk=ctx.owner_id).first()


def _visible_document(ctx: TaskContext, document_id: int) -> Document:
    found = _visible_documents(ctx, [document_id])
    return found[0]


def _visible_documents(ctx: TaskContext, document_ids: list[int]) -> list[Document]:
    """The documents, in the order asked, if the task's owner may see every one of them."""
    owner = _owner(ctx)
    rows = Document.objects.filter(pk__in=document_ids)
    if owner is not None:
        rows = rows.visible_to(owner)
    elif ctx.owner_id is not None:
        rows = rows.none()
    by_id = {row.pk: row for row in rows}
    missing = [pk for pk in document_ids if pk not in by_id]
    if missing:
        names = ", ".join(str(pk) for pk in missing)
        raise PermanentError(f"No such document (or not yours): {names}.")
    return [by_id[pk] for pk in document_ids]
