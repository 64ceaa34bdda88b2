"""Analysis packages are edited here by lawyers and admins; a definition the engine would
reject is refused with a message naming the bad field. Artifacts are listed, never edited."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import AnalysisPackage, Artifact
from .services import artifact_url


@admin.register(AnalysisPackage)
class AnalysisPackageAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "case_type", "is_active", "updated_at")
    list_filter = ("is_active", "case_type")
    search_fields = ("key", "name", "description")
    readonly_fields = ("name", "case_type", "description", "updated_at")
    fieldsets = (
        (None, {"fields": ("key", "is_active")}),
        ("From the definition", {"fields": ("name", "case_type", "description", "updated_at")}),
        (
            "Definition",
            {
                "fields": ("definition",),
                "description": "Claim elements (key, name, keywords, evidence_kinds, required, "
                "weight), evidence_checklist, key_terms, limitation_period_days, "
                "limitation_basis, limitation_events and risk_rules, as in "
                "litigation/packages/*.json. See docs/litigation.md.",
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # The key is what clients send as package_id; renaming it would break them.
        return (*self.readonly_fields, "key") if obj is not None else self.readonly_fields


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "task_link", "kind", "format", "size", "created_at")
    list_filter = ("kind", "format")
    list_select_related = ("task",)
    readonly_fields = ("task", "kind", "format", "file", "size", "created_at", "download")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="task")
    def task_link(self, artifact: Artifact) -> str:
        url = reverse("admin:tasks_app_task_change", args=[artifact.task_id])
        return format_html('<a href="{}">{}</a>', url, artifact.task.name)

    @admin.display(description="download")
    def download(self, artifact: Artifact) -> str:
        url = artifact_url(task_id=artifact.task_id, kind=artifact.kind, fmt=artifact.format)
        return format_html('<a href="{}">{}</a>', url, artifact.filename)
