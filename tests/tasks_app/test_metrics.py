"""/metrics (Prometheus), its protection, the admin dashboard and structured logs."""

import io
import json
import logging
from contextlib import contextmanager
from datetime import timedelta

import pytest
import structlog
from django.urls import reverse
from django.utils import timezone

from config.logging import logging_config
from tasks_app import maintenance, metrics, selectors
from tasks_app.models import Task, TaskStatus
from tests.factories import UserFactory
from tests.tasks_app.ops_support import finished_task

pytestmark = pytest.mark.django_db

TOKEN = {"HTTP_AUTHORIZATION": "Bearer test-metrics-token"}


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(
        selectors,
        "broker_queue_depths",
        lambda: {"default": 0, "high_priority": 2, "low_priority": 0, "medium_priority": 5},
    )
    monkeypatch.setattr(selectors, "workers_online", lambda: 3)
    monkeypatch.setattr(metrics.cache, "get", lambda key: None)


def scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4; charset=utf-8")
    return response.content.decode()


def test_anonymous_callers_are_refused(client, settings):
    settings.CASEWORK_METRICS_ALLOWED_IPS = []

    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")

    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert wrong.status_code == 403
    assert b"casework_" not in anonymous.content + wrong.content


def test_an_allowlisted_address_needs_no_token(client, settings, broker):
    settings.CASEWORK_METRICS_ALLOWED_IPS = ["10.0.0.0/8", "127.0.0.1"]

    assert "casework_tasks_active" in scrape(client)
    refused = client.get("/metrics", REMOTE_ADDR="192.168.1.9")
    assert refused.status_code == 401


def test_metrics_expose_tasks_durations_queues_and_workers(client, user, broker):
    now = timezone.now()
    long_ago = maintenance.floor_hour(now) - timedelta(hours=3)
    for seconds in (0.05, 3, 20):
        finished_task(owner=user, finished_at=long_ago + timedelta(minutes=5), seconds=seconds)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=long_ago)
    maintenance.rollup_stats(now=now, backfill_hours=5)
    finished_task(owner=user, finished_at=now, seconds=0.3)  # after the roll-up: read live
    Task.objects.create(owner=user, name="q", task_type="example", status=TaskStatus.QUEUED)

    text = scrape(client, **TOKEN)

    lines = set(text.splitlines())
    assert 'casework_tasks_active{status="queued",task_type="example"} 1.0' in lines
    assert 'casework_tasks_finished_total{status="succeeded",task_type="add"} 4.0' in lines
    assert 'casework_tasks_finished_total{status="failed",task_type="add"} 1.0' in lines
    assert 'casework_task_duration_seconds_bucket{le="0.1",task_type="add"} 1.0' in lines
    assert 'casework_task_duration_seconds_bucket{le="0.5",task_type="add"} 2.0' in lines
    assert 'casework_task_duration_seconds_bucket{le="5.0",task_type="add"} 3.0' in lines
    assert 'casework_task_duration_seconds_bucket{le="+Inf",task_type="add"} 4.0' in lines
    assert 'casework_task_duration_seconds_count{task_type="add"} 4.0' in lines
    assert 'casework_task_duration_seconds_sum{task_type="add"} 23.35' in lines
    assert 'casework_queue_depth{queue="medium_priority"} 5.0' in lines
    assert "casework_workers_online 3.0" in lines
    assert "casework_broker_up 1.0" in lines


def test_metrics_say_unknown_when_the_broker_is_down(client, monkeypatch):
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: None)

    lines = set(scrape(client, **TOKEN).splitlines())

    assert "casework_broker_up 0.0" in lines
    assert "casework_workers_online -1.0" in lines


def test_metrics_cost_a_fixed_number_of_queries(
    client, user, broker, django_assert_max_num_queries
):
    for _ in range(30):
        finished_task(owner=user)
    with django_assert_max_num_queries(6):
        scrape(client, **TOKEN)


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_is_staff_only_and_linked_from_the_admin_index(client, user, broker):
    url = reverse("casework-dashboard")
    client.force_login(user)
    assert client.get(url).status_code == 302  # to the admin login

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    index = client.get(reverse("admin:index")).content.decode()
    assert f'href="{url}"' in index


def test_dashboard_shows_throughput_failures_durations_queues_and_workers(client, user, broker):
    now = timezone.now()
    finished_task(owner=user, finished_at=now - timedelta(hours=2), seconds=4)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=now)
    client.force_login(UserFactory(is_staff=True))

    response = client.get(reverse("casework-dashboard"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<b id="cw-finished">2</b>' in html
    assert '<b id="cw-failure-rate">50%</b>' in html
    assert '<b id="cw-workers">3</b>' in html
    assert "<td>medium_priority</td><td>5</td>" in html
    assert html.count('<svg class="cw-chart') == 3
    assert "<title>add: 4.0</title>" in html  # the p95 bar of `add`


# --- structured logs ------------------------------------------------------------------------


@contextmanager
def structured_log(*, json: bool):
    """A logger writing through LOGGING's formatter; yields (logger, the text it wrote)."""
    config = logging_config(json=json)
    formatter = structlog.stdlib.ProcessorFormatter(
        **{k: v for k, v in config["formatters"]["structured"].items() if k != "()"}
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.structured")
    logger.addHandler(handler)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_log_lines_carry_the_bound_task_id_as_json():
    with structured_log(json=True) as (logger, stream):
        with structlog.contextvars.bound_contextvars(task_id="t-1"):
            logger.warning("step %s done", "load")
        logger.warning("outside")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["event"], first["task_id"], first["level"]) == (
        "step load done",
        "t-1",
        "warning",
    )
    assert first["logger"] == "tests.structured"
    assert "task_id" not in second


def test_console_tracebacks_are_plain_and_show_no_local_variables():
    def connect():
        broker_password = "s3cret-broker-password"  # noqa: F841 - a local a traceback must not show
        raise ConnectionRefusedError("connection refused")

    with structured_log(json=False) as (logger, stream):
        try:
            connect()
        except ConnectionRefusedError:
            logger.warning("publishing failed", exc_info=True)

    text = stream.getvalue()
    assert "publishing failed" in text
    assert "Traceback (most recent call last):" in text
    assert 'raise ConnectionRefusedError("connection refused")' in text
    assert "s3cret-broker-password" not in text
    assert "╭" not in text  # no rich panel
