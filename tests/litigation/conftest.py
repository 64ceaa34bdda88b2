"""Fixtures of the litigation tests: packages in the database, documents of a user, tasks run
in-process, and report files written to a temporary media root."""

from __future__ import annotations

import pytest

from documents.models import Chunk, Document, DocumentStatus
from litigation import services
from tasks_app import runner
from tasks_app import services as task_services
from tasks_app.models import Task, TaskStatus
from tests.fixtures.litigation import load_document, load_loan_case

LOAN_TITLES = ["01_借款合同", "02_银行转账记录", "03_微信聊天记录", "04_借条"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def packages(db):
    """The shipped packages, loaded again: a transactional test elsewhere may have flushed
    the rows the data migration made."""
    services.packages_load_shipped()


def make_document(owner, *, title: str, text: str, status=DocumentStatus.READY, **fields):
    return Document.objects.create(owner=owner, title=title, text=text, status=status, **fields)


def fixture_document(owner, relative_path: str, **fields) -> Document:
    document = load_document(relative_path)
    return make_document(owner, title=document["title"], text=document["text"], **fields)


@pytest.fixture
def loan_case(user):
    """The loan dispute's four documents, owned by `user`, in file order."""
    return [
        make_document(user, title=document["title"], text=document["text"])
        for document in load_loan_case()
    ]


def chunk(document: Document, size: int) -> list[Chunk]:
    """Split a document's text into plain fixed-size chunks, as ingestion would store them."""
    return Chunk.objects.bulk_create(
        Chunk(
            document=document,
            index=index,
            start=start,
            end=min(start + size, len(document.text)),
            text=document.text[start : start + size],
        )
        for index, start in enumerate(range(0, len(document.text), size))
    )


def run_task(owner, task_type: str, params: dict) -> Task:
    """Submit a task and run its one delivery here, as a worker would; return the row."""
    task = task_services.task_submit(owner=owner, task_type=task_type, params=params).task
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    runner.execute(task.id)
    return Task.objects.get(pk=task.pk)


def steps_of(task: Task) -> list[tuple[str, str]]:
    return [(step["name"], step["status"]) for step in task.steps]
