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

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask
from rest_framework import serializers

from . import registry, services
from .models import Priority, Task, TaskEvent, TaskStatus
from .pagination import COUNT_CAP

HEAVY_COLUMNS = ("params", "result", "traceback", "steps", "checkpoint")


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows; the pages past that are reached by filtering."""

    @cached_property
    def count(self) -> int:
        # Unordered, so PostgreSQL need not sort the matching rows to count them.
        return min(self.object_list.order_by()[: COUNT_CAP + 1].count(), COUNT_CAP)


class TaskChangeList(ChangeList):
    """Links each row to its change page without a URL resolver call per row."""

    @cached_property
    def _change_url(self) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[_URL_PLACEHOLDER],
            current_app=self.model_admin.admin_site.name,
        )

    def url_for_result(self, result) -> str:
        return self._change_url.replace(_URL_PLACEHOLDER, quote(str(result.pk)))


_URL_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


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
    # Rows rendered a string each, column plans made once per page (admin_rows.py).
    change_list_template = "admin/casework/change_list_rows.html"
    search_fields = ("name", "owner__username")
    search_help_text = "A task id, or part of a name or an owner's username."
    ordering = ("-created_at", "-id")
    actions = ("cancel_tasks", "retry_tasks", "delete_tasks", "hold_tasks", "release_tasks")
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
                    "schedule",
                    "legal_hold",
                    "notify_email",
                    "callback_url",
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
    # The engine owns every field: an operator acts through the actions, never by editing.
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

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

    def get_changelist(self, request, **kwargs):
        return TaskChangeList

    # --- columns -----------------------------------------------------------------------------

    # The changelist's rows cost more to render than to read (4 queries, ~2 ms, for 50 rows of
    # 1,000,000): Django renders each row's checkbox through a form widget template and
    # reverses each row's URL, a third of the page's time in pyinstrument. The same markup,
    # written directly:
    def action_checkbox(self, task: Task) -> str:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            task.pk,
            format_html(_("Select this object for an action - {}"), task),
        )

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

    @admin.action(description="Place selected tasks on legal hold", permissions=["operate"])
    def hold_tasks(self, request, queryset):
        done = services.task_set_legal_hold(queryset=queryset, hold=True)
        self._report(request, "Placed on legal hold", done, 0, "")

    @admin.action(description="Release selected tasks from legal hold", permissions=["operate"])
    def release_tasks(self, request, queryset):
        done = services.task_set_legal_hold(queryset=queryset, hold=False)
        self._report(request, "Released from legal hold", done, 0, "")

    def _report(self, request, verb: str, done: int, skipped: int, why: str) -> None:
        text = f"{verb} {done} task{'s' if done != 1 else ''}."
        if skipped:
            text += f" Skipped {skipped} ({why})."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)


# The admin index links the operations dashboard (tasks_app/dashboard.py).
admin.site.index_template = "admin/casework/index.html"


# --- schedules (django-celery-beat's PeriodicTask) ------------------------------------------

RUN_SCHEDULED = "casework.run_scheduled"
SCHEDULE_KWARGS = {"task_type", "params", "priority"}


class ScheduleForm(beat_admin.PeriodicTaskForm):
    """django-celery-beat's form, plus: a run of a registered type has valid params.

    For task `casework.run_scheduled` the keyword arguments must be
    `{"task_type": <registered type>, "params": {...}, "priority": 1-4 (optional)}`, and the
    params are validated by that type's serializer, errors naming the parameter.
    """

    def clean(self):
        data = super().clean()
        if data.get("task") == RUN_SCHEDULED and "kwargs" not in self._errors:
            try:
                data["kwargs"] = json.dumps(validate_schedule_kwargs(data.get("kwargs") or "{}"))
            except forms.ValidationError as exc:
                self.add_error("kwargs", exc)
            if json.loads(data.get("args") or "[]"):
                self.add_error("args", "casework.run_scheduled takes keyword arguments only.")
        return data


def validate_schedule_kwargs(raw: str) -> dict:
    """The keyword arguments of a run_scheduled schedule, validated; else ValidationError."""
    kwargs = json.loads(raw)
    if not isinstance(kwargs, dict):
        raise forms.ValidationError("Must be a JSON object {task_type, params}.")
    unknown = sorted(set(kwargs) - SCHEDULE_KWARGS)
    if unknown:
        raise forms.ValidationError(f"Unknown keys: {', '.join(unknown)}.")
    name = kwargs.get("task_type")
    try:
        kind = registry.get(name or "")
    except registry.UnknownTaskType:
        known = ", ".join(registry.known_names(public_only=False))
        raise forms.ValidationError(
            f"task_type: {name!r} is not a registered task type. Known types: {known}."
        ) from None
    params = kwargs.get("params", {})
    if not isinstance(params, dict):
        raise forms.ValidationError("params: must be a JSON object.")
    priority = kwargs.get("priority")
    if priority is not None and priority not in Priority.values:
        raise forms.ValidationError(f"priority: must be one of {Priority.values}.")
    try:
        clean = kind.to_json_params(params)
    except serializers.ValidationError as exc:
        raise forms.ValidationError(
            [f"params.{field}: {message}" for field, message in _flat_errors(exc.detail)]
        ) from None
    return {**kwargs, "task_type": kind.name, "params": clean}


def _flat_errors(detail, prefix: str = ""):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flat_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict | list):
                yield from _flat_errors(item, prefix)
            else:
                yield prefix or "params", str(item)
    else:
        yield prefix or "params", str(detail)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(beat_admin.PeriodicTaskAdmin):
    """Schedules of any registered task type; each run is a Task row listed on the page."""

    form = ScheduleForm
    list_display = (
        "name",
        "enabled",
        "scheduled_type",
        "scheduler",
        "queue",
        "priority",
        "last_run_at",
        "total_run_count",
    )
    readonly_fields = (*beat_admin.PeriodicTaskAdmin.readonly_fields, "recent_runs")

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Runs", {"fields": ("recent_runs",)}))
        return fieldsets

    @admin.display(description="runs")
    def scheduled_type(self, schedule: PeriodicTask) -> str:
        if schedule.task != RUN_SCHEDULED:
            return schedule.task
        try:
            return json.loads(schedule.kwargs or "{}").get("task_type", "?")
        except ValueError:
            return "?"

    @admin.display(description="recent runs")
    def recent_runs(self, schedule: PeriodicTask) -> str:
        runs = list(
            Task.objects.filter(schedule=schedule)
            .order_by("-created_at")
            .only("id", "status", "created_at")[:10]
        )
        if not runs:
            return "—"
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} {}</div>',
            (
                (
                    reverse("admin:tasks_app_task_change", args=[run.id]),
                    run.id,
                    run.status,
                    run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
                for run in runs
            ),
        )

    @admin.action(description="Run selected schedules now (same queue, priority and headers)")
    def run_tasks(self, request, queryset):
        sent = 0
        for schedule in queryset:
            services.schedule_run_now(schedule=schedule)
            sent += 1
        self._report_runs(request, sent)

    def _report_runs(self, request, sent: int) -> None:
        self.message_user(
            request, f"Sent {sent} schedule{'s' if sent != 1 else ''} to run now.", messages.SUCCESS
        )
