"""The start-up check refuses settings that break the delivery guarantees."""

from django.test import override_settings

from config.celery_app import app
from tasks_app.checks import celery_config_errors, celery_setting_errors


def test_the_shipped_settings_pass():
    assert celery_setting_errors() == []
    assert celery_config_errors(app.conf) == []


@override_settings(CELERY_ACKS_LATE=True)
def test_a_misspelt_celery_setting_is_reported():
    assert celery_setting_errors() == [
        "CELERY_ACKS_LATE is not a Celery setting and would be silently ignored "
        "(missing a task_/worker_/broker_ prefix, or misspelt?)"
    ]


def conf(**changes):
    values = {
        key: app.conf.get(key)
        for key in (
            "task_acks_late",
            "task_reject_on_worker_lost",
            "worker_prefetch_multiplier",
            "task_serializer",
            "result_serializer",
            "accept_content",
            "task_time_limit",
            "task_soft_time_limit",
            "broker_url",
            "broker_transport_options",
        )
    }
    values.update(changes)
    return values


def test_a_visibility_timeout_below_the_time_limit_is_refused():
    errors = celery_config_errors(
        conf(
            task_time_limit=3600,
            broker_url="redis://x",
            broker_transport_options={"visibility_timeout": 1800},
        )
    )
    assert errors == [
        "broker visibility_timeout (1800) must exceed task_time_limit (3600): "
        "Redis would redeliver a task still running"
    ]


def test_pickle_prefetch_and_early_acks_are_refused():
    errors = celery_config_errors(
        conf(accept_content=["json", "pickle"], worker_prefetch_multiplier=4, task_acks_late=False)
    )
    assert errors == [
        "task_acks_late must be True, not False",
        "worker_prefetch_multiplier must be 1, not 4",
        "accept_content must be ['json'] only (no pickle)",
    ]


@override_settings(
    CASEWORK={
        "RETRY_BACKOFF_MAX": 5000,
        "LEASE_SECONDS": 60,
        "HEARTBEAT_SECONDS": 10,
        "RELAY": "thread",
    }
)
def test_a_retry_backoff_past_the_visibility_timeout_is_refused():
    errors = celery_config_errors(
        conf(
            broker_url="redis://x",
            task_time_limit=3600,
            broker_transport_options={"visibility_timeout": 4200},
        )
    )
    assert errors == [
        "CASEWORK_RETRY_BACKOFF_MAX (5000) must be below the visibility timeout (4200): "
        "a delayed retry would be redelivered before it is due"
    ]


def test_an_unknown_relay_or_a_relay_process_off_postgresql_is_refused(settings, monkeypatch):
    settings.CASEWORK = {**settings.CASEWORK, "RELAY": "processes"}
    assert celery_config_errors(app.conf) == [
        "CASEWORK_RELAY must be 'thread' or 'process', not 'processes'"
    ]

    settings.CASEWORK = {**settings.CASEWORK, "RELAY": "process"}
    assert celery_config_errors(app.conf) == []
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    assert celery_config_errors(app.conf) == [
        "CASEWORK_RELAY=process needs PostgreSQL (the relay process LISTENs for submissions); "
        "use 'thread' on this database"
    ]
