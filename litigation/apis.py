"""The litigation endpoints: start the analyses the users' front end starts, list packages and
templates, and download the reports and documents the tasks wrote.

Every start endpoint validates, submits one registered task type and answers 201
``{"task_id", "status", "task_system"}``; progress and results are then read through the task
API (``/api/v1/tasks/{task_id}/...``). Errors use the API's one shape ``{error, detail, fields}``.
"""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks_app import services as task_services
from tasks_app.api_errors import Conflict
from tasks_app.apis.common import SUBMIT_ERRORS, SubmitApi
from tasks_app.downloads import DownloadResponse
from tasks_app.models import TaskStatus
from tasks_app.serializers import ErrorSerializer

from . import selectors
from .engines import generation
from .models import AnalysisPackage, ArtifactFormat, ArtifactKind
from .serializers import (
    AnalysisStartSerializer,
    ContractGenerateRequestSerializer,
    ContractReviewRequestSerializer,
    DraftComplaintRequestSerializer,
    EvidenceAnalysisRequestSerializer,
    PackageDetailSerializer,
    PackageSerializer,
    RiskAssessmentRequestSerializer,
    StartedSerializer,
    TemplateSerializer,
)

TAGS = ["litigation"]
UNKNOWN_DOCUMENTS = "No such document: {ids}."

_STARTED = {
    201: OpenApiResponse(StartedSerializer, description="The task was created."),
    **SUBMIT_ERRORS,
}


class StartApi(SubmitApi):
    """Base of the endpoints that start one litigation task type: throttled and capped per
    user like every submit, with bounded JSON bodies."""

    task_type: str
    serializer_class: type[serializers.Serializer]

    def post(self, request):
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        params = self.params(serializer.validated_data)
        self.check_active_limit()
        submitted = task_services.task_submit(
            owner=request.user, task_type=self.task_type, params=params
        )
        task = submitted.task
        body = {"task_id": str(task.id), "status": task.status, "task_system": task.task_system}
        return Response(body, status=status.HTTP_201_CREATED)

    def params(self, data: dict) -> dict:
        """The task parameters from the validated input, document ids checked as the caller's."""
        if data.get("document_ids"):
            self.check_documents("document_ids", data["document_ids"])
        if data.get("document_id") is not None:
            self.check_documents("document_id", [data["document_id"]])
        return dict(data)

    def check_documents(self, field: str, ids: list) -> None:
        """400 naming ``field`` for ids that are not the caller's, whether or not they exist."""
        owned = selectors.owned_documents(owner_id=self.request.user.pk, ids=ids)
        unknown = [str(pk) for pk in ids if pk not in owned]
        if unknown:
            raise serializers.ValidationError(
                {field: [UNKNOWN_DOCUMENTS.format(ids=", ".join(unknown))]},
                code="unknown_document",
            )


class AnalysisStartApi(StartApi):
    task_type = "litigation.case_analysis"
    serializer_class = AnalysisStartSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_analysis_start",
        summary="Start a case analysis",
        description="Submits `litigation.case_analysis` (medium queue): load documents (waiting "
        "for any still being ingested) → extract facts → timeline → evidence map → gaps → "
        "limitation check → strength assessment → report. `package_id` must name an active "
        "analysis package; `document_ids` must be the caller's documents.",
        request=AnalysisStartSerializer,
        responses=_STARTED,
    )
    def post(self, request):
        return super().post(request)


class RiskAssessmentStartApi(StartApi):
    task_type = "litigation.risk_assessment"
    serializer_class = RiskAssessmentRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_risk_assessment_start",
        summary="Start a risk assessment",
        description="Submits `litigation.risk_assessment` (medium queue): the risks of the case "
        "for `case_position`, each with severity, reason and citation.",
        request=RiskAssessmentRequestSerializer,
        responses=_STARTED,
    )
    def post(self, request):
        return super().post(request)


class EvidenceAnalysisStartApi(StartApi):
    task_type = "litigation.evidence_analysis"
    serializer_class = EvidenceAnalysisRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_evidence_analysis_start",
        summary="Start an evidence analysis",
        description="Submits `litigation.evidence_analysis` (medium queue): each document's "
        "kind, what it proves, and completeness against the package's checklist.",
        request=EvidenceAnalysisRequestSerializer,
        responses=_STARTED,
    )
    def post(self, request):
        return super().post(request)


class ContractReviewStartApi(StartApi):
    task_type = "litigation.contract_review"
    serializer_class = ContractReviewRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="contracts_review",
        summary="Review a contract",
        description="Submits `litigation.contract_review` (low queue) for a stored "
        "`document_id` or pasted `text`: each finding with the clause, the exact span, its "
        "severity and a suggested revision.",
        request=ContractReviewRequestSerializer,
        responses=_STARTED,
    )
    def post(self, request):
        return super().post(request)


class ContractGenerateStartApi(StartApi):
    task_type = "litigation.contract_generation"
    serializer_class = ContractGenerateRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="contracts_generate",
        summary="Generate a contract from a template",
        description="Submits `litigation.contract_generation` (high queue): the template "
        "filled with `variables`, as DOCX and Markdown. `GET /api/v1/litigation/templates` "
        "lists the templates and their variables.",
        request=ContractGenerateRequestSerializer,
        responses=_STARTED,
    )
    def post(self, request):
        return super().post(request)


class DraftComplaintStartApi(StartApi):
    task_type = "litigation.document_drafting"
    serializer_class = DraftComplaintRequestSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_draft_complaint",
        summary="Draft a civil complaint (民事起诉状) from a case analysis",
        description="Submits `litigation.document_drafting` (high queue). `analysis_task_id` "
        "must be one of the caller's succeeded case analyses (409 while it is unfinished).",
        request=DraftComplaintRequestSerializer,
        responses={
            **_STARTED,
            409: OpenApiResponse(ErrorSerializer, description="The analysis is not finished."),
        },
    )
    def post(self, request):
        return super().post(request)

    def params(self, data: dict) -> dict:
        task_id = data["analysis_task_id"]
        state = selectors.case_analysis_status(owner_id=self.request.user.pk, task_id=task_id)
        if state is None:
            raise serializers.ValidationError(
                {"analysis_task_id": [f"No case analysis {task_id} of yours."]},
                code="unknown_analysis",
            )
        if state != TaskStatus.SUCCEEDED:
            raise Conflict(
                f"The case analysis {task_id} is {state}; a complaint needs a finished one.",
                "analysis_not_finished",
                task_status=state,
            )
        return dict(data)


class PackageListApi(ListAPIView):
    serializer_class = PackageSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.package_list()

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_packages_list",
        summary="List the analysis packages",
        description="The active packages a `package_id` may name; admins edit them in the admin.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PackageDetailApi(RetrieveAPIView):
    serializer_class = PackageDetailSerializer
    lookup_field = "key"
    queryset = AnalysisPackage.objects.none()

    def get_queryset(self):
        return selectors.package_list()

    @extend_schema(
        tags=TAGS,
        operation_id="litigation_packages_retrieve",
        summary="Show an analysis package",
        description="Its claim elements, evidence checklist, key terms, limitation period and "
        "risk rules.",
        responses={200: PackageDetailSerializer, 404: ErrorSerializer},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TemplateListApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="litigation_templates_list",
        summary="List the contract templates",
        description="Each template's key and the variables it takes.",
        responses={200: TemplateSerializer(many=True)},
    )
    def get(self, request):
        return Response(TemplateSerializer(generation.list_templates(), many=True).data)


class ArtifactDownloadApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="litigation_task_artifact",
        summary="Download a report or a generated document",
        description="`report.{md,html,docx}` of an analysis or a review, `contract.{md,docx}` "
        "of a contract generation, `complaint.{md,docx}` of a drafting. Only the task's owner "
        "(or staff) may download; 409 while the task has not succeeded.",
        parameters=[
            OpenApiParameter("task_id", uuid.UUID, OpenApiParameter.PATH),
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=ArtifactKind.values),
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=ArtifactFormat.values),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The file."),
            404: OpenApiResponse(ErrorSerializer, description="No such task or file."),
            409: OpenApiResponse(ErrorSerializer, description="The task has not succeeded."),
        },
    )
    def get(self, request, task_id, kind, fmt):
        try:
            pk = uuid.UUID(task_id)
        except ValueError:
            raise Http404("No such task.") from None
        task = selectors.visible_task(user=request.user, task_id=pk)
        if task.status != TaskStatus.SUCCEEDED:
            raise Conflict(
                f"The task is {task.status}; its files exist once it has succeeded.",
                "not_finished",
                task_status=task.status,
            )
        artifact = selectors.task_artifact(task=task, kind=kind, fmt=fmt)
        if artifact is None:
            raise Http404(f"This task has no {kind}.{fmt}.")
        response = DownloadResponse(
            request,
            artifact.file.open("rb"),
            as_attachment=fmt == ArtifactFormat.DOCX,
            filename=f"{kind}-{task.id}.{fmt}",
            content_type=artifact.content_type,
        )
        if fmt == ArtifactFormat.HTML:
            # The task page shows the report in a sandboxed frame of the same site; the
            # report itself may run nothing even when opened on its own.
            response["X-Frame-Options"] = "SAMEORIGIN"
            response["Content-Security-Policy"] = (
                "sandbox; default-src 'none'; style-src 'unsafe-inline'"
            )
        return response
