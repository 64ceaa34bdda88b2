"""Bulk actions and the caller's counters: POST /tasks/bulk, GET /tasks/count, /tasks/stats."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from .. import selectors, services
from ..filters import TaskFilter
from ..models import Task, TaskStatus
from ..serializers import (
    BulkActionSerializer,
    BulkResultSerializer,
    CountSerializer,
    StatsSerializer,
)
from .common import SubmitApi, TaskApi, errors

TAGS = ["tasks"]
# At most this many tasks per bulk request; more matches answer `truncated: true`.
BULK_LIMIT = 500
# Heavy columns a bulk action never reads.
_UNREAD = ("result", "traceback", "steps", "checkpoint")


def _eligible(action: str, task: Task) -> bool:
    if action == "cancel":
        return task.is_active
    if action == "retry":
        return task.status in (TaskStatus.FAILED, TaskStatus.REVOKED)
    return True


class TaskBulkApi(SubmitApi):
    """Cancel, retry or delete many of the caller's tasks, chosen by ids or by filter."""

    serializer_class = BulkActionSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_bulk",
        summary="Cancel, retry or delete many tasks",
        description=f"Choose tasks by `ids` (at most {BULK_LIMIT}) or by `filter` (the list's "
        f"filters); at most {BULK_LIMIT} are acted on per request, newest first "
        "(`truncated: true` says to repeat). `dry_run` only counts.",
        request=BulkActionSerializer,
        responses={200: BulkResultSerializer, **errors(400, 401, 413, 415, 429)},
        examples=[
            OpenApiExample(
                "cancel my queued tasks",
                value={"action": "cancel", "filter": {"status": "pending,queued"}},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = BulkActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        dry_run = serializer.validated_data["dry_run"]
        queryset = self._selected(serializer.validated_data, request.data)
        rows = list(queryset.defer(*_UNREAD)[: BULK_LIMIT + 1])
        truncated = len(rows) > BULK_LIMIT
        rows = rows[:BULK_LIMIT]
        eligible = [task for task in rows if _eligible(action, task)]
        result = {
            "action": action,
            "dry_run": dry_run,
            "matched": len(rows),
            "eligible": len(eligible),
            "applied": 0,
            "skipped": len(rows) - len(eligible),
            "truncated": truncated,
            "limit": BULK_LIMIT,
        }
        if not dry_run:
            applied, new_ids = self._apply(action, eligible)
            result["applied"] = applied
            result["skipped"] = len(rows) - applied
            if action == "retry":
                result["new_task_ids"] = new_ids
        return Response(BulkResultSerializer(result).data)

    def _selected(self, data: dict, raw: dict):
        queryset = selectors.task_list(user=self.request.user)
        if "ids" in data:
            return queryset.filter(pk__in=data["ids"])
        filterset = TaskFilter(data=raw.get("filter") or {}, queryset=queryset)
        if not filterset.is_valid():
            raise serializers.ValidationError({"filter": filterset.errors})
        return filterset.qs

    def _apply(self, action: str, tasks: list[Task]) -> tuple[int, list]:
        by = self.request.user
        if action == "retry":
            self.check_active_limit(wanted=len(tasks))
        applied, new_ids = 0, []
        for task in tasks:
            try:
                if action == "cancel":
                    services.task_cancel(task=task, by=by)
                elif action == "retry":
                    new_ids.append(services.task_retry(task=task, by=by).id)
                else:
                    services.task_delete(task=task, by=by)
            except (services.TaskNotCancellable, services.TaskNotRetryable):
                # It finished (or changed) between the read and the action: skipped.
                continue
            applied += 1
        return applied, new_ids


class TaskCountApi(TaskApi):
    serializer_class = CountSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_count",
        summary="The caller's own tasks counted by status and by type",
        responses={200: CountSerializer, **errors(401)},
    )
    def get(self, request):
        return Response(CountSerializer(selectors.task_counts(owner=request.user)).data)


class TaskStatsApi(TaskApi):
    serializer_class = StatsSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_stats",
        summary="Throughput, durations, failure rate, queue depth and workers",
        description="Over the tasks the caller may see that finished in the last hour, or in "
        "the last `hours` (at most a week; per hour, from the hourly roll-ups). "
        "`queue_depth` and `workers_online` come from the broker and are null when it "
        "can't be reached.",
        parameters=[
            OpenApiParameter(
                "hours", int, description=f"1 (default) to {selectors.STATS_MAX_HOURS}"
            )
        ],
        responses={200: StatsSerializer, **errors(400, 401)},
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = selectors.task_stats(user=request.user, hours=query.validated_data["hours"])
        return Response(StatsSerializer(stats).data)


class StatsQuerySerializer(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=selectors.STATS_MAX_HOURS, default=1)
