"""The operations dashboard in the admin: throughput, durations, failures, queues, workers.

Server-rendered with inline SVG bar charts (no JavaScript library, no build step). The last
24 hours come from the hourly roll-ups plus the current hour's rows (selectors.task_stats).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.template.response import TemplateResponse

from . import selectors

DASHBOARD_HOURS = 24
CHART_WIDTH = 720
CHART_HEIGHT = 120


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


def bar_chart(points: list[tuple[str, float]]) -> dict:
    """Geometry of a bar chart of (label, value) points, scaled to the chart's box."""
    top = max((value for _, value in points), default=0) or 1
    width = CHART_WIDTH / max(1, len(points))
    bars = [
        Bar(
            x=round(index * width + 1, 1),
            y=round(CHART_HEIGHT - CHART_HEIGHT * value / top, 1),
            width=round(max(1.0, width - 2), 1),
            height=round(CHART_HEIGHT * value / top, 1),
            label=label,
            value=value,
        )
        for index, (label, value) in enumerate(points)
    ]
    return {"bars": bars, "max": top, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def dashboard_view(request):
    stats = selectors.task_stats(user=request.user, hours=DASHBOARD_HOURS)
    hours = stats["throughput_per_hour"]
    rates = [
        (
            row["hour"][11:16],
            round(100 * row["failed"] / row["finished"], 1) if row["finished"] else 0,
        )
        for row in hours
    ]
    durations = stats["duration_by_type"]
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "stats": stats,
        "hours": DASHBOARD_HOURS,
        "throughput_chart": bar_chart([(row["hour"][11:16], row["finished"]) for row in hours]),
        "failure_chart": bar_chart(rates),
        "p95_chart": bar_chart(
            [(name, values["p95_seconds"]) for name, values in sorted(durations.items())]
        ),
        "durations": sorted(durations.items()),
        "queues": sorted((stats["queue_depth"] or {}).items()),
    }
    return TemplateResponse(request, "admin/casework/dashboard.html", context)
