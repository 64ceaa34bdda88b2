"""The litigation endpoints: starts, validation, packages, templates and report downloads."""

from __future__ import annotations

import io

import docx
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from litigation.models import AnalysisPackage
from tasks_app.models import Task, TaskStatus, TaskSystem
from tests.litigation.conftest import make_document, run_task
from tests.litigation.test_task_types import COMPLAINT_VARIABLES, SALES_VARIABLES

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(autouse=True)
def _no_throttle_history():
    cache.clear()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_error(response, status: int, code: str, fields: dict | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code, body
    assert body["detail"]
    if fields is not None:
        assert body["fields"] == fields, body
    return body


def start_body(documents, **extra) -> dict:
    return {
        "package_id": "contract_dispute_default",
        "case_type": "contract_performance",
        "case_position": "plaintiff",
        "user_input": "测试案件分析",
        "document_ids": [document.pk for document in documents],
        **extra,
    }


def test_start_answers_exactly_what_the_users_front_end_reads(user, packages, loan_case):
    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body(loan_case), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"task_id", "status", "task_system"}
    task = Task.objects.get(pk=body["task_id"])
    assert body == {
        "task_id": str(task.id),
        "status": TaskStatus.PENDING,
        "task_system": TaskSystem.CELERY,
    }
    assert task.owner == user
    assert task.task_type == "litigation.case_analysis"
    assert task.params == {
        "package_id": "contract_dispute_default",
        "case_type": "contract_performance",
        "case_position": "plaintiff",
        "user_input": "测试案件分析",
        "document_ids": [document.pk for document in loan_case],
    }


def test_start_with_the_users_empty_document_list_and_a_trailing_slash(user, packages, settings):
    settings.CELERY_ENABLED = False

    response = client_for(user).post(
        f"{API}/litigation-analysis/start/", start_body([]), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["task_system"] == TaskSystem.INLINE


def test_start_refuses_an_unknown_package_naming_package_id(user, packages):
    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body([], package_id="nope"), format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == ["package_id"]
    assert body["fields"]["package_id"][0].startswith("Unknown analysis package 'nope'.")
    assert not Task.objects.exists()


def test_start_refuses_an_inactive_package(user, packages):
    AnalysisPackage.objects.filter(key="contract_dispute_default").update(is_active=False)

    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body([]), format="json"
    )

    assert_error(response, 400, "invalid")


def test_start_refuses_a_position_outside_the_three(user, packages):
    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body([], case_position="judge"), format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == ["case_position"]
    assert "judge" in body["fields"]["case_position"][0]


def test_start_refuses_unknown_fields(user, packages):
    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body([], owner_id=1), format="json"
    )

    assert_error(response, 400, "invalid", {"owner_id": ["Unknown field."]})


def test_foreign_and_missing_document_ids_get_the_same_answer(user, other_user, packages):
    mine = make_document(user, title="mine", text="借条")
    theirs = make_document(other_user, title="theirs", text="借条")
    missing = theirs.pk + 1000

    response = client_for(user).post(
        f"{API}/litigation-analysis/start",
        start_body([mine, theirs], document_ids=[mine.pk, theirs.pk, missing]),
        format="json",
    )

    assert_error(
        response,
        400,
        "invalid",
        {"document_ids": [f"No such document: {theirs.pk}, {missing}."]},
    )
    assert not Task.objects.exists()


def test_start_needs_authentication(packages):
    response = APIClient().post(f"{API}/litigation-analysis/start", start_body([]), format="json")

    assert response.status_code in (401, 403)
    assert response.json()["error"] in ("not_authenticated", "authentication_failed")


def test_risk_and_evidence_analyses_start_from_their_endpoints(user, packages, loan_case):
    client = client_for(user)
    ids = [document.pk for document in loan_case]

    risk = client.post(
        f"{API}/litigation/risk-assessment",
        {"package_id": "loan_dispute_default", "case_position": "defendant", "document_ids": ids},
        format="json",
    )
    evidence = client.post(
        f"{API}/litigation/evidence-analysis",
        {"package_id": "loan_dispute_default", "document_ids": ids},
        format="json",
    )

    assert risk.status_code == evidence.status_code == 201
    assert Task.objects.get(pk=risk.json()["task_id"]).task_type == "litigation.risk_assessment"
    assert (
        Task.objects.get(pk=evidence.json()["task_id"]).task_type == "litigation.evidence_analysis"
    )


def test_contract_review_takes_a_document_of_the_caller_or_text(user, other_user, packages):
    client = client_for(user)
    mine = make_document(user, title="合同", text="第一条 付款\n尽快付款。")
    theirs = make_document(other_user, title="合同", text="第一条 付款\n尽快付款。")

    by_document = client.post(f"{API}/contracts/review", {"document_id": mine.pk}, format="json")
    by_text = client.post(
        f"{API}/contracts/review", {"text": "第一条 付款\n尽快付款。"}, format="json"
    )
    foreign = client.post(f"{API}/contracts/review", {"document_id": theirs.pk}, format="json")

    assert by_document.status_code == by_text.status_code == 201
    task = Task.objects.get(pk=by_document.json()["task_id"])
    assert (task.task_type, task.queue, task.params["document_id"]) == (
        "litigation.contract_review",
        "low_priority",
        mine.pk,
    )
    assert_error(foreign, 400, "invalid", {"document_id": [f"No such document: {theirs.pk}."]})


@pytest.mark.parametrize(
    "body", [{}, {"text": "   "}, {"text": "合同", "document_id": 1}], ids=["none", "blank", "both"]
)
def test_contract_review_needs_exactly_one_of_document_or_text(user, body):
    response = client_for(user).post(f"{API}/contracts/review", body, format="json")

    assert_error(
        response,
        400,
        "invalid",
        {"document_id": ["Give either document_id or a non-empty text, not both."]},
    )


def test_contract_generation_names_missing_variables_and_unknown_templates(user):
    client = client_for(user)
    variables = {**SALES_VARIABLES}
    del variables["buyer_name"]

    missing = client.post(
        f"{API}/contracts/generate",
        {"template": "sales_contract", "variables": variables},
        format="json",
    )
    unknown = client.post(
        f"{API}/contracts/generate", {"template": "lease", "variables": {}}, format="json"
    )
    good = client.post(
        f"{API}/contracts/generate",
        {"template": "sales_contract", "variables": SALES_VARIABLES},
        format="json",
    )

    assert_error(
        missing,
        400,
        "invalid",
        {"variables": ["Missing required variables: buyer_name."]},
    )
    assert_error(unknown, 400, "invalid")
    assert list(unknown.json()["fields"]) == ["template"]
    assert good.status_code == 201
    assert Task.objects.get(pk=good.json()["task_id"]).queue == "high_priority"


def test_draft_complaint_needs_a_finished_case_analysis_of_the_caller(
    user, other_user, packages, loan_case
):
    pending = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body(loan_case), format="json"
    )
    finished = run_task(
        user,
        "litigation.case_analysis",
        {
            "package_id": "loan_dispute_default",
            "case_position": "plaintiff",
            "document_ids": [document.pk for document in loan_case],
        },
    )

    def draft(client, task_id):
        return client.post(
            f"{API}/litigation/draft-complaint",
            {"analysis_task_id": str(task_id), "variables": COMPLAINT_VARIABLES},
            format="json",
        )

    foreign = draft(client_for(other_user), finished.id)
    not_finished = draft(client_for(user), pending.json()["task_id"])
    ok = draft(client_for(user), finished.id)

    assert_error(
        foreign,
        400,
        "invalid",
        {"analysis_task_id": [f"No case analysis {finished.id} of yours."]},
    )
    body = assert_error(not_finished, 409, "analysis_not_finished")
    assert body["status"] == TaskStatus.PENDING
    assert ok.status_code == 201, ok.content
    task = Task.objects.get(pk=ok.json()["task_id"])
    assert (task.task_type, task.queue) == ("litigation.document_drafting", "high_priority")


def test_draft_complaint_names_missing_variables(user):
    response = client_for(user).post(
        f"{API}/litigation/draft-complaint",
        {"analysis_task_id": "5b0b2a47-3d1e-4e4f-9a55-111111111111", "variables": {"court": "x"}},
        format="json",
    )

    assert_error(
        response,
        400,
        "invalid",
        {
            "variables": [
                "Missing required variables: plaintiff_name, defendant_name, claims, filing_date."
            ]
        },
    )


def test_tasks_api_submits_a_litigation_type_with_its_params_validated(user, packages):
    client = client_for(user)

    good = client.post(
        f"{API}/tasks/",
        {"task_type": "litigation.contract_review", "params": {"text": "合同"}},
        format="json",
    )
    bad = client.post(
        f"{API}/tasks/",
        {"task_type": "litigation.case_analysis", "params": {"package_id": "nope"}},
        format="json",
    )

    assert good.status_code == 201, good.content
    assert set(bad.json()["fields"]) == {"params.package_id", "params.case_position"}


def test_packages_are_listed_without_their_definitions(
    user, packages, django_assert_max_num_queries
):
    AnalysisPackage.objects.filter(key="labor_dispute_default").update(is_active=False)

    with django_assert_max_num_queries(3):
        response = client_for(user).get(f"{API}/litigation/packages")

    assert response.status_code == 200
    assert [package["key"] for package in response.json()] == [
        "contract_dispute_default",
        "loan_dispute_default",
        "sales_contract_default",
    ]
    assert set(response.json()[0]) == {"key", "name", "case_type", "description", "updated_at"}


def test_package_detail_shows_the_definition_and_404s_unknown_keys(user, packages):
    client = client_for(user)

    found = client.get(f"{API}/litigation/packages/loan_dispute_default")
    missing = client.get(f"{API}/litigation/packages/nope")

    assert found.status_code == 200
    assert [e["key"] for e in found.json()["definition"]["elements"]][:2] == [
        "loan_agreement",
        "fund_delivery",
    ]
    assert_error(missing, 404, "not_found")


def test_templates_are_listed_with_their_variables(user):
    response = client_for(user).get(f"{API}/litigation/templates")

    assert [template["key"] for template in response.json()] == [
        "loan_agreement",
        "sales_contract",
    ]
    assert response.json()[1]["variables"][0]["name"] == "seller_name"


@pytest.fixture
def reviewed(user, packages):
    return run_task(
        user,
        "litigation.contract_review",
        {"text": "第一条 付款\n乙方应尽快付款。", "title": "测试合同"},
    )


def report_url(task, fmt: str, kind: str = "report") -> str:
    return f"{API}/litigation/tasks/{task.id}/{kind}.{fmt}"


def test_the_owner_downloads_the_report_in_three_formats(user, reviewed):
    client = client_for(user)

    markdown = client.get(report_url(reviewed, "md"))
    html = client.get(report_url(reviewed, "html"))
    word = client.get(report_url(reviewed, "docx"))

    assert markdown.status_code == html.status_code == word.status_code == 200
    assert markdown["Content-Type"] == "text/markdown; charset=utf-8"
    text = b"".join(markdown.streaming_content).decode()
    assert text.startswith("# 合同审查报告")
    assert "乙方应尽快付款。" in text
    assert html["Content-Type"] == "text/html; charset=utf-8"
    assert b"<html" in b"".join(html.streaming_content)
    assert word["Content-Disposition"].startswith("attachment;")
    paragraphs = [
        p.text for p in docx.Document(io.BytesIO(b"".join(word.streaming_content))).paragraphs
    ]
    assert paragraphs[0].startswith("合同审查报告")


def test_another_user_gets_404_and_staff_may_download(other_user, staff_user, reviewed):
    foreign = client_for(other_user).get(report_url(reviewed, "md"))
    staff = client_for(staff_user).get(report_url(reviewed, "md"))

    assert_error(foreign, 404, "not_found")
    assert staff.status_code == 200


def test_download_of_an_unfinished_task_is_a_conflict(user, packages):
    pending = client_for(user).post(f"{API}/contracts/review", {"text": "合同"}, format="json")
    task = Task.objects.get(pk=pending.json()["task_id"])

    response = client_for(user).get(report_url(task, "md"))

    body = assert_error(response, 409, "not_finished")
    assert body["status"] == TaskStatus.PENDING


def test_download_of_a_file_the_task_did_not_write_or_a_bad_id_is_404(user, reviewed):
    client = client_for(user)

    assert_error(client.get(report_url(reviewed, "docx", kind="contract")), 404, "not_found")
    assert_error(client.get(f"{API}/litigation/tasks/not-a-uuid/report.md"), 404, "not_found")


def test_the_schema_documents_the_litigation_endpoints(user):
    response = client_for(user).get("/api/schema/", {"format": "json"})

    paths = response.json()["paths"]
    assert "/api/v1/litigation-analysis/start/" in paths
    start = paths["/api/v1/litigation-analysis/start/"]["post"]
    assert start["operationId"] == "litigation_analysis_start"
    assert {"201", "400", "401"} <= set(start["responses"])
    assert "/api/v1/litigation/tasks/{task_id}/{kind}.{fmt}" in paths


def test_an_id_beyond_the_database_range_is_a_400_naming_the_field(user, packages):
    response = client_for(user).post(
        f"{API}/litigation-analysis/start", start_body([], document_ids=[2**63]), format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert list(body["fields"]) == ["document_ids.0"]
