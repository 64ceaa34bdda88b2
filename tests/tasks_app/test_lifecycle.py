"""The state machine: claims, guarded terminal transitions, cancellation, lease recovery."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app import lifecycle, services
from tasks_app.models import ErrorKind, Task, TaskEvent, TaskStatus

pytestmark = pytest.mark.django_db


def submit(owner, task_type="add", params=None, **kwargs) -> Task:
    return services.task_submit(
        owner=owner, task_type=task_type, params=params or {"x": 1, "y": 2}, **kwargs
    ).task


def queued(owner, **kwargs) -> Task:
    task = submit(owner, **kwargs)
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    return task


def statuses(task) -> list[tuple[str, str]]:
    return list(
        TaskEvent.objects.filter(task=task).order_by("id").values_list("from_status", "to_status")
    )


def test_submit_writes_a_pending_row_and_its_event(user):
    task = submit(user, name="sum")

    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING
    assert task.params == {"x": 1.0, "y": 2.0}
    assert task.queue == "high_priority"
    assert task.max_retries == 0
    assert statuses(task) == [("", "pending")]


def test_claim_starts_the_first_attempt_once(user):
    task = queued(user)

    first = lifecycle.claim(task.id, worker="w1")
    second = lifecycle.claim(task.id, worker="w2")

    assert first.status == TaskStatus.RUNNING
    assert first.attempts == 1
    assert first.worker == "w1"
    assert second is None
    assert statuses(task) == [("", "pending"), ("queued", "running")]


def test_claim_of_a_finished_task_does_nothing(user):
    task = queued(user)
    running = lifecycle.claim(task.id)
    lifecycle.finish_succeeded(task.id, attempt=1, result={"ok": 1}, progress_fields={})

    assert running is not None
    assert lifecycle.claim(task.id) is None
    task.refresh_from_db()
    assert (task.status, task.attempts, task.result) == (TaskStatus.SUCCEEDED, 1, {"ok": 1})


def test_finish_from_a_stale_attempt_is_refused(user):
    task = queued(user)
    lifecycle.claim(task.id)

    assert lifecycle.finish_succeeded(task.id, attempt=2, result={}, progress_fields={}) is None
    assert Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING


def test_cancel_of_a_queued_task_revokes_it_and_it_never_starts(user):
    task = queued(user)

    outcome = services.task_cancel(task=task, by=user)

    assert outcome == services.CancelOutcome.REVOKED
    assert lifecycle.claim(task.id) is None
    task.refresh_from_db()
    assert task.status == TaskStatus.REVOKED
    assert task.cancel_requested_by == user
    assert task.error_kind == ErrorKind.CANCELLED
    assert task.attempts == 0


def test_cancel_of_a_running_task_requests_and_the_first_terminal_write_wins(user):
    task = queued(user)
    lifecycle.claim(task.id)

    outcome = services.task_cancel(task=task, by=user)
    finished = lifecycle.finish_succeeded(task.id, attempt=1, result={"r": 1}, progress_fields={})
    revoked = lifecycle.finish_revoked(task.id, attempt=1, reason="late")

    assert outcome == services.CancelOutcome.REQUESTED
    assert finished is not None
    assert revoked is None
    assert Task.objects.get(pk=task.pk).status == TaskStatus.SUCCEEDED


def test_cancel_of_a_finished_task_is_refused(user):
    task = queued(user)
    lifecycle.claim(task.id)
    lifecycle.finish_failed(task.id, attempt=1, kind=ErrorKind.EXCEPTION, message="boom")

    with pytest.raises(services.TaskNotCancellable):
        services.task_cancel(task=task, by=user)


def test_cancelling_a_parent_cancels_its_active_children(user):
    parent = queued(user)
    child = queued(user, parent=parent)
    done_child = queued(user, parent=parent)
    lifecycle.claim(done_child.id)
    lifecycle.finish_succeeded(done_child.id, attempt=1, result=None, progress_fields={})

    services.task_cancel(task=parent, by=user)

    assert Task.objects.get(pk=child.pk).status == TaskStatus.REVOKED
    assert Task.objects.get(pk=done_child.pk).status == TaskStatus.SUCCEEDED


def test_a_live_lease_blocks_a_second_delivery_and_an_expired_one_is_taken_over(user):
    task = queued(user, task_type="test.counted", params={"key": "k"})
    lifecycle.claim(task.id, worker="dead")
    assert lifecycle.claim(task.id, worker="other") is None

    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    taken = lifecycle.claim(task.id, worker="other")

    assert taken.attempts == 2
    assert taken.worker == "other"
    event = TaskEvent.objects.filter(task=task).last()
    assert event.detail == {"worker": "other", "recovered": "worker_lost"}


def test_an_expired_lease_with_no_attempts_left_fails_as_worker_lost(user):
    task = queued(user)  # add: max_retries 0
    lifecycle.claim(task.id)
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    assert lifecycle.claim(task.id) is None
    task.refresh_from_db()
    assert (task.status, task.error_kind) == (TaskStatus.FAILED, ErrorKind.WORKER_LOST)


def test_same_idempotency_key_returns_the_existing_task(user, other_user):
    first = services.task_submit(
        owner=user, task_type="add", params={"x": 1, "y": 1}, idempotency_key="abc"
    )
    again = services.task_submit(
        owner=user, task_type="add", params={"x": 1, "y": 1}, idempotency_key="abc"
    )
    other = services.task_submit(
        owner=other_user, task_type="add", params={"x": 1, "y": 1}, idempotency_key="abc"
    )

    assert first.created and not again.created and other.created
    assert again.task.pk == first.task.pk
    assert other.task.pk != first.task.pk


def test_retry_creates_a_linked_task_with_edited_params(user):
    task = queued(user)
    lifecycle.claim(task.id)
    lifecycle.finish_failed(task.id, attempt=1, kind=ErrorKind.EXCEPTION, message="x")
    task.refresh_from_db()

    retry = services.task_retry(task=task, by=user, params={"y": 5})

    assert retry.parent_id == task.id
    assert retry.params == {"x": 1.0, "y": 5.0}
    assert retry.status == TaskStatus.PENDING


def test_retry_of_a_successful_task_is_refused(user):
    task = queued(user)
    lifecycle.claim(task.id)
    lifecycle.finish_succeeded(task.id, attempt=1, result=None, progress_fields={})
    task.refresh_from_db()

    with pytest.raises(services.TaskNotRetryable):
        services.task_retry(task=task, by=user)


def test_update_reroutes_a_queued_task_and_is_refused_after_start(user):
    task = submit(user)
    updated = services.task_update(task=task, name="renamed", priority=1)
    assert (updated.name, updated.priority, updated.queue) == ("renamed", 1, "low_priority")

    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    lifecycle.claim(task.id)
    with pytest.raises(services.TaskNotEditable):
        services.task_update(task=task, priority=4)


def test_claim_returns_what_the_runner_reads_and_loads_the_rest_on_access(
    user, django_assert_num_queries
):
    task = queued(user, params={"x": 3, "y": 4})
    Task.objects.filter(pk=task.pk).update(checkpoint={"done": 2}, progress_message="resumed")

    with django_assert_num_queries(1):
        claimed = lifecycle.claim(task.id, worker="host:1 node")
    with django_assert_num_queries(0):
        read = (
            claimed.status,
            claimed.attempts,
            claimed.task_type,
            claimed.params,
            claimed.max_retries,
            claimed.checkpoint,
            claimed.steps,
            claimed.progress_message,
            claimed.owner_id,
        )
    assert read == (
        TaskStatus.RUNNING,
        1,
        "add",
        {"x": 3.0, "y": 4.0},
        0,
        {"done": 2},
        [],
        "resumed",
        user.id,
    )
    # A field the statement did not return is loaded when read, never wrong.
    with django_assert_num_queries(1):
        assert claimed.worker == "host:1 node"


def test_a_result_is_encoded_once_and_stored_as_django_encodes_it(user):
    import datetime
    from decimal import Decimal

    task = queued(user)
    lifecycle.claim(task.id)
    result = {"when": datetime.date(2026, 12, 6), "amount": Decimal("12.50"), "n": [1, 2]}

    done = lifecycle.finish_succeeded(task.id, attempt=1, result=result, progress_fields={})

    expected = {"when": "2026-12-06", "amount": "12.50", "n": [1, 2]}
    assert done.result == expected
    assert Task.objects.get(pk=task.pk).result == expected


def test_a_result_json_cannot_hold_is_refused_with_a_message_naming_the_problem():
    with pytest.raises(TypeError, match="task result is not JSON-serialisable: .*object"):
        lifecycle.EncodedResult.of({"handle": object()})
