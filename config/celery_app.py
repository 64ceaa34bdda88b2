"""The Celery application: configuration from Django settings, worker process wiring.

Workers keep their database connection between tasks the way Django keeps one between
requests (Celery's Django fixup closes it around every task by default, which cost 7.9 ms
per task here, celery#10021); `tasks_app.runner` closes unusable or obsolete connections at
the start and end of each task instead.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("casework")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Large enough that the fixup never closes connections on its own schedule.
DB_REUSE_MAX = 10**9


@signals.worker_init.connect
def _check_and_keep_connections(sender=None, **kwargs):
    """Refuse to start on contradictory settings; stop per-task connection closing."""
    from tasks_app.checks import assert_celery_config

    assert_celery_config(app.conf)
    for fixup in getattr(app, "_fixups", []):
        worker_fixup = getattr(fixup, "worker_fixup", None)
        if worker_fixup is not None:
            worker_fixup.db_reuse_max = DB_REUSE_MAX


@signals.beat_init.connect
def _check_beat(sender=None, **kwargs):
    from tasks_app.checks import assert_celery_config

    assert_celery_config(app.conf)


@signals.worker_init.connect
def _freeze_before_the_pool_forks(sender=None, **kwargs):
    """What the worker loaded (Django, the task registry, Celery) is frozen out of the garbage
    collector's full passes before the prefork pool forks, so every child inherits it frozen
    and never writes to those objects' pages (config/gc_freeze.py)."""
    from config.gc_freeze import freeze_loaded

    freeze_loaded(load_urls=False)


@signals.worker_process_shutdown.connect
def _close_broadcaster(**kwargs):
    from tasks_app.broadcast import broadcaster

    broadcaster.close()
