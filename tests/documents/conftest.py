"""Fixtures of the documents tests: private storage and import roots, sample files, contexts."""

import pytest

from tasks_app import lifecycle, services
from tasks_app.context import TaskContext
from tasks_app.models import Task, TaskStatus


@pytest.fixture(autouse=True)
def documents_settings(settings, tmp_path):
    """Each test stores files under its own MEDIA_ROOT and imports from its own root."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    imports = tmp_path / "imports"
    imports.mkdir()
    settings.DOCUMENTS_IMPORT_ROOTS = [str(imports)]
    settings.DOCUMENTS_FETCH_ALLOWLIST = []
    settings.DOCUMENTS_FETCH_TIMEOUT = 5.0
    return settings


@pytest.fixture
def import_root(tmp_path):
    return tmp_path / "imports"


@pytest.fixture
def media_root(tmp_path):
    return tmp_path / "media"


def running_context(owner, task_type: str, params: dict) -> TaskContext:
    """A context for calling a task body directly, on a row claimed as a worker would."""
    task = services.task_submit(owner=owner, task_type=task_type, params=params).task
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    claimed = lifecycle.claim(task.id, worker="test")
    return TaskContext.for_task(claimed, min_write_interval=0)


@pytest.fixture
def run_body():
    """Call a registered type's body with validated params on a claimed row; return
    ``(ctx, result)``."""
    from tasks_app import registry

    def run(owner, task_type: str, params: dict, ctx: TaskContext | None = None):
        kind = registry.get(task_type)
        ctx = ctx or running_context(owner, task_type, params)
        return ctx, kind.body(ctx, **kind.validate(params))

    return run
