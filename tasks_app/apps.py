from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class TasksAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks_app"
    verbose_name = "Tasks"

    def ready(self) -> None:
        from . import checks, task_types  # noqa: F401 - registers checks and built-in types

        for module in getattr(settings, "CASEWORK_TASK_MODULES", []):
            import_module(module)
