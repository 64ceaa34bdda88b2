"""The shortcuts the users' scripts call: example, add, process-document.

Each submits one registered task type; its inputs come from the query string or the body
(the body wins), e.g. `POST /api/v1/tasks/example?name=test&seconds=5`.
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from ..serializers import (
    AddShortcutSerializer,
    ExampleShortcutSerializer,
    ProcessDocumentSerializer,
    TaskSerializer,
)
from .common import SUBMIT_ERRORS, SubmitApi

TAGS = ["shortcuts"]
DOCUMENT_TASK_TYPE = "documents.process"
# Query parameters DRF itself reads; never a task input.
_DRF_QUERY_KEYS = frozenset({"format"})

_RESPONSES = {
    201: OpenApiResponse(TaskSerializer, description="Created."),
    200: OpenApiResponse(TaskSerializer, description="The task this key already made."),
    **SUBMIT_ERRORS,
}


def _query(*names: tuple[str, type, str]) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(name, type=kind, location=OpenApiParameter.QUERY, description=text)
        for name, kind, text in names
    ]


class ShortcutApi(SubmitApi):
    def inputs(self):
        """Query parameters overlaid with the body's fields."""
        if not isinstance(self.request.data, Mapping):
            return self.request.data  # the serializer refuses it, naming the problem
        data = {
            key: value
            for key, value in self.request.query_params.items()
            if key not in _DRF_QUERY_KEYS
        }
        if hasattr(self.request.data, "dict"):
            data.update(self.request.data.dict())
        else:
            data.update(self.request.data)
        return data

    def submit_validated(self, task_type: str, data: dict, param_names: tuple[str, ...]):
        params = {name: data[name] for name in param_names if name in data}
        return self.submit(
            task_type=task_type,
            params=params,
            name=data.get("name", ""),
            priority=data.get("priority"),
            idempotency_key=data.get("idempotency_key"),
        )


class ExampleTaskApi(ShortcutApi):
    serializer_class = ExampleShortcutSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_example",
        summary="Start the example timer task",
        description="Counts off `seconds`, reporting progress each second: the users' "
        "end-to-end check.",
        parameters=_query(
            ("name", str, "Shown in the progress messages."),
            ("seconds", int, "How long it runs (0-3600, default 5)."),
        ),
        request=ExampleShortcutSerializer,
        responses=_RESPONSES,
    )
    def post(self, request):
        serializer = ExampleShortcutSerializer(data=self.inputs())
        serializer.is_valid(raise_exception=True)
        return self.submit_validated("example", serializer.validated_data, ("name", "seconds"))


class AddTaskApi(ShortcutApi):
    serializer_class = AddShortcutSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_add",
        summary="Add two numbers in a task",
        parameters=_query(("x", float, "First addend."), ("y", float, "Second addend.")),
        request=AddShortcutSerializer,
        responses=_RESPONSES,
    )
    def post(self, request):
        serializer = AddShortcutSerializer(data=self.inputs())
        serializer.is_valid(raise_exception=True)
        return self.submit_validated("add", serializer.validated_data, ("x", "y"))


class ProcessDocumentApi(ShortcutApi):
    serializer_class = ProcessDocumentSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="tasks_process_document",
        summary="Process a document",
        description=f"Submits the `{DOCUMENT_TASK_TYPE}` task type with a `document_id` or a "
        "`source`; a 400 `unknown_task_type` while that type is not installed.",
        parameters=_query(
            ("document_id", str, "The document to process."),
            ("source", str, "Where to fetch the document from."),
        ),
        request=ProcessDocumentSerializer,
        responses=_RESPONSES,
    )
    def post(self, request):
        serializer = ProcessDocumentSerializer(data=self.inputs())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        params = {
            **data.get("params", {}),
            **{key: data[key] for key in ("document_id", "source") if key in data},
        }
        return self.submit(
            task_type=DOCUMENT_TASK_TYPE,
            params=params,
            name=data.get("name", ""),
            priority=data.get("priority"),
            idempotency_key=data.get("idempotency_key"),
        )
