"""Task counts kept by triggers on PostgreSQL (migration tasks_app 0009) and folded by the sweep.

Every test compares the counts with a GROUP BY over the task table itself, after the writes
each path makes: a submit, the worker's claim and finish statements, cancels, bulk and queryset
updates, single and set-based deletes, a retention prune, an owner's deletion, a TRUNCATE.
"""

import threading
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from tasks_app import counts, lifecycle, maintenance, selectors, services, sweepers
from tasks_app.models import Task, TaskStatus
from tasks_app.relay import relay
from tests.conftest import run_on_sqlite
from tests.factories import UserFactory
from tests.tasks_app.api_support import API, client_for, reset_throttles
from tests.tasks_app.ops_support import counted, finished_task, folded_rows, move_rows, truth

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def submit(owner, task_type="add") -> Task:
    return services.task_submit(owner=owner, task_type=task_type, params={"x": 1, "y": 2}).task


def queued(owner) -> Task:
    task = submit(owner)
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    return task


@pytest.mark.django_db
def test_the_counts_follow_every_kind_of_write(user, other_user):
    submitted = [submit(user) for _ in range(3)] + [submit(user, "example")]
    # A submit that finds its idempotency key taken inserts nothing and counts nothing.
    for _ in range(2):
        services.task_submit(
            owner=user, task_type="add", params={"x": 1, "y": 2}, idempotency_key="k"
        )
    assert counted(user.pk) == truth(user.pk) == {("pending", "add"): 4, ("pending", "example"): 1}

    ran = queued(user)
    lifecycle.claim(ran.id, worker="w1")
    lifecycle.finish_succeeded(ran.id, attempt=1, result={"ok": 1}, progress_fields={})
    failed = queued(user)
    lifecycle.claim(failed.id, worker="w1")
    lifecycle.finish_failed(failed.id, attempt=1, kind="exception", message="boom")
    services.task_cancel(task=submitted[0], by=user)
    assert counted(user.pk) == truth(user.pk)

    Task.objects.bulk_create(
        Task(owner=owner, name=f"t{i}", task_type="add", status=TaskStatus.SUCCEEDED)
        for owner in (user, other_user)
        for i in range(50)
    )
    Task.objects.filter(owner=user, name__in=["t1", "t2", "t3"]).update(status=TaskStatus.FAILED)
    # An UPDATE that changes none of owner, status and type adds no rows.
    moves_before = len(move_rows())
    Task.objects.filter(owner=user).update(progress=5)
    assert len(move_rows()) == moves_before
    Task.objects.filter(owner=user, name="t4").update(task_type="example")
    Task.objects.filter(owner=user, name="t5").update(owner=other_user)
    Task.objects.get(owner=user, name="t6").delete()
    Task.objects.filter(owner=user, name__startswith="t1").delete()

    for owner in (user, other_user):
        assert counted(owner.pk) == truth(owner.pk)
    read = selectors.task_counts(owner=user)
    assert read["total"] == Task.objects.filter(owner=user).count()
    assert read["by_type"] == {
        task_type: n
        for task_type, n in Task.objects.filter(owner=user)
        .values_list("task_type")
        .annotate(n=Count("*"))
        .order_by()
    }


@pytest.mark.django_db
def test_a_fold_leaves_one_row_per_status_and_type_with_the_same_sums(user, other_user):
    for _ in range(5):
        queued(user)
    Task.objects.filter(owner=user).update(status=TaskStatus.RUNNING)
    Task.objects.filter(owner=user).update(status=TaskStatus.SUCCEEDED)
    submit(other_user)
    gone = submit(other_user, "example")
    gone.delete()
    before = {owner.pk: counted(owner.pk) for owner in (user, other_user)}
    moves = len(move_rows())

    folded = counts.fold()

    assert folded == moves
    assert move_rows() == []
    assert folded_rows() == sorted(
        [(user.pk, "add", "succeeded", 5), (other_user.pk, "add", "pending", 1)]
    )
    assert {owner.pk: counted(owner.pk) for owner in (user, other_user)} == before
    assert counts.fold() == 0

    # A later fold adds to the counts in place, and deletes those that reach zero.
    Task.objects.filter(owner=other_user).update(status=TaskStatus.QUEUED)
    assert counts.fold() == 1
    assert folded_rows() == sorted(
        [(user.pk, "add", "succeeded", 5), (other_user.pk, "add", "queued", 1)]
    )


@pytest.mark.django_db
def test_the_sweep_folds_the_counts(user):
    for _ in range(3):
        submit(user)

    report = sweepers.sweep_all()

    assert report["counts_folded"] == 3
    assert (move_rows(), folded_rows()) == ([], [(user.pk, "add", "pending", 3)])


@pytest.mark.django_db
def test_a_deleted_owner_s_counts_sum_to_zero_and_fold_away():
    owner = UserFactory()
    for _ in range(4):
        submit(owner)
    owner_id = owner.pk

    owner.delete()
    counts.fold()

    assert [row for row in folded_rows() + move_rows() if row[0] == owner_id] == []


@pytest.mark.django_db
def test_a_retention_prune_adds_a_row_per_owner_status_and_type_not_per_task(user, other_user):
    for owner in (user, other_user):
        for i in range(30):
            finished_task(owner=owner, finished_at=NOW - timedelta(days=400 + i))
    finished_task(owner=user, finished_at=NOW)
    counts.fold()

    report = maintenance.prune_expired(now=NOW)

    assert report.tasks == 60
    for owner in (user, other_user):
        assert counted(owner.pk) == truth(owner.pk)
    # The prune's DELETE wrote one row for each (owner, status, type) it removed.
    assert move_rows() == sorted(
        [(owner.pk, "add", "succeeded", None, 30) for owner in (user, other_user)], key=repr
    )


@pytest.mark.django_db(transaction=True)
def test_a_truncate_of_the_task_table_empties_the_counts(user):
    submit(user)
    counts.fold()
    submit(user)
    assert folded_rows() and move_rows()

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tasks_app_task, tasks_app_taskevent")

    assert (folded_rows(), move_rows()) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_folds_while_writers_change_statuses_keep_the_sums(user, other_user):
    owners = {owner.pk: owner for owner in (user, other_user)}
    tasks = {owner.pk: [queued(owner).pk for _ in range(20)] for owner in (user, other_user)}
    stop = threading.Event()
    errors = []

    def write(owner_pk):
        try:
            statuses = [TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.SUCCEEDED]
            for round_no in range(30):
                for task_id in tasks[owner_pk]:
                    with transaction.atomic():
                        Task.objects.filter(pk=task_id).update(status=statuses[round_no % 3])
                submit(owners[owner_pk])
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    def fold():
        try:
            while not stop.is_set():
                counts.fold()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=write, args=(pk,)) for pk in tasks]
    folders = [threading.Thread(target=fold) for _ in range(2)]
    for thread in writers + folders:
        thread.start()
    for thread in writers:
        thread.join(120)
    # The relay thread publishes each submit after its commit (pending -> queued): wait for it.
    assert relay.flush()
    stop.set()
    for thread in folders:
        thread.join(30)

    assert not any(thread.is_alive() for thread in writers + folders)
    assert errors == []
    for owner_pk in tasks:
        assert counted(owner_pk) == truth(owner_pk)
    counts.fold()
    assert move_rows() == []
    assert len(folded_rows()) == len(truth(user.pk)) + len(truth(other_user.pk))


@pytest.mark.django_db(transaction=True)
def test_a_fold_while_another_holds_the_lock_does_nothing(user):
    Task.objects.bulk_create(Task(owner=user, name="t", task_type="add") for _ in range(2))
    held = threading.Event()
    release = threading.Event()

    def hold():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [counts.FOLD_LOCK_KEY])
            held.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        assert counts.fold() == 0
        # A read past the threshold tries the same lock: it neither waits nor folds.
        with patch.object(counts, "FOLD_AT_MOVES", 0):
            assert counts.of_owner(user.pk) == [("pending", "add", 2)]
        assert len(move_rows()) == 2
    finally:
        release.set()
        holder.join(10)
    assert counts.fold() == 2
    assert folded_rows() == [(user.pk, "add", "pending", 2)]


def read_counts(owner) -> dict[tuple[str, str], int]:
    return {(status, kind): n for status, kind, n in counts.of_owner(owner.pk) if n}


@pytest.mark.django_db
def test_a_fold_that_fails_during_a_read_leaves_the_answer_and_the_moves(user, caplog):
    Task.objects.bulk_create(Task(owner=user, name="t", task_type="add") for _ in range(3))
    reset_throttles()

    def failing_fold():
        raise OperationalError("canceling statement due to statement timeout")

    with (
        patch.object(counts, "FOLD_AT_MOVES", 0),
        patch.object(counts, "fold", failing_fold),
        caplog.at_level("WARNING", logger="tasks_app.counts"),
    ):
        response = client_for(user).get(f"{API}/tasks/count")

    assert response.status_code == 200
    assert response.json()["by_status"]["pending"] == 3
    assert "could not fold" in caplog.text
    assert len(move_rows()) == 3


@pytest.mark.django_db(transaction=True)
def test_a_count_read_that_sums_many_moves_folds_them_so_the_next_does_not(user, other_user):
    with patch.object(counts, "FOLD_AT_MOVES", 5):
        for _ in range(2):
            queued(user)  # two moves each: submitted, then queued
        submit(other_user)
        assert relay.flush()
        counts.fold()
        Task.objects.filter(owner=user).update(status=TaskStatus.RUNNING)
        submit(user)
        assert relay.flush()
        # Four of the user's moves since the fold: summed, not folded.
        assert read_counts(user) == truth(user.pk)
        assert len(move_rows()) == 4

        Task.objects.filter(owner=user, status=TaskStatus.RUNNING).update(
            status=TaskStatus.SUCCEEDED
        )
        submit(other_user, "example")
        assert relay.flush()
        moves = len(move_rows())
        read = read_counts(user)

    # Six of the user's moves: the read answered from them, then folded every owner's.
    assert moves == 6 + 2
    assert read == truth(user.pk) == {("succeeded", "add"): 2, ("queued", "add"): 1}
    assert move_rows() == []
    for owner in (user, other_user):
        assert counted(owner.pk) == truth(owner.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_tasks_already_there(user, other_user):
    executor = MigrationExecutor(connection)
    executor.migrate([("tasks_app", "0008_owner_type_order_and_partial_schedule")])
    try:
        with connection.cursor() as cursor:
            assert "tasks_app_taskcount" not in connection.introspection.table_names(cursor)
        Task.objects.bulk_create(
            Task(owner=owner, name=f"t{i}", task_type=kind, status=status)
            for owner in (user, other_user)
            for i, (kind, status) in enumerate(
                [("add", "succeeded")] * 7 + [("example", "failed")] * 2 + [("add", "queued")]
            )
        )
        Task.objects.create(owner=None, name="system", task_type="maintenance.prune")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    for owner_id in (user.pk, other_user.pk, None):
        assert counted(owner_id) == truth(owner_id)
    assert counted(user.pk) == {
        ("succeeded", "add"): 7,
        ("failed", "example"): 2,
        ("queued", "add"): 1,
    }


@pytest.mark.django_db
def test_the_count_api_reads_the_caller_s_counts_in_one_query(user, other_user):
    for owner in (user, other_user):
        for _ in range(3):
            submit(owner)
    Task.objects.filter(owner=user).update(status=TaskStatus.SUCCEEDED)
    submit(user, "example")
    reset_throttles()

    response = client_for(user).get(f"{API}/tasks/count")
    with CaptureQueriesContext(connection) as queries:
        read = selectors.task_counts(owner=user)

    assert len(queries) == 1 and "tasks_app_taskcount" in queries[0]["sql"]
    assert response.status_code == 200
    assert response.json() == read
    assert read["total"] == 4 and read["active"] == 1
    assert read["by_type"] == {"add": 3, "example": 1}
    assert read["by_status"]["succeeded"] == 3 and read["by_status"]["pending"] == 1


def test_on_sqlite_the_counts_are_read_from_the_task_table(tmp_path):
    script = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.db import connection
from tasks_app import counts, selectors
from tasks_app.models import Task
user = get_user_model().objects.create(username="u")
Task.objects.bulk_create(
    Task(owner=user, name="t", task_type=kind, status=status)
    for kind, status in [("add", "succeeded"), ("add", "queued"), ("example", "failed")]
)
print(json.dumps({
    "tables": "tasks_app_taskcount" in connection.introspection.table_names(),
    "counts": selectors.task_counts(owner=user),
    "folded": counts.fold(),
}))
"""
    out = run_on_sqlite(script, tmp_path)
    assert out["tables"] is False
    assert out["counts"]["total"] == 3
    assert out["counts"]["active"] == 1
    assert out["counts"]["by_type"] == {"add": 2, "example": 1}
    assert out["folded"] == 0
