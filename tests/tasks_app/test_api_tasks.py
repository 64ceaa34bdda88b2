"""The task resource over HTTP: create, list, read, poll, edit, cancel, retry, delete."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework import serializers

from tasks_app import pagination, registry
from tasks_app.models import Task, TaskEvent, TaskStatus

from .api_support import API, assert_error, client_for, in_status, reset_throttles, submit, task_url

pytestmark = pytest.mark.django_db

# DRF's own messages, in the project's language.
NOT_A_NUMBER = str(serializers.FloatField.default_error_messages["invalid"])
REQUIRED = str(serializers.Field.default_error_messages["required"])

TASKS = f"{API}/tasks/"


@pytest.fixture(autouse=True)
def _no_throttle_history():
    reset_throttles()


@pytest.fixture
def api(user):
    return client_for(user)


def known_types_message(name: str) -> str:
    return f"Unknown task type {name!r}. Known types: {', '.join(registry.known_names())}."


# --- create ---------------------------------------------------------------------------------


def test_create_returns_201_with_the_task_and_its_task_system(api, user):
    response = api.post(
        TASKS,
        {"name": "sum", "task_type": "add", "params": {"x": 1, "y": 2}, "priority": 4},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    task = Task.objects.get(pk=body["id"])
    assert task.owner == user
    assert body["name"] == "sum"
    assert body["task_type"] == "add"
    assert body["params"] == {"x": 1.0, "y": 2.0}
    assert body["priority"] == 4
    assert body["queue"] == "high_priority"
    assert body["status"] == "pending"
    assert body["task_system"] == "celery"
    assert body["progress"] == 0
    assert body["owner"] == user.username
    assert body["traceback"] is None
    assert list(TaskEvent.objects.filter(task=task).values_list("to_status", flat=True)) == [
        "pending"
    ]


def test_create_maps_args_and_kwargs_onto_the_types_parameters(api):
    response = api.post(
        TASKS,
        {"task_type": "long_running", "args": [60], "kwargs": {"steps": 3}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["params"] == {"seconds": 60, "steps": 3}
    assert response.json()["name"] == "long_running"


def test_create_accepts_celery_task_name_when_it_names_a_registered_type(api):
    response = api.post(
        TASKS, {"celery_task_name": "add", "kwargs": {"x": 2, "y": 3}}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["task_type"] == "add"


def test_create_refuses_a_celery_task_name_that_is_not_a_registered_type(api):
    response = api.post(
        TASKS,
        {"celery_task_name": "app.tasks.common_tasks.long_running_task", "args": [60]},
        format="json",
    )

    message = known_types_message("app.tasks.common_tasks.long_running_task")
    body = assert_error(response, 400, "unknown_task_type", celery_task_name=[message])
    assert body["detail"] == message
    assert Task.objects.count() == 0


def test_create_refuses_a_celery_task_name_that_disagrees_with_task_type(api):
    response = api.post(TASKS, {"task_type": "add", "celery_task_name": "example"}, format="json")

    assert_error(
        response,
        400,
        "invalid",
        celery_task_name=["Must name the same registered type as task_type."],
    )


def test_unknown_task_type_is_a_400_listing_the_known_types(api):
    response = api.post(TASKS, {"task_type": "nope", "params": {}}, format="json")

    message = known_types_message("nope")
    body = assert_error(response, 400, "unknown_task_type", task_type=[message])
    assert body["detail"] == message
    assert "add" in message and "example" in message
    assert "maintenance.sweep" not in message  # system-only types are never offered


def test_a_private_task_type_cannot_be_submitted(api):
    response = api.post(TASKS, {"task_type": "maintenance.sweep"}, format="json")

    assert_error(
        response, 400, "unknown_task_type", task_type=[known_types_message("maintenance.sweep")]
    )


def test_create_without_a_type_names_task_type(api):
    response = api.post(TASKS, {"params": {}}, format="json")

    body = assert_error(response, 400, "invalid", task_type=["This field is required."])
    assert body["detail"] == "task_type: This field is required."


def test_invalid_params_are_named_under_params(api):
    response = api.post(TASKS, {"task_type": "add", "params": {"x": "one"}}, format="json")

    assert_error(
        response,
        400,
        "invalid",
        **{"params.x": [NOT_A_NUMBER], "params.y": [REQUIRED]},
    )
    assert Task.objects.count() == 0


def test_unknown_fields_are_refused_by_name(api):
    response = api.post(
        TASKS, {"task_type": "add", "params": {"x": 1, "y": 2}, "colour": "red"}, format="json"
    )

    assert_error(response, 400, "invalid", colour=["Unknown field."])
    assert Task.objects.count() == 0


def test_params_and_args_together_are_refused(api):
    response = api.post(
        TASKS, {"task_type": "add", "params": {"x": 1, "y": 2}, "args": [1]}, format="json"
    )

    assert_error(response, 400, "invalid", args=["Send params, or args/kwargs, not both."])


def test_too_many_positional_args_are_refused(api):
    response = api.post(TASKS, {"task_type": "add", "args": [1, 2, 3]}, format="json")

    assert_error(
        response, 400, "invalid", args=["add takes at most 2 positional arguments (x, y); got 3."]
    )


def test_a_priority_outside_1_to_4_is_refused(api):
    response = api.post(
        TASKS, {"task_type": "add", "params": {"x": 1, "y": 2}, "priority": 9}, format="json"
    )

    message = str(serializers.ChoiceField.default_error_messages["invalid_choice"]).format(input=9)
    assert_error(response, 400, "invalid", priority=[message])


def test_the_same_idempotency_key_returns_the_existing_task_with_200(api, other_user):
    payload = {"task_type": "add", "params": {"x": 1, "y": 2}, "idempotency_key": "k-1"}

    first = api.post(TASKS, payload, format="json")
    second = api.post(TASKS, payload, format="json")
    someone_else = client_for(other_user).post(TASKS, payload, format="json")

    assert (first.status_code, second.status_code, someone_else.status_code) == (201, 200, 201)
    assert second.json()["id"] == first.json()["id"]
    assert someone_else.json()["id"] != first.json()["id"]
    assert Task.objects.filter(idempotency_key="k-1").count() == 2


@override_settings(CASEWORK_MAX_ACTIVE_TASKS_PER_USER=2)
def test_the_active_task_cap_answers_429_with_retry_after(api, user):
    submit(user)
    submit(user, idempotency_key="kept")
    in_status(user, TaskStatus.SUCCEEDED)  # finished tasks don't count

    response = api.post(TASKS, {"task_type": "add", "params": {"x": 1, "y": 2}}, format="json")
    replay = api.post(
        TASKS,
        {"task_type": "add", "params": {"x": 1, "y": 2}, "idempotency_key": "kept"},
        format="json",
    )

    body = assert_error(response, 429, "active_task_limit")
    assert response["Retry-After"] == "30"
    assert body["retry_after"] == 30
    assert Task.objects.filter(owner=user).count() == 3
    assert replay.status_code == 200


# --- list -----------------------------------------------------------------------------------


def test_list_shows_only_the_callers_tasks_newest_first(api, user, other_user):
    mine = [submit(user, name=f"mine {i}") for i in range(3)]
    submit(other_user, name="theirs")

    response = api.get(TASKS)

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [str(t.id) for t in reversed(mine)]
    assert (body["count"], body["count_capped"], body["next"], body["previous"]) == (
        3,
        False,
        None,
        None,
    )
    row = body["results"][0]
    assert row["task_system"] == "celery"
    assert "params" not in row and "result" not in row and "traceback" not in row


def test_list_rows_are_exactly_what_the_declared_fields_write(user, staff_user):
    """The list writes its rows directly; each must equal DRF's field-by-field output."""
    from rest_framework.renderers import JSONRenderer

    from tasks_app import selectors
    from tasks_app.serializers import TaskListSerializer

    for status in TaskStatus.values:
        in_status(user, status, name=f"in {status}")
    child = in_status(user, TaskStatus.FAILED, name="retry")
    Task.objects.filter(pk=child.pk).update(
        parent=Task.objects.filter(status=TaskStatus.FAILED).first(),
        idempotency_key="job-42",
        cancel_requested_at=timezone.now(),
        progress_message="半程",
    )
    system = submit(user, name="system run")
    Task.objects.filter(pk=system.pk).update(owner=None, finished_at=None, started_at=None)

    rows = list(selectors.task_list(user=staff_user))
    serializer = TaskListSerializer(rows, many=True)
    generic = [serializers.ModelSerializer.to_representation(serializer.child, t) for t in rows]
    # What the list endpoint serializes: the same rows read as values, no model instances.
    values = selectors.listed(selectors.task_list(user=staff_user))
    listed_data = TaskListSerializer([selectors.ListedTask(v) for v in values], many=True).data

    assert len(rows) == len(TaskStatus.values) + 2
    assert serializer.data == generic
    assert listed_data == generic
    assert JSONRenderer().render(listed_data) == JSONRenderer().render(generic)
    by_name = {row["name"]: row for row in serializer.data}
    assert by_name["system run"]["owner"] is None
    assert by_name["retry"]["error"] == {"kind": "exception", "message": "boom"}
    assert by_name["in succeeded"]["created_at"].endswith("+08:00")  # settings.TIME_ZONE


@pytest.mark.parametrize("staff", [False, True])
def test_a_task_in_full_is_exactly_what_the_declared_fields_write(user, staff_user, staff):
    """The detail (and every submit's answer) is written directly; it must equal DRF's
    field-by-field output, traceback included for staff only."""
    from rest_framework.renderers import JSONRenderer
    from rest_framework.test import APIRequestFactory

    from tasks_app.serializers import TaskSerializer

    request = APIRequestFactory().get("/")
    request.user = staff_user if staff else user
    tasks = [in_status(user, status, name=f"in {status}") for status in TaskStatus.values]
    Task.objects.filter(pk=tasks[0].pk).update(
        params={"x": 1, "日期": "2026-12-06"},
        steps=[{"name": "read", "status": "succeeded"}],
        result={"pages": [1, 2]},
        traceback="Traceback (most recent call last): ...",
        worker="host:12 node",
        heartbeat_at=timezone.now(),
        next_attempt_at=timezone.now(),
        notify_email=True,
        callback_url="https://example.com/hook",
        legal_hold=True,
    )

    for task in Task.objects.select_related("owner"):
        serializer = TaskSerializer(task, context={"request": request})
        generic = serializers.ModelSerializer.to_representation(serializer, task)
        assert serializer.data == generic
        assert JSONRenderer().render(serializer.data) == JSONRenderer().render(generic)
    full = TaskSerializer(Task.objects.get(pk=tasks[0].pk), context={"request": request}).data
    assert full["traceback"] == ("Traceback (most recent call last): ..." if staff else None)
    assert (full["legal_hold"], full["notify_email"], full["params"]["日期"]) == (
        True,
        True,
        "2026-12-06",
    )


def test_a_status_is_exactly_what_the_declared_fields_write(user):
    """The status poll is written directly; it must equal DRF's field-by-field output (with
    `result` only once succeeded and `error` only when there is one)."""
    from rest_framework.renderers import JSONRenderer

    from tasks_app.serializers import TaskStatusSerializer

    for status in TaskStatus.values:
        in_status(user, status, name=f"in {status}")
    Task.objects.filter(status=TaskStatus.RUNNING).update(
        cancel_requested_at=timezone.now(), steps=[{"name": "读取", "status": "running"}]
    )

    for task in Task.objects.all():
        serializer = TaskStatusSerializer(task)
        # The field-by-field path, then what the serializer always did to it.
        generic = serializers.Serializer.to_representation(serializer, task)
        if task.status != TaskStatus.SUCCEEDED:
            generic.pop("result", None)
        generic.pop("error", None)
        if task.status in (TaskStatus.FAILED, TaskStatus.REVOKED, TaskStatus.RETRYING) and (
            task.error_kind or task.error_message
        ):
            generic["error"] = {"kind": task.error_kind, "message": task.error_message}
        assert serializer.data == generic, task.status
        assert JSONRenderer().render(serializer.data) == JSONRenderer().render(generic)
    failed = TaskStatusSerializer(Task.objects.get(status=TaskStatus.FAILED)).data
    assert failed["error"] == {"kind": "exception", "message": "boom"} and "result" not in failed
    succeeded = TaskStatusSerializer(Task.objects.get(status=TaskStatus.SUCCEEDED)).data
    assert succeeded["result"] == {"sum": 3} and "error" not in succeeded


def test_a_page_past_the_last_row_still_counts_the_rows(api, user, django_assert_max_num_queries):
    for i in range(3):
        submit(user, name=f"t{i}")

    with django_assert_max_num_queries(2):
        body = api.get(TASKS, {"limit": 2, "offset": 10}).json()

    assert (body["count"], body["count_capped"], body["results"], body["next"]) == (
        3,
        False,
        [],
        None,
    )
    assert body["previous"].endswith("/api/v1/tasks/?limit=2&offset=8")


def test_an_empty_list_is_one_query(api, django_assert_num_queries):
    with django_assert_num_queries(1):
        body = api.get(TASKS).json()

    assert (body["count"], body["count_capped"], body["results"]) == (0, False, [])


def test_staff_list_every_task(user, other_user, staff_user):
    submit(user)
    submit(other_user)

    response = client_for(staff_user).get(TASKS)

    assert response.json()["count"] == 2


def test_list_pages_with_limit_offset_and_skip(api, user):
    tasks = [submit(user, name=f"t{i}") for i in range(5)]
    newest_first = [str(t.id) for t in reversed(tasks)]

    page = api.get(TASKS, {"limit": 2, "offset": 2}).json()
    skipped = api.get(TASKS, {"limit": 2, "skip": 2}).json()

    assert [r["id"] for r in page["results"]] == newest_first[2:4]
    assert [r["id"] for r in skipped["results"]] == newest_first[2:4]
    assert page["next"].endswith("/api/v1/tasks/?limit=2&offset=4")
    assert page["previous"].endswith("/api/v1/tasks/?limit=2")
    assert page["count"] == 5


def test_list_ties_on_created_at_break_by_id_so_pages_are_stable(api, user):
    same_time = timezone.now()
    tasks = [submit(user) for _ in range(4)]
    Task.objects.filter(owner=user).update(created_at=same_time)
    expected = sorted((str(t.id) for t in tasks), reverse=True)

    first = api.get(TASKS, {"limit": 2}).json()["results"]
    second = api.get(TASKS, {"limit": 2, "offset": 2}).json()["results"]

    assert [r["id"] for r in first + second] == expected


def test_list_count_stops_at_the_cap(api, user, monkeypatch):
    monkeypatch.setattr(pagination.CappedLimitOffsetPagination, "count_cap", 3)
    for _ in range(5):
        submit(user)

    body = api.get(TASKS, {"limit": 2, "offset": 2}).json()

    assert (body["count"], body["count_capped"]) == (3, True)
    assert body["next"] is not None


@pytest.mark.parametrize("param", ["offset", "skip"])
@pytest.mark.parametrize("value", ["1000001", "4740901750091816273455349760"])
def test_an_offset_past_the_deepest_page_is_a_400_naming_it(api, user, param, value):
    response = api.get(TASKS, {param: value})

    assert response.status_code == 400, response.content
    assert param in response.json()["fields"]
    assert api.get(TASKS, {param: "1000000"}).status_code == 200


@pytest.mark.parametrize(("rows", "count", "capped"), [(1000, 1000, False), (1001, 1000, True)])
def test_list_counts_exactly_up_to_1000_matching_rows(api, user, rows, count, capped):
    Task.objects.bulk_create(
        Task(owner=user, name=f"t{i}", task_type="add", status=TaskStatus.FAILED)
        for i in range(rows)
    )

    body = api.get(TASKS, {"status": "failed", "task_type": "add", "limit": 1}).json()

    assert (body["count"], body["count_capped"], len(body["results"])) == (count, capped, 1)


def test_staff_list_counts_and_shows_system_runs_that_have_no_owner(user, staff_user):
    """The page reads the owner's name through an outer join, the count reads the tasks alone:
    a run without an owner is counted and listed."""
    client = client_for(staff_user)
    submit(user, name="mine")
    system = submit(user, name="system run")
    Task.objects.filter(pk=system.pk).update(owner=None)

    body = client.get(TASKS, {"limit": 1}).json()
    everything = client.get(TASKS).json()

    assert (body["count"], len(body["results"]), body["next"] is not None) == (2, 1, True)
    assert {(row["name"], row["owner"]) for row in everything["results"]} == {
        ("mine", user.username),
        ("system run", None),
    }


def test_list_filters_by_status_list_type_priority_queue_dates_and_search(api, user):
    now = timezone.now()
    old = submit(user, name="old report")
    Task.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    running = in_status(user, TaskStatus.RUNNING, name="running sum")
    failed = in_status(user, TaskStatus.FAILED, name="failed sum")
    slow = submit(user, task_type="example", params={"seconds": 1}, priority=1, name="timer")

    def ids(**query):
        response = api.get(TASKS, query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="running,failed") == {str(running.id), str(failed.id)}
    assert ids(task_type="example") == {str(slow.id)}
    assert ids(priority=1) == {str(slow.id)}
    assert ids(queue="low_priority") == {str(slow.id)}
    assert ids(created_before=(now - timedelta(days=1)).isoformat()) == {str(old.id)}
    assert str(old.id) not in ids(created_after=(now - timedelta(hours=1)).isoformat())
    assert ids(search="SUM") == {str(running.id), str(failed.id)}


def test_list_orders_by_a_chosen_column(api, user):
    low = submit(user, priority=1)
    high = submit(user, priority=4)
    normal = submit(user, priority=2)

    rows = api.get(TASKS, {"ordering": "-priority"}).json()["results"]

    assert [r["id"] for r in rows] == [str(high.id), str(normal.id), str(low.id)]


def test_list_refuses_an_unknown_status_and_a_bad_limit(api):
    body = assert_error(api.get(TASKS, {"status": "running,done"}), 400, "invalid")
    assert body["fields"]["status"] == [
        "Unknown status done; choose from pending, queued, running, retrying, succeeded, "
        "failed, revoked."
    ]
    assert_error(
        api.get(TASKS, {"limit": "x"}), 400, "invalid", limit=["A positive integer is required."]
    )
    assert_error(
        api.get(TASKS, {"skip": "-1"}), 400, "invalid", skip=["A non-negative integer is required."]
    )


def test_a_percent_sign_in_an_unknown_status_is_a_400_naming_it(api):
    # Found by the schemathesis run: django-filter %-formats every filter error, so a "%"
    # typed into the query string and copied into the message made the 400 a 500.
    body = assert_error(api.get(TASKS, {"status": "%7,%(x)s,%s"}), 400, "invalid")
    assert body["fields"]["status"] == [
        "Unknown status %7, %(x)s, %s; choose from pending, queued, running, retrying, "
        "succeeded, failed, revoked."
    ]


def test_list_runs_a_fixed_number_of_queries_however_many_rows(
    api, user, django_assert_max_num_queries
):
    for i in range(30):
        submit(user, name=f"t{i}")

    # One statement: the page, its owners and its capped count (the client is authenticated
    # in-process, so no token lookup).
    with django_assert_max_num_queries(1):
        response = api.get(TASKS, {"limit": 30})

    assert len(response.json()["results"]) == 30
    assert response.json()["count"] == 30


def test_the_list_never_counts_the_whole_table(api, user, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    submit(user)
    with CaptureQueriesContext(connection) as queries:
        api.get(TASKS)

    counts = [capped_count_of(q["sql"]) for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert counts == [
        'SELECT "tasks_app_task"."id" AS "pk" FROM "tasks_app_task" WHERE '
        f'"tasks_app_task"."owner_id" = {user.pk} ORDER BY "tasks_app_task"."created_at" DESC '
        "LIMIT 1001"
    ]
    assert all('"result"' not in q["sql"] for q in queries.captured_queries)


def capped_count_of(sql: str) -> str:
    """The subquery a page statement counts (its rows up to the cap)."""
    start = sql.index("(SELECT COUNT(*) FROM (") + len("(SELECT COUNT(*) FROM (")
    return sql[start : sql.index(") AS capped)", start)]


def test_a_list_in_another_order_is_counted_unordered(api, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    submit(user)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(TASKS, {"ordering": "name"}).json()["count"] == 1

    counts = [capped_count_of(q["sql"]) for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert len(counts) == 1
    assert "ORDER BY" not in counts[0] and counts[0].endswith("LIMIT 1001")


# --- detail, status, result, events -------------------------------------------------------------


def test_detail_shows_the_task_in_full(api, user):
    task = in_status(user, TaskStatus.SUCCEEDED)

    body = api.get(task_url(task)).json()

    assert body["id"] == str(task.id)
    assert body["result"] == {"sum": 3}
    assert body["task_system"] == "celery"
    assert body["duration_seconds"] is not None


def test_detail_answers_without_a_trailing_slash_too(api, user):
    task = submit(user)

    assert api.get(f"{API}/tasks/{task.id}").status_code == 200


def test_the_traceback_is_shown_to_staff_only(api, user, staff_user):
    task = in_status(user, TaskStatus.FAILED)

    assert api.get(task_url(task)).json()["traceback"] is None
    assert client_for(staff_user).get(task_url(task)).json()["traceback"] == "Traceback…"
    assert api.get(task_url(task)).json()["error"] == {"kind": "exception", "message": "boom"}


@pytest.mark.parametrize("path", ["", "status", "result", "events"])
def test_a_foreign_or_malformed_id_is_404_never_403(api, other_user, path):
    theirs = submit(other_user)

    body = assert_error(api.get(task_url(theirs, path)), 404, "not_found")
    assert_error(api.get(f"{API}/tasks/not-a-uuid/{path}"), 404, "not_found")
    assert body["fields"] == {}


def test_status_has_the_result_once_succeeded(api, user):
    task = in_status(user, TaskStatus.SUCCEEDED)

    for url in (task_url(task, "status"), f"{API}/tasks/status/{task.id}"):
        response = api.get(url)
        assert response.status_code == 200
        assert response.json() == {
            "task_id": str(task.id),
            "status": "succeeded",
            "progress": 100,
            "message": "",
            "steps": [],
            "task_system": "celery",
            "cancel_requested": False,
            "result": {"sum": 3},
        }


def test_status_has_the_error_once_failed_and_neither_while_running(api, user):
    failed = in_status(user, TaskStatus.FAILED)
    running = in_status(user, TaskStatus.RUNNING)

    failed_body = api.get(task_url(failed, "status")).json()
    running_body = api.get(f"{API}/tasks/status/{running.id}").json()

    assert failed_body["error"] == {"kind": "exception", "message": "boom"}
    assert "result" not in failed_body
    assert running_body["status"] == "running"
    assert "result" not in running_body and "error" not in running_body


def test_status_by_path_hides_foreign_tasks(api, other_user):
    theirs = submit(other_user)

    assert_error(api.get(f"{API}/tasks/status/{theirs.id}"), 404, "not_found")


def test_result_is_200_when_succeeded_and_409_with_the_status_otherwise(api, user):
    done = in_status(user, TaskStatus.SUCCEEDED)
    running = in_status(user, TaskStatus.RUNNING)
    failed = in_status(user, TaskStatus.FAILED)

    ok = api.get(task_url(done, "result"))
    not_ready = assert_error(api.get(task_url(running, "result")), 409, "no_result")
    no_result = assert_error(api.get(task_url(failed, "result")), 409, "no_result")

    assert ok.json() == {
        "task_id": str(done.id),
        "status": "succeeded",
        "task_system": "celery",
        "result": {"sum": 3},
    }
    assert not_ready["status"] == "running"
    assert not_ready["detail"] == "The task is running; its result is not ready yet."
    assert no_result["status"] == "failed"
    assert no_result["detail"] == "The task failed and has no result: boom"


def test_events_list_the_history_oldest_first(api, user):
    task = in_status(user, TaskStatus.SUCCEEDED)

    events = api.get(task_url(task, "events")).json()

    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("", "pending"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]


# --- edit -----------------------------------------------------------------------------------


def test_patch_renames_and_reprioritises_a_task_that_has_not_started(api, user):
    task = submit(user, priority=2)

    response = api.patch(task_url(task), {"name": "renamed", "priority": 1}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["priority"], body["queue"]) == ("renamed", 1, "low_priority")
    assert body["task_system"] == "celery"
    task.refresh_from_db()
    assert (task.name, task.priority, task.queue) == ("renamed", 1, "low_priority")


def test_patch_of_status_is_a_400_naming_it(api, user):
    task = submit(user)

    response = api.patch(task_url(task), {"status": "succeeded"}, format="json")

    assert_error(
        response,
        400,
        "invalid",
        status=["The status of a task is never writable; POST …/cancel to stop a task."],
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


def test_patch_after_start_is_a_409(api, user):
    task = in_status(user, TaskStatus.RUNNING)

    body = assert_error(
        api.patch(task_url(task), {"name": "x"}, format="json"), 409, "not_editable"
    )

    assert body["status"] == "running"
    task.refresh_from_db()
    assert task.name != "x"


def test_patch_of_a_foreign_task_is_404_and_changes_nothing(api, other_user):
    theirs = submit(other_user, name="theirs")

    assert_error(api.patch(task_url(theirs), {"name": "mine"}, format="json"), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.name == "theirs"


def test_put_is_not_allowed(api, user):
    task = submit(user)

    assert_error(api.put(task_url(task), {"name": "x"}, format="json"), 405, "method_not_allowed")


# --- cancel, retry, delete --------------------------------------------------------------------


def test_cancel_of_a_queued_task_revokes_it_with_200(api, user):
    task = in_status(user, TaskStatus.QUEUED)

    response = api.post(task_url(task, "cancel"))

    assert response.status_code == 200
    assert response.json() == {
        "task_id": str(task.id),
        "outcome": "revoked",
        "status": "revoked",
        "task_system": "celery",
    }
    task.refresh_from_db()
    assert task.status == TaskStatus.REVOKED


def test_cancel_of_a_running_task_is_requested_with_202(api, user):
    task = in_status(user, TaskStatus.RUNNING)

    response = api.post(task_url(task, "cancel"))

    assert response.status_code == 202
    assert response.json()["outcome"] == "cancel_requested"
    assert response.json()["status"] == "running"
    task.refresh_from_db()
    assert task.cancel_requested_at is not None


def test_cancel_of_a_finished_task_is_a_409_with_its_status(api, user):
    task = in_status(user, TaskStatus.SUCCEEDED)

    body = assert_error(api.post(task_url(task, "cancel")), 409, "not_cancellable")

    assert body["status"] == "succeeded"


def test_cancel_of_a_foreign_task_is_404_and_leaves_it_alone(api, other_user):
    theirs = in_status(other_user, TaskStatus.QUEUED)

    assert_error(api.post(task_url(theirs, "cancel")), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == TaskStatus.QUEUED


def test_retry_of_a_failed_task_starts_a_linked_one_with_edited_params(api, user):
    task = in_status(user, TaskStatus.FAILED)

    response = api.post(task_url(task, "retry"), {"params": {"y": 40}}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent_id"] == str(task.id)
    assert body["params"] == {"x": 1.0, "y": 40.0}
    assert body["status"] == "pending"
    assert body["task_system"] == "celery"


def test_retry_with_bad_params_names_them(api, user):
    task = in_status(user, TaskStatus.FAILED)

    response = api.post(task_url(task, "retry"), {"params": {"y": "lots"}}, format="json")

    assert_error(response, 400, "invalid", **{"params.y": [NOT_A_NUMBER]})
    assert Task.objects.filter(parent=task).count() == 0


def test_retry_of_a_succeeded_task_is_a_409(api, user):
    task = in_status(user, TaskStatus.SUCCEEDED)

    body = assert_error(api.post(task_url(task, "retry")), 409, "not_retryable")

    assert body["status"] == "succeeded"
    assert Task.objects.filter(parent=task).count() == 0


def test_retry_of_a_foreign_task_is_404(api, other_user):
    theirs = in_status(other_user, TaskStatus.FAILED)

    assert_error(api.post(task_url(theirs, "retry")), 404, "not_found")
    assert Task.objects.filter(parent=theirs).count() == 0


def test_delete_removes_the_task_and_its_events_with_204(api, user):
    task = in_status(user, TaskStatus.RUNNING)

    response = api.delete(task_url(task))

    assert response.status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()
    assert not TaskEvent.objects.filter(task_id=task.pk).exists()


def test_delete_of_a_foreign_task_is_404_and_keeps_it(api, other_user):
    theirs = submit(other_user)

    assert_error(api.delete(task_url(theirs)), 404, "not_found")
    assert Task.objects.filter(pk=theirs.pk).exists()


def test_staff_may_act_on_anyones_task(user, staff_user):
    task = in_status(user, TaskStatus.QUEUED)

    response = client_for(staff_user).post(task_url(task, "cancel"))

    assert response.status_code == 200
