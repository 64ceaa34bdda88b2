"""Routes of the API under /api/v1/. A trailing slash is optional on every path, as the users'
clients call some with it and some without (a POST cannot be redirected to add one)."""

from django.urls import re_path

from .apis import auth, bulk, shortcuts, tasks

app_name = "tasks_api"

TASK = r"tasks/(?P<task_id>[^/]+)"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view.as_view(), name=name)


urlpatterns = [
    route(r"auth/token", auth.TokenApi, "auth-token"),
    route(r"auth/logout", auth.LogoutApi, "auth-logout"),
    route(r"tasks", tasks.TaskListCreateApi, "task-list"),
    route(r"tasks/count", bulk.TaskCountApi, "task-count"),
    route(r"tasks/stats", bulk.TaskStatsApi, "task-stats"),
    route(r"tasks/bulk", bulk.TaskBulkApi, "task-bulk"),
    route(r"tasks/example", shortcuts.ExampleTaskApi, "task-example"),
    route(r"tasks/add", shortcuts.AddTaskApi, "task-add"),
    route(r"tasks/process-document", shortcuts.ProcessDocumentApi, "task-process-document"),
    route(r"tasks/status/(?P<task_id>[^/]+)", tasks.TaskStatusByPathApi, "task-status-by-path"),
    route(TASK, tasks.TaskDetailApi, "task-detail"),
    route(rf"{TASK}/status", tasks.TaskStatusApi, "task-status"),
    route(rf"{TASK}/result", tasks.TaskResultApi, "task-result"),
    route(rf"{TASK}/events", tasks.TaskEventsApi, "task-events"),
    route(rf"{TASK}/cancel", tasks.TaskCancelApi, "task-cancel"),
    route(rf"{TASK}/retry", tasks.TaskRetryApi, "task-retry"),
]
