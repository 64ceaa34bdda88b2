from django.apps import AppConfig


class LitigationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "litigation"
    verbose_name = "Litigation"

    def ready(self) -> None:
        from . import task_types  # noqa: F401 - registers the litigation task types
