"""The documents API: async upload/process and task status (the users' paths), documents,
search, analysis, exports and bulk import. Every read is scoped to its caller; staff see all.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from documents import selectors, services
from documents.engines.errors import DocumentRejected, UnsupportedDocumentType
from documents.engines.search import tokenize_query
from documents.models import Document
from documents.serializers import (
    AsyncTaskSerializer,
    BulkImportSerializer,
    DocumentDetailSerializer,
    DocumentListSerializer,
    ExportRequestSerializer,
    ProcessSourceSerializer,
    SearchQuerySerializer,
    SearchResponseSerializer,
    SubmittedSerializer,
    UploadSerializer,
)
from documents.uploads import CappedUploadHandler
from tasks_app import api_errors
from tasks_app import selectors as task_selectors
from tasks_app.api_errors import Conflict
from tasks_app.apis.common import SubmitApi, errors
from tasks_app.downloads import DownloadResponse
from tasks_app.models import Task, TaskStatus
from tasks_app.pagination import CappedLimitOffsetPagination
from tasks_app.parsers import BoundedFormParser, BoundedJSONParser
from tasks_app.serializers import ErrorSerializer

TAGS = ["documents"]
SUBMITTED_MESSAGE = "文档处理任务已提交"

CELERY_STATES = {
    TaskStatus.PENDING: "PENDING",
    TaskStatus.QUEUED: "PENDING",
    TaskStatus.RETRYING: "PENDING",
    TaskStatus.RUNNING: "STARTED",
    TaskStatus.SUCCEEDED: "SUCCESS",
    TaskStatus.FAILED: "FAILURE",
    TaskStatus.REVOKED: "REVOKED",
}

DOCUMENT_ID = OpenApiParameter(
    "document_id", type=int, location=OpenApiParameter.PATH, description="The document's id."
)
TASK_ID = OpenApiParameter(
    "task_id", type=uuid.UUID, location=OpenApiParameter.PATH, description="The task's id."
)
_SUBMITTED_EXAMPLE = OpenApiExample(
    "submitted",
    value={
        "task_id": "3f2b1c4e-8d1a-4c55-9a0e-5b7f7a1d2c3e",
        "status": "PENDING",
        "message": SUBMITTED_MESSAGE,
    },
    response_only=True,
    status_codes=["201"],
)


def _error(text: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=text)


SUBMIT_RESPONSES = {
    201: OpenApiResponse(SubmittedSerializer, examples=[_SUBMITTED_EXAMPLE]),
    **errors(400, 401, 413, 415, 429),
}


class DocumentRefused(exceptions.APIException):
    """A refused document as an API error: 415 for its type, 400 otherwise; names the field."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "rejected"

    def __init__(self, exc: DocumentRejected, field: str):
        super().__init__(exc.message, exc.code)
        self.field = field
        self.message = exc.message
        if isinstance(exc, UnsupportedDocumentType):
            self.status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


def exception_handler(exc: Exception, context: dict):
    """The project's handler, plus the field a refused document came in."""
    response = api_errors.exception_handler(exc, context)
    if isinstance(exc, DocumentRefused) and response is not None:
        response.data["fields"] = {exc.field: [exc.message]}
    return response


class DocumentsApiMixin:
    def get_exception_handler(self):
        return exception_handler


def submitted(task: Task, **extra) -> Response:
    body = {"task_id": str(task.id), "status": "PENDING", "message": SUBMITTED_MESSAGE, **extra}
    return Response(body, status=status.HTTP_201_CREATED)


class DocumentSubmitApi(DocumentsApiMixin, SubmitApi):
    """Base of the endpoints that start document tasks: throttled and capped per user."""

    parser_classes = [BoundedJSONParser, BoundedFormParser, MultiPartParser]
    queryset = Document.objects.none()

    def validated(self, serializer_class, data=None) -> serializers.Serializer:
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return serializer


# --- the users' async endpoints ----------------------------------------------------------------


class AsyncUploadApi(DocumentSubmitApi):
    parser_classes = [MultiPartParser]
    serializer_class = UploadSerializer

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (the CSRF check of session auth reads the form).
        request.upload_handlers = [
            CappedUploadHandler(request, limit=settings.DOCUMENTS_MAX_UPLOAD_BYTES)
        ]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        operation_id="documents_async_upload",
        summary="Upload a document and process it in the background",
        description="Multipart form: `file`, `split` (false), `chunk_size` (1000), "
        "`chunk_overlap` (200; 0 ≤ overlap < size). The type is decided from the content "
        "(PDF, DOCX, HTML, Markdown, text) and checked against the allowed types (415); a file "
        "over DOCUMENTS_MAX_UPLOAD_BYTES is refused while it streams in (413). Poll "
        "`/api/v1/documents/async/tasks/{task_id}`.",
        request={"multipart/form-data": UploadSerializer},
        responses=SUBMIT_RESPONSES,
    )
    def post(self, request):
        serializer = self.validated(UploadSerializer)
        self.check_active_limit()
        try:
            document, task = services.document_upload(
                owner=request.user,
                upload=serializer.validated_data["file"],
                options=serializer.options(),
            )
        except DocumentRejected as exc:
            raise DocumentRefused(exc, "file") from None
        return submitted(task, document_id=document.pk)


class AsyncProcessApi(DocumentSubmitApi):
    serializer_class = ProcessSourceSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="documents_async_process",
        summary="Process a URL or a server path in the background",
        description="`source`: an http(s) URL (fetched with SSRF protection: public "
        "addresses only, every redirect checked, size and time capped) or a file path inside "
        "one of the server's import roots. Same options as the upload. JSON or form body.",
        request=ProcessSourceSerializer,
        responses=SUBMIT_RESPONSES,
    )
    def post(self, request):
        serializer = self.validated(ProcessSourceSerializer)
        self.check_active_limit()
        try:
            task = services.process_submit(
                owner=request.user,
                source=serializer.validated_data["source"],
                options=serializer.options(),
            )
        except DocumentRejected as exc:
            raise DocumentRefused(exc, "source") from None
        return submitted(task)


class AsyncTaskStatusApi(DocumentsApiMixin, GenericAPIView):
    serializer_class = AsyncTaskSerializer
    queryset = Task.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_async_task",
        summary="The status of a document task, in Celery's words",
        description="`status`: PENDING, STARTED, SUCCESS, FAILURE or REVOKED; `result` once "
        "it succeeded (`{status, filename, document_count, documents}` for processing); "
        "`error` once it failed or was revoked.",
        parameters=[TASK_ID],
        responses={200: AsyncTaskSerializer, **errors(401, 404)},
    )
    def get(self, request, task_id):
        task = _visible_task(request.user, task_id)
        failed = task.status in (TaskStatus.FAILED, TaskStatus.REVOKED)
        return Response(
            {
                "task_id": str(task.id),
                "status": CELERY_STATES[task.status],
                "state": task.status,
                "progress": task.progress,
                "message": task.progress_message,
                "result": task.result if task.status == TaskStatus.SUCCEEDED else None,
                "error": _public_error(task.error_message) if failed else None,
            }
        )


# --- documents -------------------------------------------------------------------------------


class DocumentListApi(DocumentsApiMixin, GenericAPIView):
    serializer_class = DocumentListSerializer
    pagination_class = CappedLimitOffsetPagination
    queryset = Document.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_list",
        summary="Your documents, newest first",
        responses={200: DocumentListSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.document_list(user=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DocumentDetailApi(DocumentsApiMixin, GenericAPIView):
    serializer_class = DocumentDetailSerializer
    queryset = Document.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_detail",
        summary="A document with its text and chunks",
        parameters=[DOCUMENT_ID],
        responses={200: DocumentDetailSerializer, **errors(401, 404)},
    )
    def get(self, request, document_id):
        document = selectors.document_get(
            user=request.user, document_id=document_id, with_chunks=True
        )
        return Response(self.get_serializer(document).data)

    @extend_schema(
        tags=TAGS,
        operation_id="documents_delete",
        summary="Delete a document, its chunks, index entries and stored file",
        parameters=[DOCUMENT_ID],
        responses={204: None, **errors(401, 404)},
    )
    def delete(self, request, document_id):
        document = selectors.document_get(user=request.user, document_id=document_id)
        services.document_delete(document=document)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentDownloadApi(DocumentsApiMixin, GenericAPIView):
    queryset = Document.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_download",
        summary="Download the original file (its owner only)",
        parameters=[DOCUMENT_ID],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The original."),
            **errors(401, 404),
        },
    )
    def get(self, request, document_id):
        document = selectors.document_get_owned(user=request.user, document_id=document_id)
        if not document.file:
            raise Http404("This document has no stored original.")
        return DownloadResponse(
            request,
            document.file.open("rb"),
            as_attachment=True,
            filename=document.display_name,
            content_type=document.content_type,
        )


class DocumentAnalyzeApi(DocumentSubmitApi):
    serializer_class = serializers.Serializer

    @extend_schema(
        tags=TAGS,
        operation_id="documents_analyze",
        summary="Analyse a document in the background",
        description="Language, counts, key terms, dates, money amounts, parties and case "
        "numbers (Chinese and English forms); stored on the document and returned as the "
        "task's result.",
        parameters=[DOCUMENT_ID],
        request=None,
        responses={201: SubmittedSerializer, **errors(401, 404, 429)},
    )
    def post(self, request, document_id):
        document = selectors.document_get(user=request.user, document_id=document_id)
        self.check_active_limit()
        return submitted(services.analyze_submit(owner=request.user, document=document))


# --- search ----------------------------------------------------------------------------------


class DocumentSearchApi(DocumentsApiMixin, GenericAPIView):
    serializer_class = SearchResponseSerializer
    queryset = Document.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_search",
        summary="Full-text search of your documents' chunks, best first",
        description="Chinese is segmented with jieba, English by words; a chunk matches when it "
        "holds every word of `q`. Ranked by ts_rank (PostgreSQL) or bm25 (SQLite FTS5); "
        "`highlight` is HTML with the words in `<mark>`.",
        parameters=[
            OpenApiParameter("q", str, required=True, description="The words to find."),
            OpenApiParameter("limit", int, description="At most this many (1-100, default 20)."),
            OpenApiParameter("offset", int, description="Results to skip."),
        ],
        responses={200: SearchResponseSerializer, **errors(400, 401)},
    )
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            hits = selectors.chunk_search(
                user=request.user, query=data["q"], limit=data["limit"], offset=data["offset"]
            )
        except selectors.SearchUnavailable as exc:
            unavailable = exceptions.APIException(str(exc), "search_unavailable")
            unavailable.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            raise unavailable from None
        return Response(
            {
                "query": data["q"],
                "terms": tokenize_query(data["q"]),
                "results": [
                    {
                        "document_id": hit.chunk.document_id,
                        "document_title": hit.chunk.document.title,
                        "chunk_index": hit.chunk.index,
                        "page_start": hit.chunk.page_start,
                        "page_end": hit.chunk.page_end,
                        "start": hit.chunk.start,
                        "end": hit.chunk.end,
                        "score": round(hit.score, 6),
                        "highlight": hit.highlight,
                    }
                    for hit in hits
                ],
            }
        )


# --- exports and bulk import -----------------------------------------------------------------


class ExportApi(DocumentSubmitApi):
    serializer_class = ExportRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="documents_export",
        summary="Export documents as one ZIP in the background",
        description="Per document its original, extracted text and chunks (JSON), plus a "
        "manifest. Download it from `export/{task_id}/download` once the task succeeded; it "
        "expires with its task.",
        request=ExportRequestSerializer,
        responses={**SUBMIT_RESPONSES, **errors(400, 401, 404, 429)},
    )
    def post(self, request):
        ids = self.validated(ExportRequestSerializer).validated_data["document_ids"]
        visible = set(
            Document.objects.visible_to(request.user)
            .filter(pk__in=ids)
            .values_list("pk", flat=True)
        )
        missing = [pk for pk in ids if pk not in visible]
        if missing:
            raise Http404(f"No such document: {', '.join(map(str, missing))}.")
        self.check_active_limit()
        return submitted(services.export_submit(owner=request.user, document_ids=ids))


class ExportDownloadApi(DocumentsApiMixin, GenericAPIView):
    queryset = Task.objects.none()

    @extend_schema(
        tags=TAGS,
        operation_id="documents_export_download",
        summary="Download a finished export (its owner only)",
        parameters=[TASK_ID],
        responses={
            (200, "application/zip"): OpenApiResponse(description="The ZIP archive."),
            409: _error("The export task has not succeeded (yet); `status` says where it is."),
            410: _error("The export expired."),
            **errors(401, 404),
        },
    )
    def get(self, request, task_id):
        task = _visible_task(request.user, task_id)
        if task.owner_id != request.user.pk or task.task_type != services.EXPORT_TASK_TYPE:
            raise Http404("No such export.")
        export = selectors.export_for_task(user=request.user, task_id=task.id)
        if export is None:
            raise Conflict(
                f"The export task is {task.status}; it has no archive to download.",
                "export_not_ready",
                task_status=task.status,
            )
        if export.is_expired:
            raise _Gone()
        return DownloadResponse(
            request,
            export.file.open("rb"),
            as_attachment=True,
            filename=f"documents-export-{task.id}.zip",
            content_type="application/zip",
        )


class BulkImportApi(DocumentSubmitApi):
    serializer_class = BulkImportSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="documents_bulk_import",
        summary="Import every file under a server directory in the background",
        description="`path` must be a directory inside one of the server's import roots. Each "
        "file's outcome is in the task's result; a bad file is recorded and skipped; ZIP "
        "archives are expanded after zip-slip and zip-bomb checks.",
        request=BulkImportSerializer,
        responses=SUBMIT_RESPONSES,
    )
    def post(self, request):
        serializer = self.validated(BulkImportSerializer)
        self.check_active_limit()
        try:
            task = services.bulk_import_submit(
                owner=request.user,
                path=serializer.validated_data["path"],
                options=serializer.options(),
            )
        except DocumentRejected as exc:
            raise DocumentRefused(exc, "path") from None
        return submitted(task)


# --- helpers ---------------------------------------------------------------------------------


class _Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The export expired; start a new one."
    default_code = "export_expired"


def _visible_task(user, task_id) -> Task:
    try:
        pk = uuid.UUID(str(task_id))
    except ValueError:
        raise Http404("No such task.") from None
    return task_selectors.task_get(user=user, task_id=pk)


def _public_error(message: str) -> str:
    """The failure as people should read it, without the exception class the engine adds."""
    for prefix in ("PermanentError: ", "TransientError: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
