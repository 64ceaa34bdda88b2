"""The litigation task types run in-process on a claimed row: results, steps and files."""

from __future__ import annotations

import io

import docx
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from documents.models import DocumentStatus
from litigation import services
from litigation.models import Artifact
from tasks_app import services as task_services
from tasks_app.context import TaskContext
from tasks_app.models import Queue, Task, TaskStatus
from tests.litigation.conftest import (
    chunk,
    fixture_document,
    make_document,
    run_task,
    steps_of,
)

pytestmark = pytest.mark.django_db

TODAY = "2026-11-22"
SALES_VARIABLES = {
    "seller_name": "上海恒远机械有限公司",
    "buyer_name": "杭州青禾食品有限公司",
    "goods_name": "全自动灌装生产线",
    "quantity": "一套",
    "total_price": "1,000,000",
    "delivery_date": "2024年8月31日",
    "delivery_place": "杭州市余杭区青禾食品厂区",
    "payment_days": "十五",
    "arbitration_commission": "上海国际仲裁中心",
    "signing_date": "2024年6月1日",
}
CASE_STEPS = [
    "load documents",
    "extract facts",
    "timeline",
    "evidence map",
    "gaps",
    "limitation check",
    "strength assessment",
    "report",
]


def analysis_params(documents, **extra) -> dict:
    return {
        "package_id": "loan_dispute_default",
        "case_position": "plaintiff",
        "document_ids": [document.pk for document in documents],
        "user_input": "张伟起诉李强返还借款45万元",
        "today": TODAY,
        **extra,
    }


def docx_paragraphs(artifact: Artifact) -> list[str]:
    with artifact.file.open("rb") as handle:
        return [p.text for p in docx.Document(io.BytesIO(handle.read())).paragraphs]


def test_case_analysis_records_every_step_in_order_and_scores_the_loan_case(
    user, packages, loan_case
):
    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert task.progress == 100
    assert steps_of(task) == [(name, "succeeded") for name in CASE_STEPS]
    result = task.result
    assert result["strength"]["score"] == 94
    assert result["strength"]["label"] == "strong"
    assert result["limitation"]["status"] == "expiring_soon"
    assert result["case_type"] == "private_lending"
    assert result["today"] == TODAY
    assert [(gap["element"], gap["status"]) for gap in result["gaps"]] == [("guarantee", "missing")]


def test_case_analysis_timeline_lists_the_dated_events_in_order_by_document(
    user, packages, loan_case
):
    contract, bank, chat, iou = (str(document.pk) for document in loan_case)

    result = run_task(user, "litigation.case_analysis", analysis_params(loan_case)).result

    assert [(entry["date"], entry["document_ids"]) for entry in result["timeline"]] == [
        ("2022-02-25", [contract]),
        ("2022-03-01", [contract]),
        ("2022-03-01", [contract, bank]),
        ("2022-03-01", [iou]),
        ("2023-02-28", [contract, iou]),
        ("2023-03-05", [chat]),
        ("2023-03-05", [chat]),
        ("2023-06-15", [bank, chat]),
        ("2024-01-10", [chat]),
        ("2024-01-10", [chat]),
    ]


def test_case_analysis_evidence_map_links_each_element_to_the_right_documents_and_chunks(
    user, packages, loan_case
):
    contract, bank, chat, iou = (str(document.pk) for document in loan_case)
    chunk(loan_case[1], 100)

    result = run_task(user, "litigation.case_analysis", analysis_params(loan_case)).result

    supports = {
        item["key"]: [support["document_id"] for support in item["supports"]]
        for item in result["evidence_map"]
    }
    assert supports == {
        "loan_agreement": [contract, iou],
        "fund_delivery": [bank, iou, contract],
        "repayment_due": [iou, contract, chat],
        "demand_and_default": [chat],
        "interest_agreement": [contract, iou],
        "guarantee": [],
    }
    delivery = next(item for item in result["evidence_map"] if item["key"] == "fund_delivery")
    best = delivery["supports"][0]
    assert "转账支出" in best["citations"][0]["quote"]
    # The bank record's quotes sit at characters 116 and 80: chunks 1 and 0 of 100 characters.
    assert best["chunks"] == [0, 1]
    assert delivery["supports"][1]["chunks"] == []


def test_case_analysis_writes_markdown_html_and_docx_reports(user, packages, loan_case):
    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    base = f"/api/v1/litigation/tasks/{task.id}/report"
    assert task.result["artifacts"] == {
        "md": f"{base}.md",
        "html": f"{base}.html",
        "docx": f"{base}.docx",
    }
    artifacts = {a.format: a for a in Artifact.objects.filter(task=task)}
    assert sorted(artifacts) == ["docx", "html", "md"]
    with artifacts["md"].file.open("rb") as handle:
        markdown = handle.read().decode()
    assert markdown.startswith("# 案件分析报告 / Case analysis")
    assert "— 01\\_借款合同，第14–16字 / chars 14–16" in markdown
    assert "案件分析报告 / Case analysis" in docx_paragraphs(artifacts["docx"])
    assert artifacts["html"].size == default_storage.size(artifacts["html"].file.name)


def test_today_defaults_to_the_local_date_the_task_was_submitted(user, packages, loan_case):
    params = analysis_params(loan_case)
    del params["today"]

    task = run_task(user, "litigation.case_analysis", params)

    assert task.result["today"] == timezone.localdate(task.created_at).isoformat()


def test_case_analysis_waits_for_documents_still_being_ingested(
    user, packages, loan_case, settings, monkeypatch
):
    settings.LITIGATION_DOCUMENT_POLL_SECONDS = 0.01
    pending = loan_case[2]
    pending.status = DocumentStatus.PROCESSING
    pending.save(update_fields=["status"])
    waits = []

    def ingestion_finishes(ctx, seconds):
        waits.append(seconds)
        pending.status = DocumentStatus.READY
        pending.save(update_fields=["status"])

    monkeypatch.setattr(TaskContext, "wait", ingestion_finishes)

    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert waits == [0.01]
    assert task.result["strength"]["score"] == 94


def test_a_case_analysis_waiting_for_ingestion_stops_when_cancelled(
    user, packages, loan_case, settings, monkeypatch
):
    settings.LITIGATION_DOCUMENT_POLL_SECONDS = 0.3
    loan_case[0].status = DocumentStatus.PROCESSING
    loan_case[0].save(update_fields=["status"])
    real_wait = TaskContext.wait

    def cancelled_meanwhile(ctx, seconds):
        task_services.task_cancel(task=Task.objects.get(pk=ctx.task_id), by=user)
        real_wait(ctx, seconds)

    monkeypatch.setattr(TaskContext, "wait", cancelled_meanwhile)

    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    assert task.status == TaskStatus.REVOKED
    assert steps_of(task)[0] == ("load documents", "failed")
    assert not Artifact.objects.filter(task=task).exists()


def test_case_analysis_gives_up_on_documents_not_ingested_in_time(
    user, packages, loan_case, settings
):
    settings.LITIGATION_DOCUMENT_WAIT_SECONDS = 0.05
    settings.LITIGATION_DOCUMENT_POLL_SECONDS = 0.01
    loan_case[3].status = DocumentStatus.PENDING
    loan_case[3].save(update_fields=["status"])

    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    assert task.status == TaskStatus.FAILED
    assert task.error_message == (
        f"PermanentError: document_ids: still being ingested after 0.05 s: "
        f"{loan_case[3].pk} (04_借条)"
    )
    assert steps_of(task)[:2] == [("load documents", "failed"), ("extract facts", "pending")]


def test_case_analysis_fails_clearly_when_a_document_failed_to_ingest(user, packages, loan_case):
    broken = loan_case[0]
    Document = type(broken)
    Document.objects.filter(pk=broken.pk).update(
        status=DocumentStatus.FAILED, error="The PDF has no text layer (a scan?)."
    )

    task = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    assert task.status == TaskStatus.FAILED
    assert task.error_message == (
        f"PermanentError: document_ids: ingestion failed for {broken.pk} (01_借款合同): "
        "The PDF has no text layer (a scan?)."
    )
    assert not Artifact.objects.filter(task=task).exists()


def test_case_analysis_treats_another_users_document_as_missing(
    user, other_user, packages, loan_case
):
    foreign = make_document(other_user, title="theirs", text="借条")

    task = run_task(user, "litigation.case_analysis", analysis_params([*loan_case, foreign]))

    assert task.status == TaskStatus.FAILED
    assert task.error_message == f"PermanentError: document_ids: no such document: {foreign.pk}"


def test_unknown_package_and_position_are_refused_at_submit_naming_the_field(user, packages):
    with pytest.raises(ValidationError) as error:
        task_services.task_submit(
            owner=user,
            task_type="litigation.case_analysis",
            params={"package_id": "nope", "case_position": "judge", "document_ids": []},
        )

    assert set(error.value.detail) == {"package_id", "case_position"}
    assert str(error.value.detail["package_id"][0]).startswith(
        "Unknown analysis package 'nope'. Known packages: contract_dispute_default,"
    )


def test_the_task_types_run_on_the_queues_the_users_run_them_on(user, packages):
    submitted = {
        "litigation.case_analysis": {
            "package_id": "loan_dispute_default",
            "case_position": "plaintiff",
        },
        "litigation.risk_assessment": {
            "package_id": "loan_dispute_default",
            "case_position": "defendant",
        },
        "litigation.evidence_analysis": {"package_id": "loan_dispute_default"},
        "litigation.contract_review": {"text": "合同"},
        "litigation.contract_generation": {
            "template": "sales_contract",
            "variables": SALES_VARIABLES,
        },
    }

    queues = {
        name: task_services.task_submit(owner=user, task_type=name, params=params).task.queue
        for name, params in submitted.items()
    }

    assert queues == {
        "litigation.case_analysis": Queue.MEDIUM,
        "litigation.risk_assessment": Queue.MEDIUM,
        "litigation.evidence_analysis": Queue.MEDIUM,
        "litigation.contract_review": Queue.LOW,
        "litigation.contract_generation": Queue.HIGH,
    }


def test_evidence_analysis_classifies_each_document_and_reports_the_checklist(
    user, packages, loan_case
):
    task = run_task(
        user,
        "litigation.evidence_analysis",
        {"package_id": "loan_dispute_default", "document_ids": [d.pk for d in loan_case]},
    )

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert steps_of(task) == [
        (name, "succeeded")
        for name in [
            "load documents",
            "extract facts",
            "classify evidence",
            "evidence map",
            "report",
        ]
    ]
    result = task.result
    assert [(d["document_id"], d["classification"]["kind"]) for d in result["documents"]] == [
        (str(loan_case[0].pk), "contract"),
        (str(loan_case[1].pk), "bank_record"),
        (str(loan_case[2].pk), "chat_record"),
        (str(loan_case[3].pk), "receipt_iou"),
    ]
    assert [gap["element"] for gap in result["gaps"]] == ["guarantee"]
    assert sorted(result["artifacts"]) == ["docx", "html", "md"]


def test_risk_assessment_lists_the_plaintiffs_risks_with_citations(user, packages, loan_case):
    task = run_task(
        user,
        "litigation.risk_assessment",
        {
            "package_id": "loan_dispute_default",
            "case_position": "plaintiff",
            "document_ids": [d.pk for d in loan_case],
            "today": TODAY,
        },
    )

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert [name for name, _ in steps_of(task)] == [
        "load documents",
        "extract facts",
        "timeline",
        "evidence map",
        "limitation check",
        "risks",
        "report",
    ]
    risks = task.result["risks"]
    assert [(risk["key"], risk["severity"]) for risk in risks] == [
        ("limitation_expiring", "medium"),
        ("no_identity_documents", "low"),
    ]
    assert risks[0]["citation"]["document_id"] == str(loan_case[2].pk)
    assert risks[0]["citation"]["quote"].endswith("剩下的45万什么时候还？")


def test_contract_review_of_a_stored_document_finds_the_planted_clause_with_its_span(
    user, packages
):
    document = fixture_document(user, "买卖合同_风险.txt")

    task = run_task(user, "litigation.contract_review", {"document_id": document.pk})

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert steps_of(task) == [
        ("load document", "succeeded"),
        ("review clauses", "succeeded"),
        ("report", "succeeded"),
    ]
    termination = next(f for f in task.result["findings"] if f["rule"] == "unilateral_termination")
    citation = termination["citation"]
    assert citation["quote"] == "甲方有权随时单方解除本合同，且无需承担任何责任。"
    assert document.text[citation["start"] : citation["end"]] == citation["quote"]
    assert citation["document_id"] == str(document.pk)
    assert termination["severity"] == "high"


def test_contract_review_of_pasted_text_leaves_a_clean_contract_unflagged(user, packages):
    text = fixture_document(user, "services_agreement_en_clean.txt").text

    task = run_task(
        user, "litigation.contract_review", {"text": text, "title": "Services agreement"}
    )

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert task.result["findings"] == []
    assert task.result["summary"] == {"high": 0, "medium": 0, "low": 0, "total": 0}
    assert task.result["title"] == "Services agreement"


def test_contract_generation_writes_a_docx_that_opens_with_the_filled_values(user, packages):
    task = run_task(
        user,
        "litigation.contract_generation",
        {"template": "sales_contract", "variables": SALES_VARIABLES},
    )

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert task.queue == Queue.HIGH
    assert steps_of(task) == [("fill template", "succeeded"), ("write files", "succeeded")]
    assert task.result["artifacts"] == {
        "md": f"/api/v1/litigation/tasks/{task.id}/contract.md",
        "docx": f"/api/v1/litigation/tasks/{task.id}/contract.docx",
    }
    paragraphs = docx_paragraphs(Artifact.objects.get(task=task, format="docx"))
    assert paragraphs[0] == "买卖合同"
    assert (
        "甲方向乙方出售全自动灌装生产线，数量一套。合同总价款为人民币壹佰万元整（¥1,000,000.00），"
        "含税及运输费用。"
    ) in paragraphs
    assert "上海恒远机械有限公司" in "\n".join(paragraphs)
    assert task.result["markdown"].startswith("# 买卖合同")


def test_contract_generation_refuses_missing_variables_at_submit(user):
    variables = {**SALES_VARIABLES, "buyer_name": " "}
    del variables["delivery_date"]

    with pytest.raises(ValidationError) as error:
        task_services.task_submit(
            owner=user,
            task_type="litigation.contract_generation",
            params={"template": "sales_contract", "variables": variables},
        )

    assert [str(m) for m in error.value.detail["variables"]] == [
        "Missing required variables: delivery_date."
    ]


COMPLAINT_VARIABLES = {
    "plaintiff_name": "张伟",
    "defendant_name": "李强",
    "court": "北京市朝阳区人民法院",
    "claims": ["判令被告偿还借款本金人民币45万元", "判令被告承担本案诉讼费用"],
    "filing_date": "2026-11-22",
}


def test_document_drafting_fills_a_civil_complaint_from_the_case_analysis(
    user, packages, loan_case
):
    analysis = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    task = run_task(
        user,
        "litigation.document_drafting",
        {"analysis_task_id": str(analysis.id), "variables": COMPLAINT_VARIABLES},
    )

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert task.queue == Queue.HIGH
    assert [name for name, _ in steps_of(task)] == ["load analysis", "draft", "write files"]
    paragraphs = docx_paragraphs(Artifact.objects.get(task=task, kind="complaint", format="docx"))
    assert paragraphs[0] == "民事起诉状"
    text = "\n".join(paragraphs)
    for value in (
        "张伟",
        "李强",
        "北京市朝阳区人民法院",
        "判令被告偿还借款本金人民币45万元",
        "2026年11月22日",
    ):
        assert value in text
    assert task.result["artifacts"]["docx"].endswith("/complaint.docx")


def test_document_drafting_refuses_another_users_analysis(user, other_user, packages, loan_case):
    analysis = run_task(user, "litigation.case_analysis", analysis_params(loan_case))

    task = run_task(
        other_user,
        "litigation.document_drafting",
        {"analysis_task_id": str(analysis.id), "variables": COMPLAINT_VARIABLES},
    )

    assert task.status == TaskStatus.FAILED
    assert task.error_message == (
        f"PermanentError: analysis_task_id: {analysis.id} is not a finished case analysis of yours"
    )


def test_a_rerun_replaces_the_report_files_instead_of_adding_more(user, packages):
    task = run_task(user, "litigation.contract_review", {"text": "第一条 付款\n尽快付款。"})

    services.report_write(task_id=task.id, result=task.result)

    assert Artifact.objects.filter(task=task).count() == 3
    _, files = default_storage.listdir(f"litigation/{task.id}")
    assert sorted(files) == ["report.docx", "report.html", "report.md"]
