"""Prometheus metrics at /metrics, computed from the database and the broker per scrape.

Workers run in many processes on many machines, so nothing is counted in process memory:
each scrape reads what every process wrote to the database. Finished counts and the duration
histogram come from the hourly roll-ups plus the rows finished after the last one (a small
index range), so they only grow and cost the same with millions of rows; active tasks are a
GROUP BY over the (status, ...) index; queue depth is the broker's queue lengths; workers
online a ping, cached for WORKERS_CACHE_SECONDS so frequent scrapes don't flood the broker.

The endpoint answers a bearer token (CASEWORK_METRICS_TOKEN) or a client address in
CASEWORK_METRICS_ALLOWED_IPS; anyone else gets 401 (no credentials) or 403.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import choose_encoder

from . import selectors
from .maintenance import rollup_watermark, summarize_finished_by
from .models import Task, TaskStatsHourly, TaskStatus
from .stats import ALL_TYPES, TaskStats, bucket_labels, cumulative, sum_by_type

WORKERS_CACHE_SECONDS = 15
WORKERS_CACHE_KEY = "casework:metrics:workers_online"


def finished_totals() -> dict[str, TaskStats]:
    """All finished tasks per type since the first roll-up: roll-ups plus rows after them."""
    rolled_up = [
        {row.task_type: TaskStats.from_row(row)}
        for row in TaskStatsHourly.objects.exclude(task_type=ALL_TYPES).iterator()
    ]
    watermark = rollup_watermark()
    live = Task.objects.all()
    if watermark is not None:
        live = live.filter(finished_at__gte=watermark)
    return sum_by_type([*rolled_up, *summarize_finished_by(live, "hour").values()])


def cached_workers_online() -> int | None:
    online = cache.get(WORKERS_CACHE_KEY)
    if online is None:
        online = selectors.workers_online()
        if online is not None:
            cache.set(WORKERS_CACHE_KEY, online, WORKERS_CACHE_SECONDS)
    return online


class CaseworkCollector:
    """Reads the engine's state at each scrape (no describe(): nothing is collected early)."""

    def collect(self):
        active = GaugeMetricFamily(
            "casework_tasks_active",
            "Unfinished tasks by type and status.",
            labels=["task_type", "status"],
        )
        rows = (
            Task.objects.filter(status__in=TaskStatus.active())
            .order_by()
            .values_list("task_type", "status")
            .annotate(n=Count("id"))
        )
        for task_type, status, n in rows:
            active.add_metric([task_type, status], n)
        yield active

        totals = finished_totals()
        finished = CounterMetricFamily(
            "casework_tasks_finished",
            "Finished tasks by type and final status.",
            labels=["task_type", "status"],
        )
        durations = HistogramMetricFamily(
            "casework_task_duration_seconds",
            "Wall time of succeeded tasks' last attempt.",
            labels=["task_type"],
        )
        for task_type, stats in sorted(totals.items()):
            for status in TaskStatus.terminal():
                finished.add_metric([task_type, status], getattr(stats, status))
            if stats.duration_count:
                buckets = list(zip(bucket_labels(), cumulative(stats.buckets), strict=True))
                durations.add_metric([task_type], buckets, sum_value=stats.duration_sum)
        yield finished
        yield durations

        depths = selectors.broker_queue_depths()
        broker_up = GaugeMetricFamily("casework_broker_up", "1 if the broker answered.")
        broker_up.add_metric([], 0 if depths is None else 1)
        yield broker_up
        queue_depth = GaugeMetricFamily(
            "casework_queue_depth", "Messages waiting per broker queue.", labels=["queue"]
        )
        for queue, depth in sorted((depths or {}).items()):
            queue_depth.add_metric([queue], depth)
        yield queue_depth

        online = cached_workers_online() if depths is not None else None
        workers = GaugeMetricFamily(
            "casework_workers_online", "Celery workers answering a ping (-1: unknown)."
        )
        workers.add_metric([], -1 if online is None else online)
        yield workers


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(CaseworkCollector())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refuse(request)
    if refused is not None:
        return refused
    # The exposition format the scraper asks for (text 0.0.4 by default, or OpenMetrics).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)


def refuse(request: HttpRequest) -> HttpResponse | None:
    """None if the caller may scrape; else 401 (no credentials) or 403 (wrong ones)."""
    token = settings.CASEWORK_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return None
        return HttpResponse("invalid metrics token\n", status=403, content_type="text/plain")
    if address_allowed(request.META.get("REMOTE_ADDR", "")):
        return None
    response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def address_allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.CASEWORK_METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False
