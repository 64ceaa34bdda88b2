"""The API's input and output shapes.

Input serializers validate and name the field at fault; they never write. Output serializers
shape a task for one use: the list (light: no params, result, steps or traceback), the detail,
and the status poll the users' clients call every few seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import registry
from .api_errors import unknown_task_type
from .models import Priority, Queue, Task, TaskEvent, TaskStatus, TaskSystem
from .notifications import check_callback_url

MAX_BULK_IDS = 500

# Keys a browser form adds to a POST; never a client's mistake.
_FORM_NOISE = frozenset({"csrfmiddlewaretoken", "_content_type", "_content"})


class StrictSerializer(serializers.Serializer):
    """Refuse input keys the serializer does not declare, naming each one."""

    unknown_field_messages: dict[str, str] = {}

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable - _FORM_NOISE)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [self.unknown_field_messages.get(name, "Unknown field.")]
                        for name in unknown
                    },
                    code="unknown_field",
                )
        return super().to_internal_value(data)


# --- output ---------------------------------------------------------------------------------


class TaskErrorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["exception", "time_limit", "worker_lost", "cancelled"])
    message = serializers.CharField()


def _error_of(task: Task) -> dict | None:
    if task.status in (TaskStatus.FAILED, TaskStatus.REVOKED, TaskStatus.RETRYING) and (
        task.error_kind or task.error_message
    ):
        return {"kind": task.error_kind, "message": task.error_message}
    return None


class BuiltFieldsOnce:
    """Build a ModelSerializer's fields once per class, then hand each instance a copy.

    DRF rebuilds them from the model for every serializer instance (model introspection,
    one build_field per column): 1.7 of the 1.9 ms a task detail cost to serialize. The
    fields depend only on Meta, so a deep copy of the first build is the same fields.
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_built_fields_cache")
        if built is None:
            built = super().get_fields()
            cls._built_fields_cache = built
        return copy.deepcopy(built)


class TaskListSerializer(BuiltFieldsOnce, serializers.ModelSerializer):
    """A task in a list: everything but its heavy JSON (params, result, steps, traceback)."""

    message = serializers.CharField(source="progress_message")
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    parent_id = serializers.UUIDField(allow_null=True)
    error = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(allow_null=True)
    cancel_requested = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = (
            "id",
            "name",
            "task_type",
            "status",
            "priority",
            "queue",
            "task_system",
            "progress",
            "message",
            "error",
            "attempts",
            "max_retries",
            "owner",
            "parent_id",
            "idempotency_key",
            "cancel_requested",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        )
        read_only_fields = fields

    @extend_schema_field(TaskErrorSerializer(allow_null=True))
    def get_error(self, task: Task) -> dict | None:
        return _error_of(task)

    def get_cancel_requested(self, task: Task) -> bool:
        return task.cancel_requested_at is not None

    def to_representation(self, task: Task) -> dict:
        """A list row, written directly: the declared fields' values in Meta.fields order.

        DRF's generic path visits the 21 fields of every row (attribute lookup, the field's
        to_representation, an ordered dict): 1.1 ms of a 20-row page, a sixth of a list
        request in-process. The fields stay declared for the schema and for TaskSerializer;
        timestamps go through a DateTimeField, so they read exactly as the fields write them
        (tests/tasks_app/test_api_tasks.py compares both paths row by row). `task` is a Task
        or, from the list endpoint, a selectors.ListedTask with the same attributes.
        """
        when = self._datetime_field().to_representation
        duration = task.duration_seconds
        return {
            "id": str(task.id),
            "name": task.name,
            "task_type": task.task_type,
            "status": str(task.status),
            "priority": int(task.priority),
            "queue": str(task.queue),
            "task_system": str(task.task_system),
            "progress": int(task.progress),
            "message": task.progress_message,
            "error": _error_of(task),
            "attempts": int(task.attempts),
            "max_retries": int(task.max_retries),
            "owner": task.owner.username if task.owner_id is not None else None,
            "parent_id": str(task.parent_id) if task.parent_id is not None else None,
            "idempotency_key": task.idempotency_key,
            "cancel_requested": task.cancel_requested_at is not None,
            "created_at": when(task.created_at),
            "queued_at": when(task.queued_at),
            "started_at": when(task.started_at),
            "finished_at": when(task.finished_at),
            "duration_seconds": float(duration) if duration is not None else None,
        }

    def _datetime_field(self) -> serializers.DateTimeField:
        """A DateTimeField in the current time zone, made once per serializer: a page's rows
        share one child serializer, and looking the zone up for each of its 80 timestamps
        was a tenth of a list request."""
        field = self.__dict__.get("_datetime")
        if field is None:
            field = serializers.DateTimeField(default_timezone=timezone.get_current_timezone())
            self._datetime = field
        return field


class TaskSerializer(TaskListSerializer):
    """A task in full. The traceback is shown to staff only: it describes the server."""

    traceback = serializers.SerializerMethodField()
    schedule_id = serializers.IntegerField(
        allow_null=True, help_text="The schedule (PeriodicTask) that started this run."
    )

    class Meta(TaskListSerializer.Meta):
        fields = (
            *TaskListSerializer.Meta.fields,
            "params",
            "steps",
            "result",
            "traceback",
            "worker",
            "heartbeat_at",
            "next_attempt_at",
            "notify_email",
            "callback_url",
            "schedule_id",
            "legal_hold",
        )
        read_only_fields = fields

    def get_traceback(self, task: Task) -> str | None:
        request = self.context.get("request")
        if request is not None and request.user.is_staff:
            return task.traceback
        return None

    def to_representation(self, task: Task) -> dict:
        """The list row plus the detail's own fields, written directly like the row.

        Every submit answers with this: DRF's generic path copied and visited its 32 fields
        for each response (a quarter of a submit's CPU in-process). The declared fields
        stay for the schema; tests/tasks_app/test_api_tasks.py compares both paths.
        """
        when = self._datetime_field().to_representation
        return {
            **super().to_representation(task),
            "params": task.params,
            "steps": task.steps,
            "result": task.result,
            "traceback": self.get_traceback(task),
            "worker": task.worker,
            "heartbeat_at": when(task.heartbeat_at),
            "next_attempt_at": when(task.next_attempt_at),
            "notify_email": bool(task.notify_email),
            "callback_url": task.callback_url,
            "schedule_id": task.schedule_id,
            "legal_hold": bool(task.legal_hold),
        }


class TaskStatusSerializer(serializers.Serializer):
    """What a client polls: `result` once succeeded, `error` once failed or revoked."""

    task_id = serializers.UUIDField(source="id")
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    message = serializers.CharField(source="progress_message")
    steps = serializers.ListField(child=serializers.DictField())
    task_system = serializers.ChoiceField(choices=TaskSystem.choices)
    cancel_requested = serializers.SerializerMethodField()
    result = serializers.JSONField(required=False, allow_null=True)
    error = TaskErrorSerializer(required=False)

    def get_cancel_requested(self, task: Task) -> bool:
        return task.cancel_requested_at is not None

    def to_representation(self, task: Task) -> dict:
        """Written directly, like the list row: this is what clients poll every few seconds
        (tests/tasks_app/test_api_tasks.py compares it with the declared fields' output)."""
        data = {
            "task_id": str(task.id),
            "status": str(task.status),
            "progress": int(task.progress),
            "message": task.progress_message,
            "steps": task.steps,
            "task_system": str(task.task_system),
            "cancel_requested": task.cancel_requested_at is not None,
        }
        if task.status == TaskStatus.SUCCEEDED:
            data["result"] = task.result
        error = _error_of(task)
        if error is not None:
            data["error"] = error
        return data


class TaskResultSerializer(serializers.Serializer):
    task_id = serializers.UUIDField(source="id")
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    task_system = serializers.ChoiceField(choices=TaskSystem.choices)
    result = serializers.JSONField(allow_null=True)


class TaskEventSerializer(BuiltFieldsOnce, serializers.ModelSerializer):
    class Meta:
        model = TaskEvent
        fields = ("id", "at", "from_status", "to_status", "attempt", "detail")
        read_only_fields = fields


class CancelResultSerializer(serializers.Serializer):
    task_id = serializers.UUIDField(source="id")
    outcome = serializers.ChoiceField(choices=["revoked", "cancel_requested"])
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    task_system = serializers.ChoiceField(choices=TaskSystem.choices)


# --- input ----------------------------------------------------------------------------------


def _priority_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Priority.choices,
        help_text="1 low, 2 normal, 3 high, 4 critical. Defaults to the task type's priority.",
        **kwargs,
    )


class TaskCreateSerializer(StrictSerializer):
    """Input of POST /tasks/: a registered task type and its parameters.

    `params` is the parameters as a dict. For the users' older clients, `args` (positional,
    matched to the type's parameters in their declared order) and `kwargs` are accepted
    instead, and `celery_task_name` may stand for `task_type` when it names a registered type.
    """

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    task_type = serializers.CharField(max_length=100, required=False)
    celery_task_name = serializers.CharField(max_length=200, required=False)
    params = serializers.DictField(required=False)
    args = serializers.ListField(required=False)
    kwargs = serializers.DictField(required=False)
    priority = _priority_field(required=False)
    idempotency_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Repeat a submit with the same key to get the task it created (200).",
    )
    notify = serializers.BooleanField(
        required=False, default=False, help_text="Email me when it finishes or fails."
    )
    callback_url = serializers.URLField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="An http(s) URL POSTed a signed JSON summary when the task finishes.",
    )

    def validate_callback_url(self, value: str) -> str:
        return check_callback_url(value) if value else ""

    def validate(self, attrs: dict) -> dict:
        kind = self._task_type(attrs)
        params = self._params(attrs, kind)
        try:
            clean = kind.validate(params)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"params": exc.detail}) from None
        return {
            "task_type": kind.name,
            "params": params,
            "validated_params": clean,
            "name": attrs.get("name") or "",
            "priority": attrs.get("priority"),
            "idempotency_key": attrs.get("idempotency_key") or None,
            "notify": attrs.get("notify", False),
            "callback_url": attrs.get("callback_url", ""),
        }

    def _task_type(self, attrs: dict) -> registry.TaskType:
        type_name = attrs.get("task_type")
        celery_name = attrs.get("celery_task_name")
        if not type_name and not celery_name:
            raise serializers.ValidationError(
                {"task_type": ["This field is required."]}, code="required"
            )
        if type_name and celery_name and type_name != celery_name:
            raise serializers.ValidationError(
                {"celery_task_name": ["Must name the same registered type as task_type."]}
            )
        field = "task_type" if type_name else "celery_task_name"
        name = type_name or celery_name
        try:
            kind = registry.get(name)
            if not kind.public:
                raise registry.UnknownTaskType(name)
        except registry.UnknownTaskType as exc:
            raise unknown_task_type(exc, field) from None
        return kind

    def _params(self, attrs: dict, kind: registry.TaskType) -> dict:
        given = [key for key in ("params", "args", "kwargs") if key in attrs]
        if "params" in given and len(given) > 1:
            other = given[1]
            raise serializers.ValidationError({other: ["Send params, or args/kwargs, not both."]})
        if "params" in attrs:
            return dict(attrs["params"])
        params: dict = {}
        args = attrs.get("args") or []
        if args:
            names = [n for n, f in kind.params().fields.items() if not f.read_only]
            if len(args) > len(names):
                raise serializers.ValidationError(
                    {
                        "args": [
                            f"{kind.name} takes at most {len(names)} positional arguments "
                            f"({', '.join(names) or 'none'}); got {len(args)}."
                        ]
                    }
                )
            params.update(zip(names, args, strict=False))
        for key, value in (attrs.get("kwargs") or {}).items():
            if key in params:
                raise serializers.ValidationError(
                    {"kwargs": [f"{key} is given both positionally and by name."]}
                )
            params[key] = value
        return params


class TaskUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    priority = _priority_field(required=False)

    unknown_field_messages = {
        "status": "The status of a task is never writable; POST …/cancel to stop a task.",
    }


class TaskRetrySerializer(StrictSerializer):
    params = serializers.DictField(
        required=False, help_text="Parameters to change; the others are the failed task's."
    )


class BulkFilterSerializer(StrictSerializer):
    """The list's filters, for choosing the tasks of a bulk action."""

    status = serializers.CharField(required=False, help_text="Comma-separated statuses.")
    task_type = serializers.CharField(required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    queue = serializers.ChoiceField(choices=Queue.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    search = serializers.CharField(required=False)


class BulkActionSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=["cancel", "retry", "delete"])
    ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=MAX_BULK_IDS, allow_empty=False
    )
    filter = BulkFilterSerializer(required=False)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, attrs: dict) -> dict:
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError(
                {"ids": ["Send either ids or filter (exactly one)."]}, code="invalid"
            )
        return attrs


class BulkResultSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["cancel", "retry", "delete"])
    dry_run = serializers.BooleanField()
    matched = serializers.IntegerField(help_text="Tasks selected (at most `limit`).")
    eligible = serializers.IntegerField(help_text="Of those, tasks the action applies to.")
    applied = serializers.IntegerField(help_text="Tasks the action was applied to (0 on dry run).")
    skipped = serializers.IntegerField(help_text="Selected tasks the action does not apply to.")
    truncated = serializers.BooleanField(help_text="More tasks matched than `limit`; repeat.")
    limit = serializers.IntegerField()
    new_task_ids = serializers.ListField(child=serializers.UUIDField(), required=False)


class CountSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_type = serializers.DictField(child=serializers.IntegerField())


class TypeDurationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean_seconds = serializers.FloatField()
    p95_seconds = serializers.FloatField()


class StatsSerializer(serializers.Serializer):
    window_minutes = serializers.IntegerField()
    finished = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    revoked = serializers.IntegerField()
    failure_rate = serializers.FloatField(
        allow_null=True, help_text="failed / (succeeded + failed); null when none finished."
    )
    throughput_per_minute = serializers.ListField(
        child=serializers.DictField(), help_text="[{minute, finished}] for the last hour."
    )
    throughput_per_hour = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="[{hour, finished, failed}] when `hours` > 1 (from the hourly roll-ups).",
    )
    duration_by_type = serializers.DictField(child=TypeDurationSerializer())
    queue_depth = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="Messages waiting per broker queue; null when the broker is unreachable.",
    )
    workers_online = serializers.IntegerField(
        allow_null=True, help_text="Workers answering a ping; null when none could be asked."
    )


class ExampleShortcutSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    seconds = serializers.IntegerField(required=False)
    priority = _priority_field(required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False)


class AddShortcutSerializer(StrictSerializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    name = serializers.CharField(max_length=200, required=False)
    priority = _priority_field(required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False)


class ProcessDocumentSerializer(StrictSerializer):
    document_id = serializers.CharField(max_length=200, required=False)
    source = serializers.CharField(max_length=2000, required=False)
    params = serializers.DictField(required=False, help_text="Further options of the type.")
    name = serializers.CharField(max_length=200, required=False)
    priority = _priority_field(required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("document_id") and not attrs.get("source"):
            raise serializers.ValidationError(
                {"document_id": ["Send a document_id or a source."]}, code="required"
            )
        return attrs


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
    expiry = serializers.DateTimeField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = serializers.CharField(help_text="A stable code, e.g. `invalid`, `not_found`.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per invalid input field (nested fields joined with dots).",
    )
    retry_after = serializers.IntegerField(required=False, help_text="Seconds; on 429 only.")
    status = serializers.ChoiceField(
        choices=TaskStatus.choices, required=False, help_text="The task's status; on 409 only."
    )
