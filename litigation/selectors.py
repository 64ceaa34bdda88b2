"""Reads of the litigation app, every one a user can reach scoped to its owner."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from tasks_app.models import Task, TaskStatus

from .models import AnalysisPackage, Artifact

CASE_ANALYSIS = "litigation.case_analysis"


def package_list(*, active_only: bool = True) -> QuerySet[AnalysisPackage]:
    packages = AnalysisPackage.objects.all()
    return packages.active() if active_only else packages


def package_definition(*, key: str) -> dict | None:
    """Return the checked definition of the active package ``key``, or None."""
    package = package_list().filter(key=key).only("key", "definition").first()
    return package.checked_definition() if package is not None else None


def package_keys() -> list[str]:
    return list(package_list().values_list("key", flat=True))


def visible_task(*, user, task_id) -> Task:
    """The task with this id if ``user`` may see it; else Http404, whether or not it exists."""
    task = Task.objects.visible_to(user).filter(pk=task_id).first()
    if task is None:
        raise Http404("No such task.")
    return task


def task_artifact(*, task: Task, kind: str, fmt: str) -> Artifact | None:
    return Artifact.objects.filter(task=task, kind=kind, format=fmt).first()


def finished_case_analysis(*, owner_id, task_id) -> Task | None:
    """The owner's succeeded case analysis ``task_id``, or None if there is no such one."""
    return Task.objects.filter(
        pk=task_id, owner_id=owner_id, task_type=CASE_ANALYSIS, status=TaskStatus.SUCCEEDED
    ).first()


def case_analysis_status(*, owner_id, task_id) -> str | None:
    """The status of the owner's case analysis ``task_id``; None if it is not one of theirs."""
    return (
        Task.objects.filter(pk=task_id, owner_id=owner_id, task_type=CASE_ANALYSIS)
        .values_list("status", flat=True)
        .first()
    )


def owned_documents(*, owner_id, ids) -> dict:
    """Return ``{id: Document}`` for those of ``ids`` that ``owner_id`` owns.

    A document of someone else is absent exactly as one that does not exist, so the caller
    can't tell them apart.
    """
    from documents.models import Document

    documents = Document.objects.filter(pk__in=list(ids))
    if owner_id is not None:
        documents = documents.filter(owner_id=owner_id)
    return {document.pk: document for document in documents}


def chunk_spans(*, document_ids) -> dict[int, list[tuple[int, int, int]]]:
    """Return ``{document id: [(chunk index, start, end), ...]}`` in chunk order."""
    from documents.models import Chunk

    spans: dict[int, list[tuple[int, int, int]]] = {}
    rows = Chunk.objects.filter(document_id__in=list(document_ids)).order_by("document", "index")
    for document_id, index, start, end in rows.values_list("document_id", "index", "start", "end"):
        spans.setdefault(document_id, []).append((index, start, end))
    return spans
