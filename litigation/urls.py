"""Routes of the litigation API under /api/v1/; a trailing slash is optional, as in the task API."""

from django.urls import re_path

from . import apis

app_name = "litigation"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view.as_view(), name=name)


urlpatterns = [
    route(r"litigation-analysis/start", apis.AnalysisStartApi, "analysis-start"),
    route(r"litigation/risk-assessment", apis.RiskAssessmentStartApi, "risk-assessment"),
    route(r"litigation/evidence-analysis", apis.EvidenceAnalysisStartApi, "evidence-analysis"),
    route(r"litigation/draft-complaint", apis.DraftComplaintStartApi, "draft-complaint"),
    route(r"contracts/review", apis.ContractReviewStartApi, "contract-review"),
    route(r"contracts/generate", apis.ContractGenerateStartApi, "contract-generate"),
    route(r"litigation/packages", apis.PackageListApi, "package-list"),
    route(r"litigation/packages/(?P<key>[-\w]+)", apis.PackageDetailApi, "package-detail"),
    route(r"litigation/templates", apis.TemplateListApi, "template-list"),
    re_path(
        r"^litigation/tasks/(?P<task_id>[^/]+)/(?P<kind>report|contract|complaint)"
        r"\.(?P<fmt>md|html|docx)$",
        apis.ArtifactDownloadApi.as_view(),
        name="task-artifact",
    ),
]
