"""The operator's view of the engine: every task, its progress, its history; cancel and retry.

Built for a big table: the changelist never counts every row (the paginator counts at most
COUNT_CAP), reads no heavy JSON, joins the owner in the same query, and its filters take their
choices from code (the registry, the enums) rather than from a DISTINCT over the table.
Tasks are not added or edited here: they are submitted through services, and an engine
field written by hand would contradict the lifecycle.
"""

from __future__ import annotations

import json
import uuid
from functools import cached_property

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils.html import format_html

from . import registry, services
from .models import Task, TaskEvent, TaskStatus
from .pagination import COUNT_CAP

HEAVY_COLUMNS = ("params", "result", "traceback", "steps", "checkpoint")


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows; the pages past that are reached by filtering."""

    @cached_property
    def count(self) -> int:
        # Unordered, so PostgreSQL need not sort the matching rows to count them.
        return min(self.object_list.order_by()[: COUNT_CAP + 1].count(), COUNT_CAP)


class TaskTypeFilter(admin.SimpleListFilter):
    title = "task type"
    parameter_name = "task_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in registry.known_names(public_only=False)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(task_type=self.value())
        return queryset


def pretty_json(value) -> str:
    if value in (None, "", [], {}):
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


class TaskEventInline(admin.TabularInline):
    model = TaskEvent
    fields = ("at", "from_status", "to_status", "attempt", "detail_pretty")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ("id",)

    @admin.display(description="detail")
    def detail_pretty(self, event: TaskEvent) -> str:
        return pretty_json(event.detail)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "task_type",
        "status",
        "progress_bar",
        "priority",
        "queue",
        "owner",
        "created_at",
        "duration",
    )
    list_filter = (
        "status",
        TaskTypeFilter,
        "priority",
        "queue",
        "task_system",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("owner",)
    list_per_page = 50
    show_full_result_count = False
    paginator = CappedCountPaginator
    search_fields = ("name", "owner__username")
    search_help_text = "A task id, or part of a name or an owner's username."
    ordering = ("-created_at", "-id")
    actions = ("cancel_tasks", "retry_tasks", "delete_tasks")
    inlines = (TaskEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "name",
                    "task_type",
                    "owner",
                    "status",
                    "progress_bar",
                    "progress_message",
                    "task_system",
                    "priority",
                    "queue",
                    "attempts",
                    "max_retries",
                    "worker",
                    "parent_link",
                    "idempotency_key",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "duration",
                    "heartbeat_at",
                    "next_attempt_at",
                    "cancel_requested_at",
                    "cancel_requested_by",
                )
            },
        ),
        ("Input and output", {"fields": ("params_pretty", "steps_pretty", "result_pretty")}),
        (
            "Error",
            {"fields": ("error_kind", "error_message", "traceback_pretty", "checkpoint_pretty")},
        ),
    )
    readonly_fields = (
        "id",
        "name",
        "task_type",
        "owner",
        "status",
        "progress_bar",
        "progress_message",
        "task_system",
        "priority",
        "queue",
        "attempts",
        "max_retries",
        "worker",
        "parent_link",
        "idempotency_key",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "duration",
        "heartbeat_at",
        "next_attempt_at",
        "cancel_requested_at",
        "cancel_requested_by",
        "params_pretty",
        "steps_pretty",
        "result_pretty",
        "error_kind",
        "error_message",
        "traceback_pretty",
        "checkpoint_pretty",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "tasks_app_task_changelist":
            queryset = queryset.defer(*HEAVY_COLUMNS)
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """An id finds its task by primary key; any other term searches names and owners."""
        term = search_term.strip()
        try:
            task_id = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=task_id), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The change page is for reading; the actions are how an operator acts.
        return False

    def has_operate_permission(self, request) -> bool:
        """Who may cancel, retry and delete: those granted the model's change permission."""
        return request.user.has_perm("tasks_app.change_task")

    def delete_model(self, request, obj: Task) -> None:
        services.task_delete(task=obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for task in queryset:
            services.task_delete(task=task, by=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Django's own bulk delete skips services.task_delete and so would not cancel.
        actions.pop("delete_selected", None)
        return actions

    # --- columns -----------------------------------------------------------------------------

    @admin.display(description="progress")
    def progress_bar(self, task: Task) -> str:
        colour = {
            TaskStatus.SUCCEEDED: "#3a7d44",
            TaskStatus.FAILED: "#ba2121",
            TaskStatus.REVOKED: "#888",
        }.get(task.status, "#417690")
        return format_html(
            '<div title="{}%" style="width: 100px; background: #eee; border-radius: 3px">'
            '<div style="width: {}px; background: {}; height: 10px; border-radius: 3px">'
            "</div></div>",
            task.progress,
            task.progress,
            colour,
        )

    @admin.display(description="duration")
    def duration(self, task: Task) -> str:
        seconds = task.duration_seconds
        if seconds is None:
            return "—"
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, rest = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"

    @admin.display(description="parent")
    def parent_link(self, task: Task) -> str:
        if task.parent_id is None:
            return "—"
        url = reverse("admin:tasks_app_task_change", args=[task.parent_id])
        return format_html('<a href="{}">{}</a>', url, task.parent_id)

    @admin.display(description="params")
    def params_pretty(self, task: Task) -> str:
        return pretty_json(task.params)

    @admin.display(description="steps")
    def steps_pretty(self, task: Task) -> str:
        return pretty_json(task.steps)

    @admin.display(description="result")
    def result_pretty(self, task: Task) -> str:
        return pretty_json(task.result)

    @admin.display(description="checkpoint")
    def checkpoint_pretty(self, task: Task) -> str:
        return pretty_json(task.checkpoint)

    @admin.display(description="traceback")
    def traceback_pretty(self, task: Task) -> str:
        if not task.traceback:
            return "—"
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', task.traceback)

    # --- actions -----------------------------------------------------------------------------

    @admin.action(description="Cancel selected tasks", permissions=["operate"])
    def cancel_tasks(self, request, queryset):
        done = 0
        skipped = queryset.exclude(status__in=TaskStatus.active()).count()
        for task in queryset.filter(status__in=TaskStatus.active()):
            try:
                services.task_cancel(task=task, by=request.user)
                done += 1
            except services.TaskNotCancellable:
                skipped += 1
        self._report(request, "Cancelled", done, skipped, "already finished")

    @admin.action(description="Retry selected failed or revoked tasks", permissions=["operate"])
    def retry_tasks(self, request, queryset):
        retryable = (TaskStatus.FAILED, TaskStatus.REVOKED)
        done = 0
        skipped = queryset.exclude(status__in=retryable).count()
        for task in queryset.filter(status__in=retryable):
            services.task_retry(task=task, by=request.user)
            done += 1
        self._report(request, "Retried", done, skipped, "not failed or revoked")

    @admin.action(
        description="Delete selected tasks (cancelling unfinished ones)", permissions=["delete"]
    )
    def delete_tasks(self, request, queryset):
        done = 0
        for task in queryset:
            services.task_delete(task=task, by=request.user)
            done += 1
        self._report(request, "Deleted", done, 0, "")

    def _report(self, request, verb: str, done: int, skipped: int, why: str) -> None:
        text = f"{verb} {done} task{'s' if done != 1 else ''}."
        if skipped:
            text += f" Skipped {skipped} ({why})."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
