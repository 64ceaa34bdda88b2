"""Documents in the admin: browse documents, their chunks and exports."""

from django.contrib import admin

from documents.models import Chunk, Document, Export


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    """Chunks are reached from their document (``?document__id__exact=``), not listed whole."""

    list_display = ("document", "index", "start", "end", "page_start", "page_end")
    list_select_related = ("document",)
    raw_id_fields = ("document",)
    readonly_fields = ("document", "index", "text", "start", "end", "page_start", "page_end")
    exclude = ("search_tokens",)
    show_full_result_count = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "kind", "status", "language", "size", "created_at")
    list_filter = ("status", "kind", "source", "language")
    search_fields = ("title", "original_filename", "sha256", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "ingest_task")
    readonly_fields = (
        "kind",
        "size",
        "sha256",
        "file",
        "source",
        "source_url",
        "source_path",
        "status",
        "error",
        "error_code",
        "language",
        "page_count",
        "metadata",
        "analysis",
        "ingest_task",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("text")


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "task", "size", "created_at", "expires_at")
    list_select_related = ("owner", "task")
    raw_id_fields = ("owner", "task")
    readonly_fields = ("file", "size", "document_ids", "created_at")
