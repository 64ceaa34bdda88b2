"""WebSocket routes."""

from django.urls import path

from tasks_app.consumers import TaskConsumer, TaskListConsumer

websocket_urlpatterns = [
    path("ws/tasks/<uuid:task_id>/", TaskConsumer.as_asgi()),
    path("ws/tasks/", TaskListConsumer.as_asgi()),
]
