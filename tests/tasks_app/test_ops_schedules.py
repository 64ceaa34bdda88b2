"""Schedules: the defaults, admin validation against the registry, run now, scheduled runs."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tasks_app import services
from tasks_app.admin import ScheduleForm
from tasks_app.models import Priority, Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:django_celery_beat_periodictask_add")


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def every(seconds: int) -> IntervalSchedule:
    return IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)[0]


def form_data(**overrides) -> dict:
    data = {
        "name": "nightly add",
        "task": "casework.run_scheduled",
        "regtask": "",
        "enabled": "on",
        "interval": every(60).pk,
        "args": "[]",
        "kwargs": json.dumps({"task_type": "add", "params": {"x": 1, "y": 2}}),
        "headers": "{}",
        "priority": "",
        "queue": "",
        "description": "",
        "expire_seconds": "",
        "exchange": "",
        "routing_key": "",
    }
    return {**data, **overrides}


# --- the defaults ---------------------------------------------------------------------------


def test_setup_periodic_tasks_installs_the_defaults_once_and_keeps_admins_timing(capsys):
    call_command("setup_periodic_tasks")
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    prune = PeriodicTask.objects.get(name="casework: prune expired tasks and results")
    prune.enabled = False
    prune.crontab = CrontabSchedule.objects.create(minute="0", hour="1")
    prune.save()

    call_command("setup_periodic_tasks")

    out = capsys.readouterr().out.splitlines()
    assert names == {
        "casework: sweep (publish stranded, recover leases, finish cancellations)",
        "casework: prune expired tasks and results",
        "casework: hourly stats roll-up",
        "casework: daily digest to staff",
    }
    assert PeriodicTask.objects.filter(name__in=names).count() == 4
    assert out[:4] == [
        "created schedule 'casework: sweep (publish stranded, recover leases, finish "
        "cancellations)' every 15 s",
        "created schedule 'casework: prune expired tasks and results' at cron '30 3 * * *' "
        "(Asia/Shanghai)",
        "created schedule 'casework: hourly stats roll-up' at cron '5 * * * *' (Asia/Shanghai)",
        "created schedule 'casework: daily digest to staff' at cron '0 7 * * *' (Asia/Shanghai)",
    ]
    assert out[5] == (
        "kept schedule 'casework: prune expired tasks and results' at cron '0 1 * * *' "
        "(Asia/Shanghai) (disabled)"
    )
    rollup = PeriodicTask.objects.get(name="casework: hourly stats roll-up")
    assert json.loads(rollup.kwargs) == {"task_type": "maintenance.rollup_stats", "params": {}}
    assert (rollup.task, rollup.queue) == ("casework.run_scheduled", "low_priority")


# --- admin validation -----------------------------------------------------------------------


def test_admin_saves_a_schedule_of_a_registered_type_with_valid_params(admin_client):
    response = admin_client.post(ADD, form_data())

    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = PeriodicTask.objects.get(name="nightly add")
    assert json.loads(schedule.kwargs) == {"task_type": "add", "params": {"x": 1.0, "y": 2.0}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"task_type": "no.such", "params": {}},
            "task_type: &#x27;no.such&#x27; is not a registered",
        ),
        ({"task_type": "add", "params": {"x": "many"}}, "params.x: "),
        ({"task_type": "add", "params": {"x": 1}}, "params.y: "),
        ({"task_type": "add", "params": {"x": 1, "y": 2}, "priority": 9}, "priority: must be one"),
        ({"task_type": "add", "parms": {}}, "Unknown keys: parms."),
        ([1, 2], "Must be a JSON object"),
    ],
)
def test_admin_refuses_params_that_do_not_validate_naming_the_field(admin_client, kwargs, message):
    response = admin_client.post(ADD, form_data(kwargs=json.dumps(kwargs)))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PeriodicTask.objects.filter(name="nightly add").exists()


def test_form_leaves_other_celery_tasks_to_django_celery_beat():
    form = ScheduleForm(data=form_data(task="casework.sweep", kwargs="{}"))
    assert form.is_valid(), form.errors


# --- runs -----------------------------------------------------------------------------------


def test_a_scheduled_run_is_a_system_task_linked_to_its_schedule():
    schedule = PeriodicTask.objects.create(
        name="every minute add", task="casework.run_scheduled", interval=every(60)
    )

    task = services.task_run_scheduled(
        task_type="add", params={"x": 2, "y": 3}, priority=Priority.LOW, schedule_name=schedule.name
    )

    assert (task.owner, task.schedule, task.name) == (None, schedule, "every minute add")
    assert (task.priority, task.queue, task.params) == (1, "low_priority", {"x": 2.0, "y": 3.0})


def test_a_run_whose_params_no_longer_validate_is_logged_not_recorded(caplog):
    assert services.task_run_scheduled(task_type="add", params={}, schedule_name="x") is None
    assert not Task.objects.exists()
    assert "schedule 'x' could not start add" in caplog.text


def test_run_now_keeps_the_schedules_queue_priority_and_headers(admin_client, clean_redis):
    schedule = PeriodicTask.objects.create(
        name="low add",
        task="casework.run_scheduled",
        interval=every(3600),
        kwargs=json.dumps({"task_type": "add", "params": {"x": 1, "y": 1}}),
        queue="low_priority",
        priority=7,
        headers=json.dumps({"origin": "ops"}),
    )

    response = admin_client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "run_tasks", "_selected_action": [schedule.pk]},
    )

    assert response.status_code == 302
    keys = [k for k in clean_redis.keys("low_priority*")]
    assert len(keys) == 1
    message = json.loads(clean_redis.lindex(keys[0], 0))
    assert message["headers"]["task"] == "casework.run_scheduled"
    assert message["headers"]["periodic_task_name"] == "low add"
    assert message["headers"]["origin"] == "ops"
    assert message["properties"]["priority"] == 7
    assert message["properties"]["delivery_info"]["routing_key"] == "low_priority"


def test_schedule_change_page_lists_its_recent_runs(admin_client):
    schedule = PeriodicTask.objects.create(
        name="listed", task="casework.run_scheduled", interval=every(60)
    )
    run = services.task_run_scheduled(
        task_type="add", params={"x": 1, "y": 1}, schedule_name="listed"
    )

    response = admin_client.get(
        reverse("admin:django_celery_beat_periodictask_change", args=[schedule.pk])
    )

    assert response.status_code == 200
    assert str(run.id) in response.content.decode()


# --- legal hold -----------------------------------------------------------------------------


def test_admin_places_and_releases_a_legal_hold(admin_client, user):
    task = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 1}).task
    changelist = reverse("admin:tasks_app_task_changelist")

    admin_client.post(changelist, {"action": "hold_tasks", "_selected_action": [task.pk]})
    assert Task.objects.get(pk=task.pk).legal_hold is True

    admin_client.post(changelist, {"action": "release_tasks", "_selected_action": [task.pk]})
    assert Task.objects.get(pk=task.pk).legal_hold is False
