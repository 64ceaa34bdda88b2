"""Litigation records: the analysis packages lawyers edit, and the files tasks produce.

An ``AnalysisPackage`` holds the claim elements, evidence checklist, key terms, limitation
period and risk rules of one case type as data (``definition``), checked by the engine's
``validate_package``; the shipped ones come from ``litigation/packages/*.json``. An
``Artifact`` is one file a litigation task wrote: a report or a generated document, in one
format, on the default storage.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from tasks_app.models import Task

from .engines.packages import PackageError, validate_package


class AnalysisPackageQuerySet(models.QuerySet):
    def active(self) -> AnalysisPackageQuerySet:
        return self.filter(is_active=True)


class AnalysisPackage(models.Model):
    key = models.SlugField(
        max_length=100,
        unique=True,
        help_text="The package_id clients send, e.g. loan_dispute_default.",
    )
    name = models.CharField(max_length=200)
    case_type = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    definition = models.JSONField(
        help_text="Claim elements, evidence checklist, key terms, limitation and risk rules; "
        "checked on save, and errors name the field at fault (elements[2].keywords)."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive packages can't be chosen.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = AnalysisPackageQuerySet.as_manager()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        """Check the definition with the engine and keep the summary columns in step with it."""
        try:
            checked = self.checked_definition()
        except PackageError as exc:
            raise ValidationError(
                {"definition": f"{exc.field}: {exc.message}"}, code="invalid_package"
            ) from None
        if checked["key"] != self.key:
            message = f"key: must be {self.key!r}, the package's key, not {checked['key']!r}"
            raise ValidationError({"definition": message}, code="invalid_package")
        self.name = checked["name"]
        self.case_type = checked["case_type"]
        self.description = checked["description"]

    def checked_definition(self) -> dict:
        """Return the definition validated, defaults filled in; raise PackageError if broken."""
        return validate_package(self.definition)


class ArtifactKind(models.TextChoices):
    REPORT = "report", "Report"
    CONTRACT = "contract", "Generated contract"
    COMPLAINT = "complaint", "Civil complaint"


class ArtifactFormat(models.TextChoices):
    MARKDOWN = "md", "Markdown"
    HTML = "html", "HTML"
    DOCX = "docx", "Word (DOCX)"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.value]


_CONTENT_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def artifact_path(artifact: Artifact, filename: str) -> str:
    return f"litigation/{artifact.task_id}/{filename}"


class Artifact(models.Model):
    """One file a litigation task wrote; a rerun of the task replaces it."""

    # On PostgreSQL checked by triggers, not a FOREIGN KEY (tasks_app migration 0007): a
    # retention prune checks the references into the task table once per statement.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="litigation_artifacts")
    kind = models.CharField(max_length=16, choices=ArtifactKind.choices)
    format = models.CharField(max_length=8, choices=ArtifactFormat.choices)
    file = models.FileField(upload_to=artifact_path, max_length=300)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "kind", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "kind", "format"], name="artifact_unique_task_kind_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}.{self.format} of task {self.task_id}"

    @property
    def filename(self) -> str:
        return f"{self.kind}.{self.format}"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.format]
