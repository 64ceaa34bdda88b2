"""The REST API of the task engine (mounted at /api/v1/ by tasks_app.urls)."""
