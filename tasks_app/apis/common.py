"""What every task endpoint shares: loading a visible task, submitting, documented errors."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from .. import selectors, services
from ..api_errors import ActiveTaskLimit
from ..models import Task
from ..parsers import BoundedFormParser, BoundedJSONParser
from ..serializers import ErrorSerializer, TaskSerializer
from ..throttles import SubmitRateThrottle

# How long a client at its active-task limit is told to wait before submitting again.
ACTIVE_LIMIT_RETRY_AFTER = 30

TASK_ID = OpenApiParameter(
    "task_id", type=uuid.UUID, location=OpenApiParameter.PATH, description="The task's id."
)

_ERROR_TEXT = {
    400: "Invalid input; `fields` names each field at fault.",
    401: "Missing, invalid or expired credentials.",
    404: "No such task, or not one of yours.",
    409: "The task's status does not allow this; `status` says what it is.",
    413: "The request body is too large.",
    415: "The body is not JSON (or a form).",
    429: "Too many requests or too many unfinished tasks; retry after `Retry-After` seconds.",
}

_ERROR_EXAMPLES = {
    400: OpenApiExample(
        "unknown task type",
        value={
            "error": "unknown_task_type",
            "detail": "Unknown task type 'nope'. Known types: add, example, long_running.",
            "fields": {
                "task_type": ["Unknown task type 'nope'. Known types: add, example, long_running."]
            },
        },
        status_codes=["400"],
        response_only=True,
    ),
    429: OpenApiExample(
        "throttled",
        value={
            "error": "throttled",
            "detail": "Request was throttled. Expected available in 42 seconds.",
            "fields": {},
            "retry_after": 42,
        },
        status_codes=["429"],
        response_only=True,
    ),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, all in the one error shape."""
    return {
        code: OpenApiResponse(
            ErrorSerializer,
            description=_ERROR_TEXT[code],
            examples=[_ERROR_EXAMPLES[code]] if code in _ERROR_EXAMPLES else [],
        )
        for code in codes
    }


READ_ERRORS = errors(401, 404)
WRITE_ERRORS = errors(400, 401, 404, 413, 415)
SUBMIT_ERRORS = errors(400, 401, 413, 415, 429)


class TaskApi(GenericAPIView):
    """Base of the task endpoints: bounded body parsers and owner-scoped task loading."""

    parser_classes = [BoundedJSONParser, BoundedFormParser, MultiPartParser]
    # Names the model of the {task_id} path parameter for the schema; never queried.
    queryset = Task.objects.none()
    # Set once the task is loaded, so an error about it can report its current status.
    task: Task | None = None

    def load_task(self, task_id) -> Task:
        try:
            pk = uuid.UUID(str(task_id))
        except ValueError:
            raise Http404("No such task.") from None
        self.task = selectors.task_get(user=self.request.user, task_id=pk)
        return self.task

    def get_object(self) -> Task:
        return self.load_task(self.kwargs["task_id"])


class SubmitApi(TaskApi):
    """Base of the endpoints that start tasks: throttled per user, capped per user."""

    submit_methods = ("POST",)

    def get_throttles(self):
        if self.request.method in self.submit_methods:
            return [SubmitRateThrottle()]
        return super().get_throttles()

    def check_active_limit(self, *, wanted: int = 1) -> None:
        limit = settings.CASEWORK_MAX_ACTIVE_TASKS_PER_USER
        active = selectors.active_task_count(owner=self.request.user, cap=limit)
        if active + wanted > limit:
            raise ActiveTaskLimit(limit, ACTIVE_LIMIT_RETRY_AFTER)

    def submit(
        self,
        *,
        task_type: str,
        params: dict,
        name: str = "",
        priority: int | None = None,
        idempotency_key: str | None = None,
        notify_email: bool = False,
        callback_url: str = "",
    ) -> Response:
        """Submit and answer 201 with the task, or 200 with the one this key already made."""
        existing = selectors.task_by_idempotency_key(owner=self.request.user, key=idempotency_key)
        if existing is not None:
            return self.task_response(existing, status.HTTP_200_OK)
        try:
            submitted = services.task_submit(
                owner=self.request.user,
                task_type=task_type,
                params=params,
                priority=priority,
                name=name,
                idempotency_key=idempotency_key,
                notify_email=notify_email,
                callback_url=callback_url,
                active_cap=settings.CASEWORK_MAX_ACTIVE_TASKS_PER_USER,
            )
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"params": exc.detail}) from None
        except services.ActiveTaskLimitReached as exc:
            raise ActiveTaskLimit(exc.limit, ACTIVE_LIMIT_RETRY_AFTER) from None
        code = status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK
        return self.task_response(submitted.task, code)

    def task_response(self, task: Task, code: int) -> Response:
        data = TaskSerializer(task, context=self.get_serializer_context()).data
        return Response(data, status=code)
