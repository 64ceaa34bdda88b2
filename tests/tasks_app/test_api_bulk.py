"""Bulk actions, the caller's counters and stats, and the shortcuts the users' scripts call."""

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tasks_app import registry, selectors
from tasks_app.apis import bulk
from tasks_app.models import Task, TaskStatus

from .api_support import API, assert_error, client_for, in_status, reset_throttles, submit

pytestmark = pytest.mark.django_db

BULK = f"{API}/tasks/bulk"


@pytest.fixture(autouse=True)
def _no_throttle_history():
    reset_throttles()


@pytest.fixture
def api(user):
    return client_for(user)


# --- bulk -----------------------------------------------------------------------------------


def test_bulk_cancel_by_ids_revokes_the_unfinished_ones_and_counts(api, user):
    queued = in_status(user, TaskStatus.QUEUED)
    pending = submit(user)
    done = in_status(user, TaskStatus.SUCCEEDED)

    response = api.post(
        BULK,
        {"action": "cancel", "ids": [str(queued.id), str(pending.id), str(done.id)]},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "action": "cancel",
        "dry_run": False,
        "matched": 3,
        "eligible": 2,
        "applied": 2,
        "skipped": 1,
        "truncated": False,
        "limit": bulk.BULK_LIMIT,
    }
    statuses = dict(Task.objects.values_list("id", "status"))
    assert statuses == {queued.id: "revoked", pending.id: "revoked", done.id: "succeeded"}


def test_bulk_is_owner_scoped_foreign_ids_match_nothing(api, other_user):
    theirs = in_status(other_user, TaskStatus.QUEUED)

    response = api.post(BULK, {"action": "delete", "ids": [str(theirs.id)]}, format="json")

    assert response.json()["matched"] == 0
    assert Task.objects.filter(pk=theirs.pk).exists()


def test_bulk_dry_run_counts_and_changes_nothing(api, user, other_user):
    failed = [in_status(user, TaskStatus.FAILED) for _ in range(2)]
    in_status(user, TaskStatus.SUCCEEDED)
    in_status(other_user, TaskStatus.FAILED)

    response = api.post(
        BULK,
        {"action": "retry", "filter": {"status": "failed,succeeded"}, "dry_run": True},
        format="json",
    )

    body = response.json()
    assert (body["matched"], body["eligible"], body["applied"], body["skipped"]) == (3, 2, 0, 1)
    assert Task.objects.filter(parent__in=failed).count() == 0


def test_bulk_retry_by_filter_starts_linked_tasks(api, user):
    failed = in_status(user, TaskStatus.FAILED)
    revoked = in_status(user, TaskStatus.REVOKED)

    body = api.post(
        BULK, {"action": "retry", "filter": {"status": "failed,revoked"}}, format="json"
    ).json()

    assert body["applied"] == 2
    children = Task.objects.filter(parent__in=[failed, revoked])
    assert sorted(str(t.id) for t in children) == sorted(body["new_task_ids"])


def test_bulk_delete_by_filter_removes_matching_rows(api, user):
    keep = submit(user, task_type="example", params={"seconds": 1})
    gone = [submit(user) for _ in range(2)]

    body = api.post(BULK, {"action": "delete", "filter": {"task_type": "add"}}, format="json")

    assert body.json()["applied"] == 2
    assert list(Task.objects.values_list("id", flat=True)) == [keep.id]
    assert not Task.objects.filter(pk__in=[t.pk for t in gone]).exists()


def test_bulk_acts_on_at_most_the_limit_and_says_so(api, user, monkeypatch):
    monkeypatch.setattr(bulk, "BULK_LIMIT", 2)
    for _ in range(3):
        submit(user)

    body = api.post(BULK, {"action": "cancel", "filter": {}}, format="json").json()

    assert (body["matched"], body["applied"], body["truncated"], body["limit"]) == (2, 2, True, 2)
    assert Task.objects.filter(status=TaskStatus.REVOKED).count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"action": "explode", "ids": []}, "action"),
        ({"action": "cancel"}, "ids"),
        ({"action": "cancel", "ids": [str(uuid.uuid4())], "filter": {}}, "ids"),
        ({"action": "cancel", "ids": ["not-a-uuid"]}, "ids.0"),
        ({"action": "cancel", "filter": {"colour": "red"}}, "filter.colour"),
        ({"action": "cancel", "filter": {"status": "done"}}, "filter.status"),
    ],
)
def test_bulk_refuses_bad_input_naming_the_field(api, payload, field):
    body = assert_error(api.post(BULK, payload, format="json"), 400, "invalid")

    assert field in body["fields"], body


def test_bulk_refuses_more_ids_than_the_limit(api):
    ids = [str(uuid.uuid4()) for _ in range(bulk.BULK_LIMIT + 1)]

    body = assert_error(
        api.post(BULK, {"action": "cancel", "ids": ids}, format="json"), 400, "invalid"
    )

    assert "ids" in body["fields"]


@override_settings(CASEWORK_MAX_ACTIVE_TASKS_PER_USER=2)
def test_bulk_retry_past_the_active_cap_is_a_429(api, user):
    for _ in range(3):
        in_status(user, TaskStatus.FAILED)

    response = api.post(BULK, {"action": "retry", "filter": {"status": "failed"}}, format="json")

    assert_error(response, 429, "active_task_limit")
    assert Task.objects.filter(parent__isnull=False).count() == 0


# --- count and stats --------------------------------------------------------------------------


def test_count_is_by_status_and_type_for_the_caller_only(api, user, other_user):
    submit(user)
    in_status(user, TaskStatus.RUNNING)
    in_status(user, TaskStatus.FAILED, task_type="example", params={"seconds": 1})
    submit(other_user)

    body = api.get(f"{API}/tasks/count").json()

    assert body == {
        "total": 3,
        "active": 2,
        "by_status": {
            "pending": 1,
            "queued": 0,
            "running": 1,
            "retrying": 0,
            "succeeded": 0,
            "failed": 1,
            "revoked": 0,
        },
        "by_type": {"add": 2, "example": 1},
    }


def test_stats_summarise_the_last_hour(api, user, other_user, monkeypatch):
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: {"high_priority": 3})
    monkeypatch.setattr(selectors, "workers_online", lambda: 2)
    now = timezone.now()
    for seconds in (1, 2, 3, 4, 10):
        task = in_status(user, TaskStatus.SUCCEEDED)
        Task.objects.filter(pk=task.pk).update(
            started_at=now - timedelta(seconds=seconds), finished_at=now
        )
    in_status(user, TaskStatus.FAILED)
    old = in_status(user, TaskStatus.FAILED)
    Task.objects.filter(pk=old.pk).update(finished_at=now - timedelta(hours=2))
    in_status(other_user, TaskStatus.FAILED)

    body = api.get(f"{API}/tasks/stats").json()

    assert (body["succeeded"], body["failed"], body["revoked"], body["finished"]) == (5, 1, 0, 6)
    assert body["failure_rate"] == round(1 / 6, 4)
    assert body["duration_by_type"] == {
        "add": {"count": 5, "mean_seconds": 4.0, "p95_seconds": 10.0}
    }
    assert len(body["throughput_per_minute"]) == 60
    assert sum(m["finished"] for m in body["throughput_per_minute"]) == 6
    assert body["queue_depth"] == {"high_priority": 3}
    assert body["workers_online"] == 2


def test_stats_report_null_when_the_broker_is_down(api, monkeypatch):
    from config.celery_app import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")

    body = api.get(f"{API}/tasks/stats").json()

    assert (body["queue_depth"], body["workers_online"]) == (None, None)
    assert body["failure_rate"] is None


def test_queue_depth_reads_the_brokers_queues(clean_redis):
    clean_redis.rpush("low_priority", b"m1", b"m2")

    depths = selectors.broker_queue_depths()

    assert depths == {"high_priority": 0, "medium_priority": 0, "low_priority": 2, "default": 0}


# --- shortcuts ------------------------------------------------------------------------------


def test_example_shortcut_takes_its_inputs_from_the_query(api, user):
    response = api.post(f"{API}/tasks/example?name=test&seconds=5")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["task_type"], body["params"], body["name"]) == (
        "example",
        {"name": "test", "seconds": 5},
        "test",
    )
    assert body["task_system"] == "celery"


def test_add_shortcut_takes_x_and_y_from_the_body_or_the_query(api):
    from_body = api.post(f"{API}/tasks/add", {"x": 2, "y": 3}, format="json")
    from_query = api.post(f"{API}/tasks/add?x=4&y=5")

    assert from_body.status_code == from_query.status_code == 201
    assert from_body.json()["params"] == {"x": 2.0, "y": 3.0}
    assert from_query.json()["params"] == {"x": 4.0, "y": 5.0}


def test_add_shortcut_names_a_missing_or_bad_input(api):
    body = assert_error(api.post(f"{API}/tasks/add?x=oops"), 400, "invalid")

    assert set(body["fields"]) == {"x", "y"}
    assert Task.objects.count() == 0


def test_example_shortcut_validates_against_the_type(api):
    body = assert_error(api.post(f"{API}/tasks/example?seconds=99999"), 400, "invalid")

    assert list(body["fields"]) == ["params.seconds"]


def test_process_document_without_a_document_or_source_is_a_400(api):
    response = api.post(f"{API}/tasks/process-document", {}, format="json")

    assert_error(response, 400, "invalid", document_id=["Send a document_id or a source."])


def test_process_document_submits_the_registered_type(api, monkeypatch):
    from rest_framework import serializers

    class DocParams(serializers.Serializer):
        document_id = serializers.CharField(required=False)
        source = serializers.CharField(required=False)

    kind = registry.TaskType(name="documents.process", body=lambda ctx, **kw: kw, params=DocParams)
    monkeypatch.setitem(registry._registry, "documents.process", kind)

    response = api.post(f"{API}/tasks/process-document", {"source": "s3://x"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["params"] == {"source": "s3://x"}


def test_process_document_needs_a_document_id_or_a_source(api):
    assert_error(
        api.post(f"{API}/tasks/process-document", {}, format="json"),
        400,
        "invalid",
        document_id=["Send a document_id or a source."],
    )
