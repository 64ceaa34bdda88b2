"""The operator's admin: a fast changelist, a read-only change page, actions through services."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from tasks_app.models import Task, TaskEvent, TaskStatus

from .api_support import in_status, submit

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tasks_app_task_changelist")


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def change_url(task) -> str:
    return reverse("admin:tasks_app_task_change", args=[task.pk])


def test_celery_results_and_beat_models_are_registered():
    for model in (TaskResult, PeriodicTask, IntervalSchedule, CrontabSchedule, Task):
        assert admin.site.is_registered(model), model


def test_changelist_shows_progress_and_duration(admin_client, user):
    in_status(user, TaskStatus.SUCCEEDED, name="finished sum")

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "finished sum" in html
    assert 'title="100%"' in html
    assert " s</td>" in html  # the duration column


def test_changelist_rows_render_djangos_checkbox_and_change_link(admin_client, user):
    from django.contrib.admin import ModelAdmin

    task = in_status(user, TaskStatus.FAILED, name="odd <name>")
    djangos_checkbox = ModelAdmin(Task, admin.site).action_checkbox(task)

    html = admin_client.get(CHANGELIST).content.decode()

    assert str(djangos_checkbox) in html
    assert f'<a href="{change_url(task)}">odd &lt;name&gt;</a>' in html


def test_changelist_queries_are_bounded_and_never_count_the_table(admin_client, user):
    for i in range(30):
        submit(user, name=f"t{i}")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) <= 12, sql
    counts = [s for s in sql if "COUNT(" in s.upper() and "tasks_app_task" in s]
    assert counts and all("LIMIT 1001" in s for s in counts), counts
    task_selects = [s for s in sql if s.startswith("SELECT") and '"tasks_app_task"."params"' in s]
    assert task_selects == []  # heavy JSON stays unread


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, user, django_assert_max_num_queries
):
    for i in range(30):
        submit(user, name=f"t{i}")

    with django_assert_max_num_queries(12):
        admin_client.get(CHANGELIST)


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=failed",
        "task_type=add",
        "priority__exact=3",
        "queue__exact=high_priority",
        "created_at__gte=2000-01-01+00:00:00%2B00:00",
        "q=sum",
    ],
)
def test_changelist_filters_and_search(admin_client, user, query):
    in_status(user, TaskStatus.FAILED, name="failed sum")

    response = admin_client.get(f"{CHANGELIST}?{query}")

    assert response.status_code == 200
    assert "failed sum" in response.content.decode()


def test_search_by_id_and_by_owner(admin_client, user, other_user):
    mine = submit(user, name="mine")
    submit(other_user, name="theirs")

    by_id = admin_client.get(f"{CHANGELIST}?q={mine.id}").content.decode()
    by_owner = admin_client.get(f"{CHANGELIST}?q={other_user.username}").content.decode()

    assert "mine" in by_id and "theirs" not in by_id
    assert "theirs" in by_owner and ">mine<" not in by_owner


def test_change_page_is_read_only_with_pretty_json_and_events(admin_client, user):
    task = in_status(user, TaskStatus.FAILED)

    response = admin_client.get(change_url(task))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<pre" in html and "&quot;x&quot;: 1.0" in html
    assert "Traceback…" in html
    assert 'name="_save"' not in html
    assert "running" in html and "failed" in html  # the event inline


def test_a_post_to_the_change_page_changes_nothing(admin_client, user):
    task = submit(user, name="before")

    response = admin_client.post(change_url(task), {"name": "after"})

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.name == "before"


def _act(admin_client, action, tasks):
    return admin_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(t.pk) for t in tasks]},
        follow=True,
    )


def test_cancel_action_revokes_unfinished_and_skips_finished(admin_client, user):
    queued = in_status(user, TaskStatus.QUEUED)
    done = in_status(user, TaskStatus.SUCCEEDED)

    response = _act(admin_client, "cancel_tasks", [queued, done])

    html = response.content.decode()
    assert "Cancelled 1 task. Skipped 1 (already finished)." in html, html[
        html.find("messagelist") :
    ][:400]
    queued.refresh_from_db()
    assert queued.status == TaskStatus.REVOKED


def test_retry_action_starts_linked_tasks(admin_client, user):
    failed = in_status(user, TaskStatus.FAILED)

    _act(admin_client, "retry_tasks", [failed])

    assert Task.objects.filter(parent=failed).count() == 1


def test_delete_action_goes_through_services(admin_client, user):
    running = in_status(user, TaskStatus.RUNNING)

    _act(admin_client, "delete_tasks", [running])

    assert not Task.objects.filter(pk=running.pk).exists()
    assert not TaskEvent.objects.filter(task_id=running.pk).exists()


def test_djangos_unguarded_bulk_delete_is_not_offered(admin_client, user):
    submit(user)

    html = admin_client.get(CHANGELIST).content.decode()

    assert 'value="delete_selected"' not in html
    assert 'value="cancel_tasks"' in html
