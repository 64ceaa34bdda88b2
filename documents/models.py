"""Documents, the chunks they are split into for search, and ZIP exports of them.

A document's original file lives on the default storage under an owner-scoped path with a
random name; the user's file name is kept as data, never used as a path. Chunks are the unit
of search: each carries its text, its offsets into the document's text and its page range,
and ``search_tokens``, the text segmented by jieba for the full-text index (a GIN index on
PostgreSQL, an FTS5 table on SQLite; see the migrations and ``documents.selectors``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from documents.engines.extract import DocumentKind

# The name of the SQLite FTS5 table that mirrors Chunk.search_tokens (rowid = chunk id).
SQLITE_FTS_TABLE = "documents_chunk_fts"
# The name of the PostgreSQL GIN index over to_tsvector('simple', search_tokens).
POSTGRES_SEARCH_INDEX = "chunk_search_tokens_gin"


def document_upload_to(instance: Document, filename: str) -> str:
    """Return a random, owner-scoped storage path; the user's file name is never part of it."""
    return f"documents/{instance.owner_id}/{uuid.uuid4().hex}"


def export_upload_to(instance: Export, filename: str) -> str:
    """Return a random, owner-scoped storage path for an export archive."""
    return f"exports/{instance.owner_id}/{uuid.uuid4().hex}.zip"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    URL = "url", "URL"
    PATH = "path", "Server path"


class Kind(models.TextChoices):
    """The document formats, the same values as ``engines.extract.DocumentKind``."""

    PDF = DocumentKind.PDF, "PDF"
    DOCX = DocumentKind.DOCX, "Word (DOCX)"
    HTML = DocumentKind.HTML, "HTML"
    MARKDOWN = DocumentKind.MARKDOWN, "Markdown"
    TEXT = DocumentKind.TEXT, "Plain text"


MIME_TYPES = {
    Kind.PDF: "application/pdf",
    Kind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    Kind.HTML: "text/html",
    Kind.MARKDOWN: "text/markdown",
    Kind.TEXT: "text/plain",
}


class DocumentQuerySet(models.QuerySet):
    def visible_to(self, user) -> DocumentQuerySet:
        """Staff see every document; everyone else only their own."""
        if user.is_staff:
            return self
        return self.filter(owner=user)

    def ready(self) -> DocumentQuerySet:
        return self.filter(status=DocumentStatus.READY)


class Document(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=300, blank=True, default="")
    original_filename = models.CharField(max_length=255, blank=True, default="")
    kind = models.CharField(max_length=8, choices=Kind.choices, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the original file.")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    file = models.FileField(upload_to=document_upload_to, max_length=255, blank=True)
    source = models.CharField(
        max_length=8, choices=DocumentSource.choices, default=DocumentSource.UPLOAD
    )
    source_url = models.URLField(max_length=2000, blank=True, default="")
    source_path = models.CharField(max_length=1000, blank=True, default="")
    status = models.CharField(
        max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.TextField(blank=True, default="")
    error_code = models.CharField(max_length=32, blank=True, default="")
    language = models.CharField(max_length=8, blank=True, default="")
    text = models.TextField(blank=True, default="")
    page_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    analysis = models.JSONField(null=True, blank=True)
    # On PostgreSQL the references into the task table are checked by triggers, not FOREIGN
    # KEYs (tasks_app migration 0007): a retention prune checks them once per statement.
    ingest_task = models.ForeignKey(
        "tasks_app.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The task that extracted and indexed this document.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="document_owner_created"),
            models.Index(fields=["owner", "status"], name="document_owner_status"),
            models.Index(fields=["owner", "sha256"], name="document_owner_sha256"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DocumentStatus.values), name="document_status_known"
            ),
            models.CheckConstraint(
                condition=Q(source__in=DocumentSource.values), name="document_source_known"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.original_filename or f"Document {self.pk}"

    @property
    def content_type(self) -> str:
        """The MIME type of the original, decided from its content."""
        return MIME_TYPES.get(self.kind, "application/octet-stream")

    @property
    def display_name(self) -> str:
        """The name shown to people and offered on download."""
        return self.original_filename or self.title or f"document-{self.pk}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    text = models.TextField()
    start = models.PositiveIntegerField(help_text="Offset of the chunk in the document's text.")
    end = models.PositiveIntegerField()
    page_start = models.PositiveIntegerField(null=True, blank=True)
    page_end = models.PositiveIntegerField(null=True, blank=True)
    search_tokens = models.TextField(
        blank=True, default="", help_text="The text segmented by jieba, tokens space-separated."
    )

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            # Also the index of "the chunks of a document, in order".
            models.UniqueConstraint(
                fields=["document", "index"], name="chunk_unique_document_index"
            ),
            models.CheckConstraint(condition=Q(start__lte=F("end")), name="chunk_start_le_end"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.index}"


class Export(models.Model):
    """A ZIP archive of some documents, made by a ``documents.export`` task.

    It lives as long as its task: deleting the task (when results expire) deletes the row,
    and the row's file goes with it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="document_exports"
    )
    # Checked by a trigger on PostgreSQL, as Document.ingest_task is.
    task = models.OneToOneField(
        "tasks_app.Task", on_delete=models.CASCADE, related_name="document_export"
    )
    file = models.FileField(upload_to=export_upload_to, max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    document_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["expires_at"], name="export_expires")]

    def __str__(self) -> str:
        return f"Export {self.pk} of {len(self.document_ids)} documents"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at
