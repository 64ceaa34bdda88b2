"""References into the task table while retention prunes it (PostgreSQL, migration 0007).

The four references into tasks_app_task (Task.parent, Document.ingest_task, Export.task,
Artifact.task) are checked by triggers instead of FOREIGN KEY constraints: a row pointing at a
task is checked when it is written, and a DELETE of tasks once per statement. These tests hold
the rule itself (nothing may point at a task that is gone), and the races a prune meets: a
reference committed while the prune waits for a task's lock, a reference made while the prune
holds it, a legal hold placed meanwhile.
"""

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models.deletion import get_candidate_relations_to_delete

from documents.models import Document, Export
from litigation.models import Artifact
from tasks_app import maintenance
from tasks_app.models import Task, TaskEvent
from tests.conftest import run_on_sqlite, wait_for
from tests.tasks_app.ops_support import finished_task

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=60)


def point_parent(task_id, owner):
    return finished_task(owner=owner, finished_at=NOW, parent_id=task_id)


def point_document(task_id, owner):
    return Document.objects.create(owner=owner, title="d", ingest_task_id=task_id)


def point_export(task_id, owner):
    export = Export(owner=owner, task_id=task_id, expires_at=NOW)
    export.file.save("export.zip", ContentFile(b"zip"), save=True)
    return export


def point_artifact(task_id, owner):
    artifact = Artifact(task_id=task_id, kind="report", format="md")
    artifact.file.save("report.md", ContentFile(b"# report"), save=True)
    return artifact


# name: (make a row pointing at a task, its pointing column, what a prune does to the row)
REFERENCES = {
    "parent": (point_parent, "parent_id", "unlinked"),
    "document": (point_document, "ingest_task_id", "unlinked"),
    "export": (point_export, "task_id", "deleted"),
    "artifact": (point_artifact, "task_id", "deleted"),
}


def check_deferred_now():
    """Run the checks a commit would run (they are deferred, as Django's constraints are)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def delete_task_by_sql(task_id):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tasks_app_task WHERE id = %s", [task_id])


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(params=["sql", "orm"])
def prune_path(request, monkeypatch):
    """The one-statement chunk, and Django's collector (SQLite's path, PostgreSQL's fallback)."""
    if request.param == "orm":
        monkeypatch.setattr(maintenance, "_set_based", lambda: False)
    return request.param


def prune_waiting(prune_path: str):
    """A predicate: the prune's pick waits for a row lock."""
    pick = "WITH doomed" if prune_path == "sql" else 'SELECT "tasks_app_task"."id"'
    return lambda: waiting_for_a_lock(pick)


# --- the rule ------------------------------------------------------------------------------


def test_every_reference_into_the_task_table_is_one_the_triggers_check():
    """A new ForeignKey to Task needs its check in a migration like tasks_app 0007 (or it gets
    a FOREIGN KEY constraint, and a prune pays a check per deleted row for it)."""
    relations = {
        (rel.related_model._meta.label, rel.field.name)
        for rel in get_candidate_relations_to_delete(Task._meta)
    }
    assert relations == {
        ("tasks_app.Task", "parent"),
        ("documents.Document", "ingest_task"),
        ("documents.Export", "task"),
        ("litigation.Artifact", "task"),
        ("tasks_app.TaskEvent", "task"),  # no database constraint (see the model)
    }


@pytest.mark.django_db
def test_no_foreign_key_constraint_points_at_the_task_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = 'tasks_app_task'::regclass"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s "
            "ORDER BY tgname",
            ["%task%"],
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "documents_document_ingest_task_id_insert",
            "documents_document_ingest_task_id_update",
            "documents_export_task_id_insert",
            "documents_export_task_id_update",
            "litigation_artifact_task_id_insert",
            "litigation_artifact_task_id_update",
            # The task counts (migration 0009; tests/tasks_app/test_task_counts.py).
            "tasks_app_task_counted_delete",
            "tasks_app_task_counted_insert",
            "tasks_app_task_counted_truncate",
            "tasks_app_task_counted_update",
            "tasks_app_task_deleted",
            "tasks_app_task_id_unchanged",
            "tasks_app_task_parent_id_insert",
            "tasks_app_task_parent_id_update",
            "tasks_app_task_truncated",
        ]


@pytest.mark.django_db
@pytest.mark.parametrize("name", REFERENCES)
def test_a_row_cannot_point_at_a_task_that_does_not_exist(name, user, media):
    point, column, _ = REFERENCES[name]
    missing = uuid.uuid4()

    with pytest.raises(IntegrityError, match=f"Key \\({column}\\)=\\({missing}\\) is not present"):
        with transaction.atomic():
            point(missing, user)
            check_deferred_now()

    task = finished_task(owner=user)
    row = point(task.id, user)
    check_deferred_now()
    with pytest.raises(IntegrityError, match="is not present in table"):
        with transaction.atomic():
            type(row).objects.filter(pk=row.pk).update(**{column: missing})
            check_deferred_now()
    row.refresh_from_db()
    assert getattr(row, column) == task.id


@pytest.mark.django_db
@pytest.mark.parametrize("name", REFERENCES)
def test_a_task_something_points_at_cannot_be_deleted_or_truncated(name, user, media):
    point, _, _ = REFERENCES[name]
    task = finished_task(owner=user, finished_at=OLD)
    row = point(task.id, user)
    check_deferred_now()  # TRUNCATE refuses to run with checks still pending
    table = type(row)._meta.db_table

    with pytest.raises(IntegrityError, match=f'still referenced from table "{table}"'):
        with transaction.atomic():
            delete_task_by_sql(task.id)
            check_deferred_now()
    if table != "tasks_app_task":  # truncating the tasks takes their children along
        with pytest.raises(IntegrityError, match=f'rows of "{table}" point at tasks'):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE tasks_app_task")

    assert Task.objects.filter(pk=task.id).exists()
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_a_task_id_is_never_updated(user):
    task = finished_task(owner=user)
    with pytest.raises(IntegrityError, match="the id of a task is never updated"):
        with transaction.atomic():
            Task.objects.filter(pk=task.pk).update(id=uuid.uuid4())
    assert Task.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db
def test_a_reference_deleted_with_its_task_in_one_transaction_is_not_checked(user, media):
    """As PostgreSQL's own check: the deferred check of a row that is gone by then is skipped."""
    task = finished_task(owner=user)
    child = point_parent(task.id, user)
    document = point_document(task.id, user)
    document.delete()
    child.delete()
    delete_task_by_sql(task.id)
    check_deferred_now()
    assert not Task.objects.filter(pk__in=[task.id, child.id]).exists()


@pytest.mark.django_db
def test_deleting_a_task_with_its_children_in_one_statement_is_allowed(user):
    parent = finished_task(owner=user, finished_at=OLD)
    child = point_parent(parent.id, user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tasks_app_task WHERE id IN (%s, %s)", [parent.id, child.id])
    check_deferred_now()
    assert not Task.objects.filter(pk__in=[parent.id, child.id]).exists()


# --- races ---------------------------------------------------------------------------------


def in_thread(target, results: dict, key: str) -> threading.Thread:
    """Run `target` on its own database connection; its return value or exception lands in
    results[key]."""

    def run():
        try:
            results[key] = target()
        except Exception as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def waiting_for_a_lock(query_prefix: str) -> bool:
    """True when a backend of this database waits for a lock while running such a query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [f"{query_prefix}%"],
        )
        return cursor.fetchone()[0] > 0


def prune_while_a_transaction_holds(change, prune_path: str) -> dict:
    """Run `change` in a transaction that commits only once the prune waits for its locks;
    return the change's result ("held") and the prune's report ("report")."""
    locked, release = threading.Event(), threading.Event()
    results: dict = {}

    def hold():
        with transaction.atomic():
            held = change()
            locked.set()
            release.wait(30)
        return held

    holder = in_thread(hold, results, "held")
    assert locked.wait(30)
    pruner = in_thread(lambda: maintenance.prune_expired(now=NOW), results, "report")
    wait_for(prune_waiting(prune_path), message="the prune to wait for the task")
    release.set()
    holder.join(30)
    pruner.join(60)
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", REFERENCES)
def test_a_reference_committed_while_the_prune_waits_for_its_task_is_unlinked_or_deleted(
    name, user, media, caplog, prune_path
):
    """The prune statement's snapshot predates the reference; the check after its DELETE sees
    it, the chunk is retried, and the retry unlinks or deletes it (and removes its file). The
    collector reads the related rows after its lock, so it finds the reference at once."""
    caplog.set_level(logging.INFO, logger="tasks_app.maintenance")
    point, column, outcome = REFERENCES[name]
    task = finished_task(owner=user, finished_at=OLD)
    TaskEvent.objects.create(task=task, to_status="succeeded")

    def refer():
        row = point(task.id, user)
        check_deferred_now()  # the check's key-share lock on the task, now
        return row

    results = prune_while_a_transaction_holds(refer, prune_path)

    row, report = results["held"], results["report"]
    assert isinstance(report, maintenance.PruneReport), report
    assert (report.tasks, report.files) == (1, 1 if outcome == "deleted" else 0)
    retries = [r.message for r in caplog.records if "retrying" in r.message]
    assert retries == (
        ["prune chunk met a reference committed meanwhile; retrying"] if prune_path == "sql" else []
    )
    assert not Task.objects.filter(pk=task.id).exists()
    assert not TaskEvent.objects.filter(task_id=task.id).exists()
    model = type(row)
    if outcome == "unlinked":
        assert model.objects.filter(pk=row.pk).values_list(column, flat=True).get() is None
    else:
        assert not model.objects.filter(pk=row.pk).exists()
        assert not (media / row.file.name).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", REFERENCES)
def test_a_reference_to_a_task_the_prune_holds_fails_once_the_prune_commits(name, user, media):
    point, column, _ = REFERENCES[name]
    task = finished_task(owner=user, finished_at=OLD)
    pruned, commit = threading.Event(), threading.Event()
    results = {}

    def prune():
        with transaction.atomic():
            report = maintenance.prune_expired(now=NOW)
            pruned.set()
            commit.wait(30)
        return report

    def refer():
        with transaction.atomic():
            point(task.id, user)
            check_deferred_now()

    pruner = in_thread(prune, results, "report")
    assert pruned.wait(30)
    referrer = in_thread(refer, results, "refer")
    wait_for(lambda: waiting_for_a_lock("SET CONSTRAINTS"), message="the reference's check")
    commit.set()
    pruner.join(30)
    referrer.join(30)

    assert results["report"].tasks == 1
    assert isinstance(results["refer"], IntegrityError)
    assert f"Key ({column})=({task.id}) is not present" in str(results["refer"])
    assert not Task.objects.filter(pk=task.id).exists()
    assert not Task.objects.filter(parent_id=task.id).exists()
    assert not Document.objects.filter(ingest_task_id=task.id).exists()
    assert not Export.objects.filter(task_id=task.id).exists()
    assert not Artifact.objects.filter(task_id=task.id).exists()


@pytest.mark.django_db(transaction=True)
def test_a_legal_hold_placed_while_the_prune_waits_keeps_the_task_and_its_events(user, prune_path):
    held = finished_task(owner=user, finished_at=OLD)
    expired = finished_task(owner=user, finished_at=OLD - timedelta(days=1))
    for task in (held, expired):
        TaskEvent.objects.create(task=task, to_status="running")
        TaskEvent.objects.create(task=task, to_status="succeeded")

    results = prune_while_a_transaction_holds(
        lambda: Task.objects.filter(pk=held.pk).update(legal_hold=True), prune_path
    )

    assert results["report"].tasks == 1
    assert list(Task.objects.values_list("id", "legal_hold")) == [(held.id, True)]
    assert TaskEvent.objects.filter(task_id=held.id).count() == 2
    assert not TaskEvent.objects.filter(task_id=expired.id).exists()


@pytest.mark.django_db(transaction=True)
def test_tasks_are_deleted_only_at_read_committed(user):
    """At REPEATABLE READ the check after a DELETE would use the transaction's snapshot and
    could miss a reference committed since; such a DELETE is refused."""
    task = finished_task(owner=user, finished_at=OLD)
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]
    ) as other:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="only at READ COMMITTED"):
            other.execute("DELETE FROM tasks_app_task WHERE id = %s", [task.id])
        other.rollback()
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("DELETE FROM tasks_app_task WHERE id = %s", [uuid.uuid4()])  # nothing
        other.rollback()
        other.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        assert other.execute("DELETE FROM tasks_app_task WHERE id = %s", [task.id]).rowcount == 1
        other.commit()
    assert not Task.objects.filter(pk=task.id).exists()


# --- SQLite --------------------------------------------------------------------------------


def test_sqlite_keeps_its_foreign_keys_and_prunes_through_the_collector(tmp_path):
    """The embedded default in a process of its own: migrations leave SQLite's FOREIGN KEY
    constraints in place, a dangling reference is refused at commit, and a prune unlinks the
    children and documents, deletes exports and artifacts with their files, keeps held and
    recent tasks."""
    script = r"""
import json, uuid
from datetime import UTC, datetime, timedelta
import django
django.setup()
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models.deletion import get_candidate_relations_to_delete
from django.conf import settings
from documents.models import Document, Export
from litigation.models import Artifact
from tasks_app import maintenance
from tasks_app.models import Task, TaskEvent
from tests.tasks_app.ops_support import finished_task

call_command("migrate", verbosity=0)
now = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
user = get_user_model().objects.create(username="u")
old = finished_task(owner=user, finished_at=now - timedelta(days=60))
TaskEvent.objects.create(task=old, to_status="succeeded")
held = finished_task(owner=user, finished_at=now - timedelta(days=60), legal_hold=True)
recent = finished_task(owner=user, finished_at=now - timedelta(days=1))
child = finished_task(owner=user, finished_at=now, parent=old)
document = Document.objects.create(owner=user, title="d", ingest_task=old)
export = Export(owner=user, task=old, expires_at=now)
export.file.save("a.zip", ContentFile(b"zip"), save=True)
artifact = Artifact(task=old, kind="report", format="md")
artifact.file.save("r.md", ContentFile(b"# r"), save=True)
files = [export.file.path, artifact.file.path]
out = {"vendor": connection.vendor, "set_based": maintenance._set_based()}
with connection.cursor() as cursor:
    out["fks"] = sorted(
        [table, row[3]]
        for table in ("tasks_app_task", "documents_document", "documents_export",
                      "litigation_artifact")
        for row in cursor.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        if row[2] == "tasks_app_task"
    )
try:
    with transaction.atomic():
        Document.objects.create(owner=user, title="x", ingest_task_id=uuid.uuid4())
    out["dangling"] = "accepted"
except IntegrityError:
    out["dangling"] = "refused"
report = maintenance.prune_expired(now=now)
document.refresh_from_db()
child.refresh_from_db()
out.update(
    report=report.as_dict(),
    tasks=sorted(str(t) for t in Task.objects.values_list("id", flat=True)),
    expected=sorted(str(t.id) for t in (held, recent, child)),
    events=TaskEvent.objects.count(),
    child_parent=child.parent_id,
    document_task=document.ingest_task_id,
    exports=Export.objects.count(),
    artifacts=Artifact.objects.count(),
    files=[__import__("os").path.exists(f) for f in files],
)
print(json.dumps(out, default=str))
"""
    out = run_on_sqlite(script, tmp_path)
    assert (out["vendor"], out["set_based"]) == ("sqlite", False)
    assert out["fks"] == [
        ["documents_document", "ingest_task_id"],
        ["documents_export", "task_id"],
        ["litigation_artifact", "task_id"],
        ["tasks_app_task", "parent_id"],
    ]
    assert out["dangling"] == "refused"
    assert out["report"] == {
        "tasks": 1,
        "results": 0,
        "files": 2,
        "by_type": {"default": 1},
        "dry_run": False,
    }
    assert out["tasks"] == out["expected"]
    assert (out["events"], out["child_parent"], out["document_task"]) == (0, None, None)
    assert (out["exports"], out["artifacts"], out["files"]) == (0, 0, [False, False])
