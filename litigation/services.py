"""Writes of the litigation app: analysis packages and the files litigation tasks produce."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse

from .engines import report
from .engines.packages import PACKAGES_DIR, PackageError, validate_package
from .models import AnalysisPackage, Artifact, ArtifactFormat, ArtifactKind


class LitigationError(Exception):
    """Base of the litigation app's domain errors."""


@dataclass(frozen=True)
class LoadSummary:
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def package_save(
    *, definition: dict, is_active: bool = True, package: AnalysisPackage | None = None
) -> AnalysisPackage:
    """Create or replace a package from its definition, refusing one the engine rejects.

    Raises ``ValidationError`` whose message names the bad field of the definition.
    """
    try:
        checked = validate_package(definition)
    except PackageError as exc:
        raise ValidationError({"definition": f"{exc.field}: {exc.message}"}) from None
    if package is None:
        package = AnalysisPackage(key=checked["key"])
    package.definition = definition
    package.is_active = is_active
    package.name, package.case_type = checked["name"], checked["case_type"]
    package.description = checked["description"]
    package.full_clean()
    package.save()
    return package


def packages_load_shipped(
    *, directory: Path = PACKAGES_DIR, overwrite: bool = False
) -> LoadSummary:
    """Load every ``*.json`` package of ``directory`` into the database.

    Idempotent: a package already in the database is left as an admin may have edited it,
    unless ``overwrite`` is set, in which case its definition is replaced by the file's.
    """
    created, updated, unchanged = [], [], []
    with transaction.atomic():
        for path in sorted(directory.glob("*.json")):
            definition = json.loads(path.read_text(encoding="utf-8"))
            key = validate_package(definition)["key"]
            existing = AnalysisPackage.objects.filter(key=key).first()
            if existing is None:
                package_save(definition=definition)
                created.append(key)
            elif overwrite and existing.definition != definition:
                package_save(definition=definition, is_active=existing.is_active, package=existing)
                updated.append(key)
            else:
                unchanged.append(key)
    return LoadSummary(created=created, updated=updated, unchanged=unchanged)


def artifact_write(*, task_id, kind: str, fmt: str, content: bytes | str) -> Artifact:
    """Store one output file of a task, replacing the file an earlier attempt wrote."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    artifact = Artifact.objects.filter(task_id=task_id, kind=kind, format=fmt).first()
    if artifact is None:
        artifact = Artifact(task_id=task_id, kind=kind, format=fmt)
    elif artifact.file:
        artifact.file.delete(save=False)
    artifact.size = len(data)
    artifact.file.save(f"{kind}.{fmt}", ContentFile(data), save=False)
    artifact.save()
    return artifact


def report_write(*, task_id, result: dict) -> dict[str, str]:
    """Render an engine result as Markdown, HTML and DOCX reports; return their links."""
    built = result.get("report") or report.build_report(result)
    outputs = {
        ArtifactFormat.MARKDOWN: report.render_markdown(built),
        ArtifactFormat.HTML: report.render_html(built),
        ArtifactFormat.DOCX: report.render_docx(built),
    }
    return documents_write(task_id=task_id, kind=ArtifactKind.REPORT, outputs=outputs)


def documents_write(*, task_id, kind: str, outputs: dict[str, bytes | str]) -> dict[str, str]:
    """Store the formats of one generated document; return ``{format: download path}``."""
    links = {}
    for fmt, content in outputs.items():
        artifact_write(task_id=task_id, kind=kind, fmt=fmt, content=content)
        links[str(fmt)] = artifact_url(task_id=task_id, kind=kind, fmt=fmt)
    return links


def artifact_url(*, task_id, kind: str, fmt: str) -> str:
    return reverse(
        "litigation:task-artifact", kwargs={"task_id": str(task_id), "kind": kind, "fmt": fmt}
    )
