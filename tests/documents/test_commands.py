"""manage.py import_documents: submits a bulk import; refuses bad owners and paths."""

import pytest
from django.core.management import CommandError, call_command

from tasks_app.models import Task

pytestmark = pytest.mark.django_db


def test_import_documents_submits_a_bulk_import_for_the_owner(user, import_root, capsys):
    (import_root / "batch").mkdir()
    call_command("import_documents", "batch", "--owner", user.username, "--chunk-size", "500")
    task = Task.objects.get()
    assert (task.task_type, task.owner, task.queue) == (
        "documents.bulk_import",
        user,
        "low_priority",
    )
    assert task.params == {"path": "batch", "split": False, "chunk_size": 500, "chunk_overlap": 200}
    assert f"submitted documents.bulk_import task {task.id}" in capsys.readouterr().out


def test_import_documents_refuses_a_path_outside_the_roots(user, tmp_path):
    with pytest.raises(CommandError, match="outside the allowed import directories"):
        call_command("import_documents", str(tmp_path), "--owner", user.username)
    assert Task.objects.count() == 0


def test_import_documents_needs_a_known_owner(import_root):
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("import_documents", ".", "--owner", "nobody")


def test_import_documents_validates_the_split_options(user, import_root):
    with pytest.raises(CommandError, match="chunk_overlap"):
        call_command(
            "import_documents",
            ".",
            "--owner",
            user.username,
            "--chunk-size",
            "10",
            "--chunk-overlap",
            "10",
        )
