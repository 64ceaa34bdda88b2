"""The async routes again under /documents/, where the users' older scripts call them.

They are the same views, left out of the OpenAPI schema so each operation is listed once
(under /api/v1/documents/).
"""

from django.urls import re_path
from drf_spectacular.utils import extend_schema, extend_schema_view

from documents import apis

app_name = "documents_legacy"


def hidden(view):
    hidden_view = type(f"Legacy{view.__name__}", (view,), {})
    methods = {name: extend_schema(exclude=True) for name in ("get", "post") if hasattr(view, name)}
    return extend_schema_view(**methods)(hidden_view)


urlpatterns = [
    re_path(r"^async/upload/?$", hidden(apis.AsyncUploadApi).as_view(), name="async-upload"),
    re_path(r"^async/process/?$", hidden(apis.AsyncProcessApi).as_view(), name="async-process"),
    re_path(
        r"^async/tasks/(?P<task_id>[^/]+)/?$",
        hidden(apis.AsyncTaskStatusApi).as_view(),
        name="async-task",
    ),
]
