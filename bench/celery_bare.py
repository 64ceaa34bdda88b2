"""Bare Celery, for comparison: the same broker and CELERY_* settings, none of Casework.

No Task rows, no claim, no events, and Celery's Django fixup left at its defaults (it closes the
database connection around every task), as a project that adds Celery to Django gets it.

    python -m celery -A bench.celery_bare worker -Q default ...
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

app = Celery("bench_bare")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="bench.bare_noop", ignore_result=True)
def bare_noop() -> None:
    """No result stored."""


@app.task(name="bench.bare_noop_result")
def bare_noop_result() -> None:
    """Result stored by django-celery-results (CELERY_RESULT_BACKEND=django-db), its defaults."""
