"""Inputs and outputs of the documents API, and the parameters of its task types."""

from __future__ import annotations

from pathlib import PurePath

from rest_framework import serializers

from documents.fetch import UnsafeUrl, check_url
from documents.models import Chunk, Document
from documents.services import ProcessOptions

MAX_CHUNK_SIZE = 100_000
MAX_EXPORT_DOCUMENTS = 500


class ProcessOptionsSerializer(serializers.Serializer):
    """``split``, ``chunk_size`` and ``chunk_overlap`` in characters, 0 <= overlap < size."""

    split = serializers.BooleanField(
        default=False,
        help_text="List the chunks in the task's result (every document is "
        "chunked for search either way).",
    )
    chunk_size = serializers.IntegerField(
        default=1000, min_value=1, max_value=MAX_CHUNK_SIZE, help_text="Characters per chunk."
    )
    chunk_overlap = serializers.IntegerField(
        default=200, min_value=0, help_text="Characters repeated between chunks; below chunk_size."
    )

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        size, overlap = attrs.get("chunk_size", 1000), attrs.get("chunk_overlap", 200)
        if overlap >= size:
            raise serializers.ValidationError(
                {"chunk_overlap": [f"Must be smaller than chunk_size ({size}), got {overlap}."]}
            )
        return attrs

    def options(self) -> ProcessOptions:
        data = self.validated_data
        return ProcessOptions(
            split=data["split"], chunk_size=data["chunk_size"], chunk_overlap=data["chunk_overlap"]
        )


def validate_source_form(value: str) -> str:
    """Check the form of a URL or server path, without touching the network or the disk."""
    if "\x00" in value:
        raise serializers.ValidationError("The source contains a NUL byte.")
    if "://" in value:
        try:
            check_url(value)
        except UnsafeUrl as exc:
            raise serializers.ValidationError(exc.message) from None
    elif ".." in PurePath(value).parts:
        raise serializers.ValidationError("The path may not contain '..'.")
    return value


# --- API inputs ------------------------------------------------------------------------------


class UploadSerializer(ProcessOptionsSerializer):
    file = serializers.FileField(allow_empty_file=False, use_url=False)


class ProcessSourceSerializer(ProcessOptionsSerializer):
    source = serializers.CharField(
        max_length=2000,
        validators=[validate_source_form],
        help_text="An http(s) URL, or a file path inside one of the server's import roots.",
    )


class BulkImportSerializer(ProcessOptionsSerializer):
    path = serializers.CharField(
        max_length=2000,
        validators=[validate_source_form],
        help_text="A directory inside one of the server's import roots.",
    )


class ExportRequestSerializer(serializers.Serializer):
    document_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_EXPORT_DOCUMENTS,
    )

    def validate_document_ids(self, value: list[int]) -> list[int]:
        return list(dict.fromkeys(value))


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, help_text="Words, in Chinese or English.")
    limit = serializers.IntegerField(default=20, min_value=1, max_value=100)
    offset = serializers.IntegerField(default=0, min_value=0, max_value=10_000)


# --- task parameters -------------------------------------------------------------------------


class ProcessParams(ProcessOptionsSerializer):
    document_id = serializers.IntegerField(required=False, min_value=1)
    source = serializers.CharField(
        required=False, max_length=2000, validators=[validate_source_form]
    )

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if ("document_id" in attrs) == ("source" in attrs):
            raise serializers.ValidationError(
                {"document_id": ["Send either a document_id or a source, not both."]}
                if "document_id" in attrs
                else {"source": ["Send a document_id or a source."]}
            )
        return attrs


class DocumentIdParams(serializers.Serializer):
    document_id = serializers.IntegerField(min_value=1)


class ExportParams(ExportRequestSerializer):
    pass


class BulkImportParams(BulkImportSerializer):
    pass


# --- API outputs -----------------------------------------------------------------------------


class SubmittedSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.CharField(help_text="PENDING on submission.")
    message = serializers.CharField()
    document_id = serializers.IntegerField(required=False)


class AsyncTaskSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"],
        help_text="Celery's words: PENDING (waiting, also between retries), STARTED, SUCCESS, "
        "FAILURE, REVOKED.",
    )
    state = serializers.CharField(help_text="The engine's own status (queued, retrying...).")
    progress = serializers.IntegerField()
    message = serializers.CharField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class ChunkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ("index", "text", "start", "end", "page_start", "page_end")
        read_only_fields = fields


class DocumentListSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    content_type = serializers.CharField(read_only=True)
    ingest_task_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Document
        fields = (
            "id",
            "owner",
            "title",
            "original_filename",
            "kind",
            "content_type",
            "size",
            "sha256",
            "source",
            "source_url",
            "status",
            "error",
            "error_code",
            "language",
            "page_count",
            "ingest_task_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class DocumentDetailSerializer(DocumentListSerializer):
    chunks = ChunkSerializer(many=True, read_only=True)

    class Meta(DocumentListSerializer.Meta):
        fields = (*DocumentListSerializer.Meta.fields, "text", "metadata", "analysis", "chunks")
        read_only_fields = fields


class SearchHitSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    chunk_index = serializers.IntegerField()
    page_start = serializers.IntegerField(allow_null=True)
    page_end = serializers.IntegerField(allow_null=True)
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    score = serializers.FloatField()
    highlight = serializers.CharField(help_text="HTML; matches in <mark>, the rest escaped.")


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    terms = serializers.ListField(child=serializers.CharField())
    results = SearchHitSerializer(many=True)
