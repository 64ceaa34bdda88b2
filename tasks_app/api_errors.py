"""One error shape for every API response that is not a success.

    {"error": "<code>", "detail": "<text>", "fields": {"<name>": ["<message>", ...]}}

`error` is a stable machine-readable code, `detail` a sentence for a person, and `fields`
names each invalid input (nested inputs joined with dots: `params.x`). Some errors add keys
of their own: a throttled request carries `retry_after`, a conflict about a task its `status`.

drf-standardized-errors supplies the handling: Django's Http404 and PermissionDenied become
API errors, an unexpected exception becomes a logged 500 (with `got_request_exception` sent
for error trackers) instead of an HTML page, the transaction is rolled back, and
`Retry-After`/`WWW-Authenticate` headers are set. Its response format (`type` + a list of
`errors`) is not the shape the users' clients read, so only the formatting is ours, along
with the mapping of the engine's domain errors to HTTP statuses.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from drf_standardized_errors.formatter import flatten_errors
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, serializers, status

from . import registry, services


class Conflict(exceptions.APIException):
    """The request is valid but the task's current status does not allow it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task's status does not allow this."
    default_code = "conflict"

    def __init__(self, detail=None, code=None, *, task_status: str | None = None):
        super().__init__(detail, code)
        self.task_status = task_status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the server accepts."
    default_code = "request_too_large"


class ActiveTaskLimit(exceptions.Throttled):
    """The caller already has as many unfinished tasks as one user may have."""

    default_code = "active_task_limit"

    def __init__(self, limit: int, wait: int):
        super().__init__(
            wait=wait,
            detail=f"You already have {limit} unfinished tasks, the most one user may have; "
            "wait for some to finish or cancel them.",
        )


# Validation codes that name the whole error (`error`) instead of the generic "invalid"; the
# first message carrying one becomes `detail` as it stands.
PROMOTED_CODES = ("unknown_task_type", "invalid_credentials")


def invalid(fields: dict[str, list[str]], *, code: str = "invalid"):
    """A 400 naming its fields; a code in PROMOTED_CODES becomes the response's `error`."""
    return serializers.ValidationError(fields, code=code)


def unknown_task_type(exc: registry.UnknownTaskType, field: str = "task_type"):
    """400 naming the field, with the known types listed in `detail` and in the field."""
    return invalid({field: [str(exc)]}, code="unknown_task_type")


# The engine's domain errors, each mapped once to a status and a code.
_DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    services.TaskNotCancellable: (status.HTTP_409_CONFLICT, "not_cancellable"),
    services.TaskNotRetryable: (status.HTTP_409_CONFLICT, "not_retryable"),
    services.TaskNotEditable: (status.HTTP_409_CONFLICT, "not_editable"),
}


class CaseworkExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, registry.UnknownTaskType):
            return unknown_task_type(exc)
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge()
        if isinstance(exc, TooManyFieldsSent):
            return exceptions.ParseError(str(exc), code="too_many_fields")
        for domain_error, (status_code, code) in _DOMAIN_ERRORS.items():
            if isinstance(exc, domain_error):
                conflict = Conflict(str(exc), code, task_status=self._task_status())
                conflict.status_code = status_code
                return conflict
        return super().convert_known_exceptions(exc)

    def _task_status(self) -> str | None:
        """The current status of the task the view acted on, for a conflict's body."""
        task = getattr(self.context.get("view"), "task", None)
        if task is None:
            return None
        return type(task).objects.filter(pk=task.pk).values_list("status", flat=True).first()

    def format_exception(self, exc: exceptions.APIException) -> dict:
        return format_error(exc)


def format_error(exc: exceptions.APIException) -> dict:
    """The response body for `exc` in the API's one error shape."""
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        fields = _fields(errors)
        promoted = next((e for e in errors if e.code in PROMOTED_CODES), None)
        code = promoted.code if promoted else "invalid"
        detail = promoted.detail if promoted else _summary(fields)
    else:
        fields = {}
        code = _code(exc)
        detail = str(exc.detail) if not isinstance(exc.detail, list | dict) else _first(exc)
    body = {"error": code, "detail": detail, "fields": fields}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    if isinstance(exc, Conflict) and exc.task_status:
        body["status"] = exc.task_status
    return body


def exception_handler(exc: Exception, context: dict):
    """DRF's EXCEPTION_HANDLER: every error of every API view in the one shape."""
    return CaseworkExceptionHandler(exc, context).run()


def _code(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, exceptions.ErrorDetail) and detail.code:
        return str(detail.code)
    return exc.default_code


def _first(exc: exceptions.APIException) -> str:
    errors = flatten_errors(exc.detail)
    return errors[0].detail if errors else str(exc.default_detail)


def _fields(errors) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        name = error.attr or "non_field_errors"
        fields.setdefault(name, []).append(error.detail)
    return fields


def _summary(fields: dict[str, list[str]]) -> str:
    if not fields:
        return "Invalid input."
    name, messages = next(iter(fields.items()))
    more = len(fields) - 1
    tail = f" (and {more} more field{'s' if more > 1 else ''})" if more else ""
    if name == "non_field_errors":
        return f"{messages[0]}{tail}"
    return f"{name}: {messages[0]}{tail}"


def not_found(request, exception=None):
    """Django's 404 for a URL no route matched: the API's error shape under /api/."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "not_found", "detail": "No such endpoint or object.", "fields": {}},
            status=404,
        )
    return page_not_found(request, exception)
