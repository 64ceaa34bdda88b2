"""Contract review: clause segmentation and the risk rules, in Chinese and English."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from litigation.engines.contract_review import review_contract, segment_clauses
from tests.fixtures.litigation import load_document


def _by_rule(result: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for finding in result["findings"]:
        found.setdefault(finding["rule"], []).append(finding)
    return found


def _quotes(result: dict, rule: str) -> list[str]:
    return [finding["citation"]["quote"] for finding in _by_rule(result).get(rule, [])]


def _document(text: str) -> dict[str, str]:
    return {"id": "c1", "title": "contract", "text": text}


def test_segments_english_articles_and_numbered_subclauses():
    text = load_document("sales_contract_en_risky.txt")["text"]

    clauses = segment_clauses(text)

    assert [clause.title for clause in clauses[:3]] == ["Article 1 Goods and Price", "1.1", "1.2"]
    assert clauses[1].parent == 0
    assert clauses[0].level == 0 and clauses[1].level == 1
    assert text[clauses[2].body_start : clauses[2].end].strip() == (
        "The total contract price is USD 200,000."
    )


def test_segments_chinese_articles_enumerations_and_numbers():
    articles = segment_clauses("第一条 借款金额\n借款十万元。\n第二条 借款期限\n一年。\n")
    sections = segment_clauses(
        "一、标的\n1. 设备一套。\n2. 价款十万元。\n二、付款\n1. 一次付清。\n"
    )

    assert [clause.title for clause in articles] == ["第一条 借款金额", "第二条 借款期限"]
    assert [(clause.title, clause.parent) for clause in sections] == [
        ("一、标的", None),
        ("1", 0),
        ("2", 0),
        ("二、付款", None),
        ("1", 3),
    ]


def test_lines_starting_with_years_or_amounts_are_not_headings():
    clauses = segment_clauses("第一条 期限\n2024年1月1日起生效。\n500,000 yuan is payable.\n")

    assert [clause.title for clause in clauses] == ["第一条 期限"]


def test_every_planted_risk_in_the_english_contract_is_found_with_its_sentence():
    document = load_document("sales_contract_en_risky.txt")

    result = review_contract(document)

    assert _quotes(result, "unilateral_termination") == [
        "Seller may terminate this Agreement at any time for any reason by written notice to Buyer."
    ]
    assert _quotes(result, "automatic_renewal") == [
        (
            "This Agreement has an initial term of one (1) year and shall automatically renew for "
            "successive one-year terms."
        )
    ]
    assert _quotes(result, "excessive_liquidated_damages") == [
        (
            "If Buyer cancels any order, Buyer shall pay Seller liquidated damages equal to 50% of "
            "the total contract price."
        )
    ]
    assert _quotes(result, "unlimited_liability") == [
        (
            "Buyer shall be liable for all losses whatsoever suffered by Seller in connection with "
            "this Agreement."
        )
    ]
    assert _quotes(result, "vague_payment_terms") == [
        "The balance shall be paid as soon as possible after delivery of the Goods."
    ]
    assert {"missing_governing_law", "missing_dispute_resolution"} <= set(_by_rule(result))
    assert result["summary"] == {"high": 3, "medium": 4, "low": 0, "total": 7}


def test_findings_cite_exact_spans_and_name_their_clause():
    document = load_document("sales_contract_en_risky.txt")

    result = review_contract(document)

    for finding in result["findings"]:
        citation = finding["citation"]
        if citation is None:
            continue
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        assert citation["document_id"] == "sales_contract_en_risky.txt"
    termination = _by_rule(result)["unilateral_termination"][0]
    assert termination["clause_title"] == "Article 4 Term and Termination › 4.2"
    assert termination["severity"] == "high"
    assert "Either party may terminate" in termination["suggestion"]


def test_absence_findings_cite_nothing_and_say_what_is_missing():
    result = review_contract(load_document("sales_contract_en_risky.txt"))

    missing = _by_rule(result)["missing_governing_law"][0]

    assert missing["citation"] is None
    assert missing["clause_title"] is None
    assert missing["title"] == "No governing-law clause"
    assert "governed by" in missing["suggestion"]


def test_findings_are_ordered_by_severity_then_position():
    result = review_contract(load_document("sales_contract_en_risky.txt"))

    severities = [finding["severity"] for finding in result["findings"]]

    assert severities == ["high", "high", "high", "medium", "medium", "medium", "medium"]
    high_starts = [finding["citation"]["start"] for finding in result["findings"][:3]]
    assert high_starts == sorted(high_starts)


def test_every_planted_risk_in_the_chinese_contract_is_found_with_its_sentence():
    result = review_contract(load_document("买卖合同_风险.txt"))

    assert _quotes(result, "unilateral_termination") == [
        "甲方有权随时单方解除本合同，且无需承担任何责任。"
    ]
    assert _quotes(result, "automatic_renewal") == ["本合同有效期为一年，期满后自动续期一年。"]
    assert _quotes(result, "excessive_liquidated_damages") == [
        "乙方违约的，应向甲方支付违约金人民币伍拾万元整。"
    ]
    assert _quotes(result, "unlimited_liability") == ["乙方应承担甲方因本合同遭受的一切损失。"]
    assert _quotes(result, "vague_payment_terms") == ["剩余款项的支付时间由双方另行协商。"]
    assert {"missing_governing_law", "missing_dispute_resolution"} <= set(_by_rule(result))
    assert result["language"] == "zh"
    damages = _by_rule(result)["excessive_liquidated_damages"][0]
    assert "50%" in damages["explanation"]
    assert damages["clause_title"] == "五、违约责任 › 1"


def test_clean_contracts_produce_no_findings():
    english = review_contract(load_document("services_agreement_en_clean.txt"))
    chinese = review_contract(load_document("loan_case/01_借款合同.txt"))

    assert english["findings"] == []
    assert chinese["findings"] == []


@pytest.mark.parametrize(
    "sentence",
    [
        "Each party's aggregate liability shall not exceed the fees paid under this Agreement.",
        "If Buyer fails to pay, Seller may terminate this Agreement at any time by notice.",
        "Either party may terminate this Agreement at any time on 30 days' notice.",
        "Seller shall pay liquidated damages of 0.1% of the price for each day of delay.",
        "Buyer shall pay a deposit of 30% of the total contract price.",
        "Payment is due within 30 days after receipt of invoice.",
    ],
)
def test_balanced_english_wording_is_not_flagged(sentence):
    text = (
        "1. Scope\nThe total contract price is USD 100,000.\n"
        f"2. Terms\n{sentence}\n"
        "3. Law\nThis Agreement is governed by the laws of England. Disputes go to arbitration.\n"
    )

    assert review_contract(_document(text))["findings"] == []


@pytest.mark.parametrize(
    "sentence",
    [
        "违约方的赔偿责任以本合同总价款为限。",
        "乙方逾期付款超过三十日的，甲方有权解除本合同。",
        "任何一方均有权提前三十日书面通知对方随时解除本合同。",
        "甲方逾期交货的，每日按合同总价款的万分之三支付违约金。",
        "任何一方违约的，应支付合同总价款百分之二十的违约金。",
        "乙方应于2024年5月1日前付清全部货款。",
    ],
)
def test_balanced_chinese_wording_is_not_flagged(sentence):
    text = (
        "第一条 价款\n合同总价款为人民币壹佰万元整。\n"
        f"第二条 约定\n{sentence}\n"
        "第三条 争议解决\n本合同适用中华人民共和国法律，争议提交上海仲裁委员会仲裁。\n"
    )

    assert review_contract(_document(text))["findings"] == []


def test_lump_sum_damages_are_compared_to_the_given_contract_amount():
    text = (
        "1. Penalty\nBuyer shall pay liquidated damages of USD 40,000.\n"
        "2. Law\nGoverned by the laws of England; disputes go to arbitration in London.\n"
    )

    above = review_contract(_document(text), contract_amount=100_000)
    below = review_contract(_document(text), contract_amount=Decimal(200000))

    assert [finding["rule"] for finding in above["findings"]] == ["excessive_liquidated_damages"]
    assert "40%" in above["findings"][0]["explanation"]
    assert below["findings"] == []


def test_automatic_renewal_with_notice_to_opt_out_is_low_severity():
    text = (
        "第一条 期限\n本合同期满后自动续约一年，但任何一方可于届满前三十日书面通知对方不再续约。\n"
        "第二条 争议\n本合同适用中华人民共和国法律，争议由被告住所地人民法院诉讼管辖。\n"
    )

    result = review_contract(_document(text))

    assert [(finding["rule"], finding["severity"]) for finding in result["findings"]] == [
        ("automatic_renewal", "low")
    ]


def test_progress_is_reported_per_rule_and_the_result_is_json_serialisable():
    steps: list[tuple[str, float]] = []

    result = review_contract(
        load_document("买卖合同_风险.txt"),
        on_step=lambda name, fraction: steps.append((name, fraction)),
    )

    assert steps[0] == ("governing_law", 0.0)
    assert steps[-1] == ("done", 1.0)
    assert len(steps) == 8
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_a_document_without_text_is_rejected_with_the_missing_key():
    with pytest.raises(ValueError, match="'text'"):
        review_contract({"id": 1, "title": "no text"})


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("Supplier shall bear unlimited liability for any breach.", "unlimited_liability"),
        ("乙方应对此承担全部责任。", "unlimited_liability"),
        ("Supplier may terminate this Agreement for convenience.", "unilateral_termination"),
        ("出租方可以随时解除本合同。", "unilateral_termination"),
        ("This Agreement shall be automatically renewed for another year.", "automatic_renewal"),
        ("合同期满自动续约。", "automatic_renewal"),
        ("违约方应支付合同总价款百分之五十的违约金。", "excessive_liquidated_damages"),
        ("The fees shall be paid in due course.", "vague_payment_terms"),
        ("交货时间另行协商确定。", "vague_payment_terms"),
    ],
)
def test_risky_variants_are_flagged(sentence, rule):
    text = (
        "1. Price\nThe total contract price is USD 100,000. 合同总价款为人民币壹佰万元整。\n"
        f"2. Terms\n{sentence}\n"
        "3. Law\nGoverned by the laws of England; disputes go to arbitration in London.\n"
    )

    assert [finding["rule"] for finding in review_contract(_document(text))["findings"]] == [rule]
