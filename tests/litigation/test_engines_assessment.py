"""Case analysis, risk assessment and evidence analysis over the loan dispute."""

from __future__ import annotations

import json
from datetime import date

import pytest

from litigation.engines.assessment import analyze_case, assess_risks, evidence_analysis
from litigation.engines.packages import load_package
from tests.fixtures.litigation import load_document, load_loan_case

TODAY = date(2026, 11, 22)


def _reasons(result: dict) -> dict[str, float]:
    return {reason["factor"]: reason["delta"] for reason in result["strength"]["reasons"]}


def test_plaintiff_analysis_of_the_loan_case_scores_every_reason():
    result = analyze_case(
        load_loan_case(),
        "loan_dispute_default",
        position="plaintiff",
        user_input="张伟起诉李强返还借款45万元",
        today=TODAY,
    )

    assert result["strength"]["score"] == 94
    assert result["strength"]["label"] == "strong"
    assert _reasons(result) == {
        "base": 20.0,
        "element:loan_agreement": 18.0,
        "element:fund_delivery": 18.0,
        "element:repayment_due": 12.0,
        "element:demand_and_default": 12.0,
        "element:interest_agreement": 2.0,
        "element:guarantee": 0.0,
        "checklist": 6.7,
        "limitation": 5.0,
    }
    assert result["limitation"]["status"] == "expiring_soon"
    assert [gap["element"] for gap in result["gaps"]] == ["guarantee"]
    assert result["report"]["title"] == "案件分析报告 / Case analysis"


def test_strength_reasons_cite_the_evidence_they_rest_on():
    result = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=TODAY
    )

    delivery = next(
        reason
        for reason in result["strength"]["reasons"]
        if reason["factor"] == "element:fund_delivery"
    )

    assert delivery["citations"][0]["document_id"] == "loan_case/02_银行转账记录.txt"
    assert "转账支出" in delivery["citations"][0]["quote"]


def test_plaintiff_risks_come_from_package_rules_with_citations():
    result = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=TODAY
    )

    assert [(risk["key"], risk["severity"]) for risk in result["risks"]] == [
        ("limitation_expiring", "medium"),
        ("no_identity_documents", "low"),
    ]
    assert result["risks"][0]["citation"]["quote"].endswith("剩下的45万什么时候还？")
    assert result["risks"][1]["citation"] is None


def test_defendant_sees_the_reverse_score_and_its_own_risks():
    result = analyze_case(
        load_loan_case(), "loan_dispute_default", position="defendant", today=TODAY
    )

    assert result["strength"]["score"] == 6
    assert result["strength"]["claim_score"] == 94
    assert result["strength"]["perspective"] == "defence"
    assert _reasons(result)["element:fund_delivery"] == -18.0
    assert [risk["key"] for risk in result["risks"]] == [
        "acknowledged_debt",
        "no_identity_documents",
    ]


def test_an_expired_limitation_turns_the_case_for_both_sides():
    late = date(2027, 3, 1)

    plaintiff = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=late
    )
    defendant = assess_risks(
        load_loan_case(), "loan_dispute_default", position="defendant", today=late
    )

    assert plaintiff["limitation"]["status"] == "expired"
    assert _reasons(plaintiff)["limitation"] == -40.0
    assert plaintiff["strength"]["score"] == 49
    assert plaintiff["risks"][0]["key"] == "limitation_expired_claimant"
    assert "limitation_defence" in [risk["key"] for risk in defendant["risks"]]


def test_missing_documents_become_gap_risks_and_rule_risks():
    chat_only = [load_document("loan_case/03_微信聊天记录.txt")]

    result = assess_risks(chat_only, "loan_dispute_default", position="plaintiff", today=TODAY)

    assert [(risk["key"], risk["source"]) for risk in result["risks"]] == [
        ("no_proof_of_delivery", "package_rule"),
        ("no_agreement", "package_rule"),
        ("limitation_expiring", "package_rule"),
        ("gap_repayment_due", "evidence_gap"),
        ("no_identity_documents", "package_rule"),
    ]
    assert result["summary"] == {"high": 2, "medium": 2, "low": 1, "total": 5}


def test_high_risk_contract_clauses_of_case_documents_are_risks():
    contract = load_document("sales_contract_en_risky.txt")

    result = assess_risks(
        [contract], "sales_contract_default", position="plaintiff", today=date(2024, 9, 1)
    )

    contract_risks = [risk for risk in result["risks"] if risk["source"] == "contract_review"]
    assert [risk["key"] for risk in contract_risks] == [
        "contract_unilateral_termination",
        "contract_excessive_liquidated_damages",
        "contract_unlimited_liability",
    ]
    assert contract_risks[0]["citation"]["quote"].startswith("Seller may terminate")


def test_evidence_analysis_needs_no_date_or_position():
    result = evidence_analysis(load_loan_case(), load_package("loan_dispute_default"))

    assert result["kind"] == "evidence_analysis"
    assert [item["classification"]["kind"] for item in result["documents"]] == [
        "contract",
        "bank_record",
        "chat_record",
        "receipt_iou",
    ]
    assert [gap["element"] for gap in result["gaps"]] == ["guarantee"]
    assert result["checklist"]["missing_required"] == [
        "双方身份证明 / Identity documents of the parties"
    ]


def test_progress_is_reported_for_every_node_in_order():
    steps: list[tuple[str, float]] = []

    analyze_case(
        load_loan_case(),
        "loan_dispute_default",
        position="third_party",
        today="2026-11-22",
        on_step=lambda name, fraction: steps.append((name, fraction)),
    )

    assert [name for name, _ in steps] == [
        "extract_facts",
        "timeline",
        "classify_evidence",
        "evidence_map",
        "limitation",
        "strength",
        "risks",
        "report",
        "done",
    ]
    assert [fraction for _, fraction in steps] == sorted(fraction for _, fraction in steps)
    assert steps[-1] == ("done", 1.0)


def test_the_result_is_json_serialisable():
    result = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=TODAY
    )

    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_an_unknown_position_is_refused():
    with pytest.raises(ValueError, match="position must be one of"):
        analyze_case(load_loan_case(), "loan_dispute_default", position="judge", today=TODAY)
