"""Refuse configurations that would break the engine's delivery guarantees.

Run as a Django system check (so `manage.py check`, `migrate` and the test run report them)
and on worker and beat start (config/celery_app.py), where an error stops the process.
"""

from __future__ import annotations

import logging
import os

from celery.app.defaults import DEFAULTS
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# Settings read under the CELERY_ prefix that are ours, not Celery's.
OWN_CELERY_SETTINGS = {"CELERY_ENABLED", "CELERY_VISIBILITY_TIMEOUT"}


def celery_setting_errors() -> list[str]:
    """Every CELERY_* Django setting must be a Celery setting: a misspelt one is ignored."""
    known = {key.upper() for key in DEFAULTS}
    errors = []
    for name in dir(settings):
        if not name.startswith("CELERY_") or name in OWN_CELERY_SETTINGS:
            continue
        if name[len("CELERY_") :] not in known:
            errors.append(
                f"{name} is not a Celery setting and would be silently ignored "
                f"(missing a task_/worker_/broker_ prefix, or misspelt?)"
            )
    return errors


def celery_config_errors(conf) -> list[str]:
    """Contradictions between the settings and the engine's guarantees."""
    errors = []
    expect = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
    }
    for key, value in expect.items():
        if conf.get(key) != value:
            errors.append(f"{key} must be {value!r}, not {conf.get(key)!r}")
    if set(conf.get("accept_content") or []) != {"json"}:
        errors.append("accept_content must be ['json'] only (no pickle)")
    hard = conf.get("task_time_limit")
    soft = conf.get("task_soft_time_limit")
    if not hard:
        errors.append("task_time_limit must be set: a hung task would hold a worker forever")
    if hard and soft and soft >= hard:
        errors.append(f"task_soft_time_limit ({soft}) must be below task_time_limit ({hard})")
    broker = str(conf.get("broker_url") or "")
    if broker.startswith(("redis://", "rediss://", "redis+socket://")):
        visibility = (conf.get("broker_transport_options") or {}).get("visibility_timeout", 3600)
        if hard and visibility <= hard:
            errors.append(
                f"broker visibility_timeout ({visibility}) must exceed task_time_limit ({hard}): "
                "Redis would redeliver a task still running"
            )
        backoff = settings.CASEWORK["RETRY_BACKOFF_MAX"]
        if backoff >= visibility:
            errors.append(
                f"CASEWORK_RETRY_BACKOFF_MAX ({backoff}) must be below the visibility timeout "
                f"({visibility}): a delayed retry would be redelivered before it is due"
            )
    if settings.CASEWORK["LEASE_SECONDS"] <= 2 * settings.CASEWORK["HEARTBEAT_SECONDS"]:
        errors.append("CASEWORK_LEASE_SECONDS must be more than twice CASEWORK_HEARTBEAT_SECONDS")
    relay = settings.CASEWORK["RELAY"]
    if relay not in ("thread", "process"):
        errors.append(f"CASEWORK_RELAY must be 'thread' or 'process', not {relay!r}")
    elif relay == "process" and "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        errors.append(
            "CASEWORK_RELAY=process needs PostgreSQL (the relay process LISTENs for submissions); "
            "use 'thread' on this database"
        )
    return errors


def assert_celery_config(conf) -> None:
    errors = celery_setting_errors() + celery_config_errors(conf)
    if errors and os.environ.get("CASEWORK_UNSAFE_SKIP_CONFIG_CHECK"):
        # Only the fault drills set this, to run a worker under settings this check refuses
        # (a visibility timeout shorter than a task) and prove the claim still holds.
        logger.warning("configuration check skipped; it would refuse: %s", "; ".join(errors))
        return
    if errors:
        raise ImproperlyConfigured("Casework refuses to start:\n- " + "\n- ".join(errors))


@checks.register(checks.Tags.compatibility)
def check_celery_settings(app_configs=None, **kwargs):
    from config.celery_app import app

    return [
        checks.Error(message, id="casework.E001")
        for message in celery_setting_errors() + celery_config_errors(app.conf)
    ]
