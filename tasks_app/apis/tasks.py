"""The task resource: create, list, read, poll, edit, cancel, retry, delete."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from .. import selectors, services
from ..api_errors import Conflict
from ..filters import StableOrderingFilter, TaskFilter, TaskFilterBackend
from ..models import Task, TaskStatus
from ..pagination import CappedLimitOffsetPagination
from ..serializers import (
    CancelResultSerializer,
    TaskCreateSerializer,
    TaskEventSerializer,
    TaskListSerializer,
    TaskResultSerializer,
    TaskRetrySerializer,
    TaskSerializer,
    TaskStatusSerializer,
    TaskUpdateSerializer,
)
from .common import (
    READ_ERRORS,
    SUBMIT_ERRORS,
    TASK_ID,
    WRITE_ERRORS,
    SubmitApi,
    TaskApi,
    errors,
)

TAGS = ["tasks"]


class ListedTaskPagination(CappedLimitOffsetPagination):
    """The task list's pages read as values (selectors.ListedTask); the count reads the
    filtered tasks as before."""

    def page_of(self, queryset):
        return selectors.listed(queryset)


class TaskListCreateApi(SubmitApi):
    """GET: the caller's tasks (staff: everyone's). POST: submit a registered task type."""

    filter_backends = [TaskFilterBackend, StableOrderingFilter]
    filterset_class = TaskFilter
    ordering_fields = ["created_at", "finished_at", "priority", "status", "task_type", "name"]
    pagination_class = ListedTaskPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Task.objects.none()
        return selectors.task_list(user=self.request.user)

    def get_serializer_class(self):
        if self.request is not None and self.request.method == "POST":
            return TaskCreateSerializer
        return TaskListSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_list",
        summary="List tasks",
        description="Newest first, stable across pages. `count` stops at 1,000 "
        "(`count_capped: true` beyond); page with `limit` and `offset` (or `skip`).",
        responses={200: TaskListSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        rows = [selectors.ListedTask(values) for values in self.paginate_queryset(queryset)]
        data = TaskListSerializer(rows, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_create",
        summary="Submit a task",
        description="Only registered task types can be submitted; an unknown one is a 400 that "
        "lists the known ones. Repeating an `idempotency_key` returns the task it made (200).",
        request=TaskCreateSerializer,
        responses={
            201: OpenApiResponse(TaskSerializer, description="Created."),
            200: OpenApiResponse(TaskSerializer, description="The task this key already made."),
            **SUBMIT_ERRORS,
        },
    )
    def post(self, request):
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return self.submit(
            task_type=data["task_type"],
            params=data["params"],
            name=data["name"],
            priority=data["priority"],
            idempotency_key=data["idempotency_key"],
            notify_email=data["notify"],
            callback_url=data["callback_url"],
        )


class TaskDetailApi(TaskApi):
    serializer_class = TaskUpdateSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_retrieve",
        summary="A task in full",
        parameters=[TASK_ID],
        responses={200: TaskSerializer, **READ_ERRORS},
    )
    def get(self, request, task_id):
        task = self.load_task(task_id)
        return Response(TaskSerializer(task, context=self.get_serializer_context()).data)

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_partial_update",
        summary="Rename or re-prioritise a task that has not started",
        description="`status` is never writable (400); a task that has started is a 409. "
        "A new priority moves the task to that priority's queue.",
        parameters=[TASK_ID],
        request=TaskUpdateSerializer,
        responses={200: TaskSerializer, **WRITE_ERRORS, **errors(409)},
    )
    def patch(self, request, task_id):
        task = self.load_task(task_id)
        serializer = TaskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        task = services.task_update(task=task, **serializer.validated_data)
        return Response(TaskSerializer(task, context=self.get_serializer_context()).data)

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_destroy",
        summary="Delete a task",
        description="An unfinished task is cancelled first; the row and its events are removed.",
        parameters=[TASK_ID],
        responses={204: OpenApiResponse(description="Deleted."), **READ_ERRORS},
    )
    def delete(self, request, task_id):
        task = self.load_task(task_id)
        services.task_delete(task=task, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskStatusApi(TaskApi):
    serializer_class = TaskStatusSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_status",
        summary="Poll a task's status",
        description="`result` appears once the task succeeded, `error` once it failed or was "
        "revoked.",
        parameters=[TASK_ID],
        responses={200: TaskStatusSerializer, **READ_ERRORS},
    )
    def get(self, request, task_id):
        return Response(TaskStatusSerializer(self.load_task(task_id)).data)


class TaskStatusByPathApi(TaskStatusApi):
    """The same poll at /tasks/status/{id}, the path some of the users' clients call."""

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_status_by_path",
        summary="Poll a task's status (older path)",
        parameters=[TASK_ID],
        responses={200: TaskStatusSerializer, **READ_ERRORS},
    )
    def get(self, request, task_id):
        return super().get(request, task_id)


class TaskResultApi(TaskApi):
    serializer_class = TaskResultSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_result",
        summary="A succeeded task's result",
        parameters=[TASK_ID],
        responses={200: TaskResultSerializer, **READ_ERRORS, **errors(409)},
    )
    def get(self, request, task_id):
        task = self.load_task(task_id)
        if task.status != TaskStatus.SUCCEEDED:
            raise Conflict(_no_result(task), code="no_result", task_status=task.status)
        return Response(TaskResultSerializer(task).data)


def _no_result(task) -> str:
    if task.status == TaskStatus.FAILED:
        return f"The task failed and has no result: {task.error_message}"
    if task.status == TaskStatus.REVOKED:
        return "The task was cancelled and has no result."
    return f"The task is {task.status}; its result is not ready yet."


class TaskEventsApi(TaskApi):
    serializer_class = TaskEventSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_events",
        summary="A task's status history, oldest first",
        parameters=[TASK_ID],
        responses={200: TaskEventSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, task_id):
        task = self.load_task(task_id)
        return Response(TaskEventSerializer(selectors.task_events(task=task), many=True).data)


class TaskCancelApi(TaskApi):
    serializer_class = CancelResultSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_cancel",
        summary="Cancel a task",
        description="A task that has not started is revoked at once (200); a running one is "
        "asked to stop (202) and is revoked at its next progress report or after the grace "
        "period. A finished task is a 409.",
        parameters=[TASK_ID],
        request=None,
        responses={
            200: OpenApiResponse(CancelResultSerializer, description="Revoked."),
            202: OpenApiResponse(CancelResultSerializer, description="Cancel requested."),
            **READ_ERRORS,
            **errors(409),
        },
    )
    def post(self, request, task_id):
        task = self.load_task(task_id)
        outcome = services.task_cancel(task=task, by=request.user)
        data = CancelResultSerializer(
            {
                "id": task.id,
                "outcome": str(outcome),
                "status": task.status,
                "task_system": task.task_system,
            }
        ).data
        code = (
            status.HTTP_200_OK
            if outcome == services.CancelOutcome.REVOKED
            else status.HTTP_202_ACCEPTED
        )
        return Response(data, status=code)


class TaskRetryApi(SubmitApi):
    serializer_class = TaskRetrySerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_retry",
        summary="Retry a failed or revoked task",
        description="Starts a new task linked to this one (`parent_id`), with the same params "
        "or with those given in the body changed.",
        parameters=[TASK_ID],
        request=TaskRetrySerializer,
        responses={201: TaskSerializer, **WRITE_ERRORS, **errors(409, 429)},
    )
    def post(self, request, task_id):
        task = self.load_task(task_id)
        serializer = TaskRetrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if task.status not in (TaskStatus.FAILED, TaskStatus.REVOKED):
            # Checked before the limit, so a wrong status is a 409 whatever the count.
            raise services.TaskNotRetryable(
                f"only failed or revoked tasks can be retried, not {task.status}"
            )
        self.check_active_limit()
        try:
            new_task = services.task_retry(
                task=task, by=request.user, params=serializer.validated_data.get("params")
            )
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"params": exc.detail}) from None
        return self.task_response(new_task, status.HTTP_201_CREATED)
