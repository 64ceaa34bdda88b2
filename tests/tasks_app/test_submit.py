"""Submission as one statement, and the outbox relay that hands committed rows to the broker."""

import json
import time

import pytest
from celery.utils.saferepr import saferepr
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from kombu.transport.redis import PublishBatch

from tasks_app import lifecycle, services
from tasks_app.models import Task, TaskEvent, TaskStatus
from tasks_app.relay import relay
from tests.conftest import broker_at

pytestmark = pytest.mark.django_db


def new_task(owner, **fields) -> Task:
    defaults = {"name": "sum", "task_type": "add", "params": {"x": 1, "y": 2}, "queue": "default"}
    return Task(owner=owner, **{**defaults, **fields})


def test_a_submission_is_one_statement_writing_the_row_and_its_first_event(user):
    task = new_task(user, idempotency_key="k1")

    with CaptureQueriesContext(connection) as queries:
        assert lifecycle.record_submitted(task, active_cap=5) is True

    assert len(queries) == 1
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.owner_id, row.params, row.idempotency_key) == (
        TaskStatus.PENDING,
        user.id,
        {"x": 1, "y": 2},
        "k1",
    )
    assert list(TaskEvent.objects.filter(task=row).values_list("from_status", "to_status")) == [
        ("", "pending")
    ]
    assert TaskEvent.objects.get(task=row).detail == {"task_type": "add"}
    assert task._state.adding is False


def test_at_the_cap_nothing_is_written_and_finished_tasks_do_not_count(user, other_user):
    for status in (TaskStatus.PENDING, TaskStatus.RUNNING):
        Task.objects.create(owner=user, task_type="add", status=status)
    Task.objects.create(owner=user, task_type="add", status=TaskStatus.SUCCEEDED)
    Task.objects.create(owner=other_user, task_type="add", status=TaskStatus.QUEUED)

    with pytest.raises(lifecycle.ActiveCapReached):
        lifecycle.record_submitted(new_task(user), active_cap=2)
    assert lifecycle.record_submitted(new_task(user), active_cap=3) is True

    assert Task.objects.filter(owner=user).count() == 4
    assert TaskEvent.objects.filter(task__owner=user).count() == 1


def test_a_key_another_submission_committed_first_returns_that_task(user):
    first = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 2})
    Task.objects.filter(pk=first.task.pk).update(idempotency_key="raced")
    # The pre-check looks the key up before the insert; here the row appears in between.
    late = new_task(user, idempotency_key="raced")

    assert lifecycle.record_submitted(late) is False
    assert Task.objects.filter(owner=user).count() == 1
    assert not TaskEvent.objects.filter(task_id=late.id).exists()


def test_system_submissions_have_no_cap(db):
    for _ in range(3):
        assert lifecycle.record_submitted(new_task(None), active_cap=None) is True
    assert Task.objects.filter(owner=None).count() == 3


def test_one_relay_round_queues_many_rows_in_one_statement_and_publishes_each(
    user, clean_redis, django_assert_num_queries
):
    ids = [
        services.task_submit(owner=user, task_type="add", params={"x": i, "y": 1}).task.id
        for i in range(3)
    ]
    Task.objects.filter(pk__in=ids).update(status=TaskStatus.PENDING, queued_at=None)
    clean_redis.flushdb()
    cancelled = services.task_submit(owner=user, task_type="add", params={"x": 0, "y": 0}).task
    Task.objects.filter(pk=cancelled.pk).update(status=TaskStatus.REVOKED)

    with django_assert_num_queries(1):
        handed = services.task_publish_many([*ids, cancelled.id])

    assert handed == 3
    assert set(Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}
    assert Task.objects.get(pk=cancelled.pk).status == TaskStatus.REVOKED
    headers = [json.loads(m)["headers"] for m in clean_redis.lrange("high_priority", 0, -1)]
    assert sorted(h["id"] for h in headers) == sorted(str(i) for i in ids)
    # The argument reprs are given, not computed; they read as Celery's own would.
    for h in headers:
        assert (h["argsrepr"], h["kwargsrepr"]) == (saferepr([h["id"]], 1024), saferepr({}, 1024))


def test_a_round_publishes_its_rows_in_one_pipelined_round_trip(user, clean_redis, monkeypatch):
    ids = [
        services.task_submit(owner=user, task_type="add", params={"x": i, "y": 1}).task.id
        for i in range(5)
    ]
    Task.objects.filter(pk__in=ids).update(status=TaskStatus.PENDING, queued_at=None)
    clean_redis.flushdb()
    executed = []
    real_flush = PublishBatch.flush

    def counting_flush(batch):
        executed.append(batch._buffered)
        return real_flush(batch)

    monkeypatch.setattr(PublishBatch, "flush", counting_flush)

    assert services.task_publish_many(ids) == 5

    assert [n for n in executed if n] == [5]
    assert clean_redis.llen("high_priority") == 5


def test_a_round_the_broker_refuses_goes_back_to_pending_for_the_sweeper(user, clean_redis):
    ids = [
        services.task_submit(owner=user, task_type="add", params={"x": i, "y": 1}).task.id
        for i in range(3)
    ]
    Task.objects.filter(pk__in=ids).update(status=TaskStatus.PENDING, queued_at=None)

    with broker_at("redis://127.0.0.1:1/0"):
        assert services.task_publish_many(ids) == 0

    assert set(Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
    for task_id in ids:
        assert list(
            TaskEvent.objects.filter(task_id=task_id, to_status="pending")
            .exclude(from_status="")
            .values_list("from_status", "detail")
        ) == [("queued", {"reason": "publish failed; the sweeper will publish it"})]
    assert clean_redis.llen("high_priority") == 0


@pytest.mark.django_db(transaction=True)
def test_a_busy_relay_gathers_the_next_rows_into_one_round(
    user, clean_redis, monkeypatch, settings
):
    settings.CASEWORK = {**settings.CASEWORK, "RELAY_ROUND_INTERVAL": 0.5}
    rounds = []
    real = services.task_publish_many
    monkeypatch.setattr(
        services, "task_publish_many", lambda ids: (rounds.append(len(ids)), real(ids))[1]
    )
    time.sleep(0.1)  # past the round interval of an earlier test's relay round

    def submit(x):
        return services.task_submit(owner=user, task_type="add", params={"x": x, "y": 0})

    started = time.monotonic()
    submit(0)
    assert relay.flush()
    first_round = time.monotonic() - started
    for x in range(1, 4):
        submit(x)
    assert relay.flush()

    assert first_round < 0.4  # an idle relay does not wait
    assert rounds == [1, 3]
    assert clean_redis.llen("high_priority") == 4


@pytest.mark.django_db(transaction=True)
def test_a_committed_submission_returns_before_the_hand_over_and_the_relay_publishes_it(
    user, clean_redis
):
    submitted = services.task_submit(owner=user, task_type="add", params={"x": 2, "y": 3})

    assert submitted.task.status == TaskStatus.PENDING
    assert relay.flush()
    row = Task.objects.get(pk=submitted.task.pk)
    assert row.status == TaskStatus.QUEUED and row.queued_at is not None
    assert [json.loads(m)["headers"]["id"] for m in clean_redis.lrange("high_priority", 0, -1)] == [
        str(row.id)
    ]
    assert list(
        TaskEvent.objects.filter(task=row).order_by("id").values_list("from_status", "to_status")
    ) == [("", "pending"), ("pending", "queued")]


@pytest.mark.django_db(transaction=True)
def test_rows_committed_together_are_all_handed_over(user, clean_redis):
    with transaction.atomic():
        tasks = [
            services.task_submit(owner=user, task_type="add", params={"x": i, "y": 0}).task
            for i in range(20)
        ]
    assert relay.flush()

    statuses = set(Task.objects.filter(owner=user).values_list("status", flat=True))
    assert statuses == {TaskStatus.QUEUED}
    assert clean_redis.llen("high_priority") == len(tasks)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_submission_hands_nothing_over(user, clean_redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 1})
        raise RuntimeError("rolled back")
    assert relay.flush()
    time.sleep(0.05)

    assert not Task.objects.exists()
    assert clean_redis.llen("high_priority") == 0
