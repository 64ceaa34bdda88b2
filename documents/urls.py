"""Routes under /api/v1/documents/. A trailing slash is optional, as on the task routes."""

from django.urls import re_path

from documents import apis

app_name = "documents"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view.as_view(), name=name)


ASYNC_ROUTES = [
    route(r"async/upload", apis.AsyncUploadApi, "async-upload"),
    route(r"async/process", apis.AsyncProcessApi, "async-process"),
    route(r"async/tasks/(?P<task_id>[^/]+)", apis.AsyncTaskStatusApi, "async-task"),
]

urlpatterns = [
    *ASYNC_ROUTES,
    re_path(r"^$", apis.DocumentListApi.as_view(), name="document-list"),
    route(r"search", apis.DocumentSearchApi, "document-search"),
    route(r"export", apis.ExportApi, "export"),
    route(r"export/(?P<task_id>[^/]+)/download", apis.ExportDownloadApi, "export-download"),
    route(r"import", apis.BulkImportApi, "bulk-import"),
    route(r"(?P<document_id>[0-9]+)", apis.DocumentDetailApi, "document-detail"),
    route(r"(?P<document_id>[0-9]+)/download", apis.DocumentDownloadApi, "document-download"),
    route(r"(?P<document_id>[0-9]+)/analyze", apis.DocumentAnalyzeApi, "document-analyze"),
]
