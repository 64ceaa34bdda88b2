"""Inputs of the litigation task types and endpoints, and the shapes the endpoints answer with.

The ``*Params`` serializers are the task types' parameters: they validate what is submitted
through ``POST /api/v1/tasks/`` and through the convenience endpoints alike, and they run
again when a worker starts the task. Checks that need the caller (are these documents
theirs?) are made by the endpoints, and again by the task body against the task's owner.
"""

from __future__ import annotations

from rest_framework import serializers

from tasks_app.serializers import StrictSerializer

from . import selectors
from .engines import generation
from .engines.packages import POSITIONS
from .models import AnalysisPackage

MAX_DOCUMENTS = 200
MAX_TEXT = 2_000_000
# draft_complaint's required variables, checked at submit so a caller hears of them at once.
COMPLAINT_REQUIRED = ("plaintiff_name", "defendant_name", "court", "claims", "filing_date")
DOCUMENT_TYPES = ("civil_complaint",)


def document_id_field(**kwargs) -> serializers.Field:
    # Bounded to the database's bigint, so an absurd id is a 400, not a database error.
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1, **kwargs)


def document_ids_field() -> serializers.ListField:
    return serializers.ListField(
        child=document_id_field(), max_length=MAX_DOCUMENTS, required=False, default=list
    )


def _validate_package_id(value: str) -> str:
    if not selectors.package_list().filter(key=value).exists():
        known = ", ".join(selectors.package_keys()) or "none"
        raise serializers.ValidationError(
            f"Unknown analysis package {value!r}. Known packages: {known}.",
            code="unknown_package",
        )
    return value


def _unique(ids: list) -> list:
    if len(set(ids)) != len(ids):
        raise serializers.ValidationError("Each document may be given once.", code="duplicate")
    return ids


class PackageParams(serializers.Serializer):
    package_id = serializers.CharField(
        max_length=100, help_text="The analysis package, e.g. loan_dispute_default."
    )
    document_ids = document_ids_field()

    def validate_package_id(self, value: str) -> str:
        return _validate_package_id(value)

    def validate_document_ids(self, value: list) -> list:
        return _unique(value)


class EvidenceAnalysisParams(PackageParams):
    """Inputs of ``litigation.evidence_analysis``."""


class RiskAssessmentParams(PackageParams):
    """Inputs of ``litigation.risk_assessment``."""

    case_position = serializers.ChoiceField(choices=POSITIONS)
    user_input = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default=""
    )
    today = serializers.DateField(
        required=False,
        help_text="The date the limitation period is measured to; default the submit date.",
    )


class CaseAnalysisParams(RiskAssessmentParams):
    """Inputs of ``litigation.case_analysis``: what ``/litigation-analysis/start`` takes."""

    case_type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ContractReviewParams(serializers.Serializer):
    """Inputs of ``litigation.contract_review``: a stored document or pasted text."""

    document_id = document_id_field(required=False)
    text = serializers.CharField(
        max_length=MAX_TEXT, required=False, trim_whitespace=False, allow_blank=True
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    contract_amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="The contract total for the liquidated-damages check; default: found in "
        "the text.",
    )

    def validate(self, attrs: dict) -> dict:
        has_document = attrs.get("document_id") is not None
        has_text = bool((attrs.get("text") or "").strip())
        if has_document == has_text:
            raise serializers.ValidationError(
                {"document_id": ["Give either document_id or a non-empty text, not both."]},
                code="document_or_text",
            )
        return attrs


class ContractGenerationParams(serializers.Serializer):
    """Inputs of ``litigation.contract_generation``."""

    template = serializers.ChoiceField(
        choices=[template["key"] for template in generation.list_templates()]
    )
    variables = serializers.DictField(child=serializers.JSONField(), default=dict)

    def validate(self, attrs: dict) -> dict:
        template = generation.load_template(attrs["template"])
        missing = [
            variable["name"]
            for variable in template["variables"]
            if variable.get("required")
            and _blank(attrs["variables"].get(variable["name"], variable.get("default")))
        ]
        if missing:
            raise serializers.ValidationError(
                {"variables": [f"Missing required variables: {', '.join(missing)}."]},
                code="missing_variables",
            )
        return attrs


class DocumentDraftingParams(serializers.Serializer):
    """Inputs of ``litigation.document_drafting``: a civil complaint from a case analysis."""

    analysis_task_id = serializers.UUIDField(
        help_text="A succeeded litigation.case_analysis task of the caller."
    )
    document_type = serializers.ChoiceField(choices=DOCUMENT_TYPES, default="civil_complaint")
    variables = serializers.DictField(child=serializers.JSONField(), default=dict)

    def validate_variables(self, value: dict) -> dict:
        missing = [name for name in COMPLAINT_REQUIRED if _blank(value.get(name))]
        if missing:
            raise serializers.ValidationError(
                f"Missing required variables: {', '.join(missing)}.", code="missing_variables"
            )
        return value


def _blank(value) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


# --- endpoint inputs ------------------------------------------------------------------------


class AnalysisStartSerializer(StrictSerializer, CaseAnalysisParams):
    """``POST /api/v1/litigation-analysis/start``, as the users' front end sends it."""


class RiskAssessmentRequestSerializer(StrictSerializer, RiskAssessmentParams):
    pass


class EvidenceAnalysisRequestSerializer(StrictSerializer, EvidenceAnalysisParams):
    pass


class ContractReviewRequestSerializer(StrictSerializer, ContractReviewParams):
    pass


class ContractGenerateRequestSerializer(StrictSerializer, ContractGenerationParams):
    pass


class DraftComplaintRequestSerializer(StrictSerializer, DocumentDraftingParams):
    pass


# --- outputs --------------------------------------------------------------------------------


class StartedSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.CharField()
    task_system = serializers.CharField()


class PackageSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnalysisPackage
        fields = ["key", "name", "case_type", "description", "updated_at"]


class PackageDetailSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnalysisPackage
        fields = ["key", "name", "case_type", "description", "updated_at", "definition"]


class TemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    language = serializers.CharField()
    description = serializers.CharField()
    variables = serializers.ListField(child=serializers.DictField())
