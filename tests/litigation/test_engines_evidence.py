"""Evidence analysis: classification with its features, what documents prove, the map, gaps."""

from __future__ import annotations

import pytest

from litigation.engines.evidence import (
    build_evidence_map,
    checklist_completeness,
    classify_document,
    evidence_gaps,
    facts_proven,
    keyword_pattern,
)
from litigation.engines.facts import extract_facts
from litigation.engines.packages import load_package
from tests.fixtures.litigation import load_document, load_loan_case


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("loan_case/01_借款合同.txt", "contract"),
        ("loan_case/02_银行转账记录.txt", "bank_record"),
        ("loan_case/03_微信聊天记录.txt", "chat_record"),
        ("loan_case/04_借条.txt", "receipt_iou"),
        ("sales_contract_en_risky.txt", "contract"),
        ("services_agreement_en_clean.txt", "contract"),
    ],
)
def test_fixture_documents_are_classified_as_their_kind(path, kind):
    assert classify_document(load_document(path))["kind"] == kind


def test_classification_explains_the_features_it_matched_with_citations():
    document = load_document("loan_case/04_借条.txt")

    result = classify_document(document)

    assert result["score"] == 6
    assert result["confidence"] == 1.0
    assert [(feature["feature"], feature["matched"]) for feature in result["features"]] == [
        ("title names an IOU or receipt", "借条"),
        ("IOU wording", "今借到"),
    ]
    assert result["features"][0]["citation"] is None
    assert result["features"][1]["citation"]["quote"] == "今借到"


def test_documents_with_too_few_features_are_other():
    result = classify_document({"id": 9, "title": "notes", "text": "Lunch with the team."})

    assert result["kind"] == "other"
    assert result["features"] == []


@pytest.mark.parametrize(
    ("title", "text", "kind"),
    [
        (
            "增值税专用发票",
            "发票代码：3100231130 发票号码：08812345 价税合计：¥11,300.00",
            "invoice",
        ),
        (
            "居民身份证",
            "姓名：李强 公民身份号码：110108198507226617 签发机关：北京市公安局",
            "id_document",
        ),
        (
            "民事判决书",
            "北京市朝阳区人民法院（2023）京0105民初1234号 本院认为，……判决如下：",
            "judgment",
        ),
        ("律师函", "李强先生：\n敬启者，受张伟委托，特函告如下。\n此致", "correspondence"),
    ],
)
def test_other_kinds_of_evidence_are_recognised(title, text, kind):
    assert classify_document({"id": 1, "title": title, "text": text})["kind"] == kind


def test_facts_proven_by_an_iou_and_a_chat_record_cite_their_sentences():
    iou = load_document("loan_case/04_借条.txt")
    chat = load_document("loan_case/03_微信聊天记录.txt")

    iou_facts = facts_proven("receipt_iou", extract_facts(iou))
    chat_facts = facts_proven("chat_record", extract_facts(chat))

    assert [fact["fact"] for fact in iou_facts] == [
        "借款或欠款的事实与金额 / The debt and its amount",
        "还款期限 / The repayment date",
        "出具人 / Who signed it",
    ]
    assert iou_facts[0]["citations"][0]["quote"].startswith("今借到张伟人民币伍拾万元整")
    assert [fact["fact"] for fact in chat_facts] == [
        "催告还款 / Demands for payment",
        "对债务的承认 / Acknowledgment of the debt",
        "部分还款 / Part payment",
    ]
    assert [citation["quote"].split()[-1] for citation in chat_facts[1]["citations"]] == [
        "年后一定还，欠你的钱不会赖账。"
    ]


def test_evidence_map_links_each_element_to_the_right_documents_best_first():
    evidence_map = build_evidence_map(load_loan_case(), load_package("loan_dispute_default"))

    by_key = {element["key"]: element for element in evidence_map}
    supporters = {
        key: [support["document_id"] for support in element["supports"]]
        for key, element in by_key.items()
    }
    assert supporters["loan_agreement"] == ["loan_case/01_借款合同.txt", "loan_case/04_借条.txt"]
    assert supporters["fund_delivery"][0] == "loan_case/02_银行转账记录.txt"
    assert supporters["demand_and_default"] == ["loan_case/03_微信聊天记录.txt"]
    assert supporters["guarantee"] == []
    assert [element["status"] for element in evidence_map] == [
        "supported",
        "supported",
        "supported",
        "supported",
        "supported",
        "missing",
    ]


def test_support_scores_are_keyword_hits_plus_the_kind_bonus_with_cited_spans():
    document = load_document("loan_case/02_银行转账记录.txt")
    evidence_map = build_evidence_map([document], load_package("loan_dispute_default"))

    support = evidence_map[1]["supports"][0]

    assert support["matched_keywords"] == ["交易金额", "转账", "转账支出"]
    assert (support["keyword_hits"], support["kind_bonus"], support["score"]) == (3, 2, 5)
    assert support["explanation"] == "3 keyword(s) × 1 + 2 (bank_record is expected evidence) = 5"
    for citation in support["citations"]:
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_missing_elements_are_gaps_when_evidence_is_thin():
    chat_only = [load_document("loan_case/03_微信聊天记录.txt")]
    evidence_map = build_evidence_map(chat_only, load_package("loan_dispute_default"))

    gaps = evidence_gaps(evidence_map)

    assert [(gap["element"], gap["status"]) for gap in gaps] == [
        ("loan_agreement", "missing"),
        ("fund_delivery", "missing"),
        ("repayment_due", "weak"),
        ("interest_agreement", "missing"),
        ("guarantee", "missing"),
    ]
    assert gaps[1]["suggested_evidence"] == [
        "银行流水 / Bank record",
        "借条欠条收据 / Receipt or IOU",
    ]


def test_checklist_completeness_counts_required_items_separately():
    classifications = [classify_document(document) for document in load_loan_case()]

    checklist = checklist_completeness(
        classifications, load_package("loan_dispute_default")["evidence_checklist"]
    )

    assert [(item["kind"], item["present"]) for item in checklist["items"]] == [
        ("contract", True),
        ("receipt_iou", True),
        ("bank_record", True),
        ("chat_record", True),
        ("correspondence", False),
        ("id_document", False),
    ]
    assert checklist["completeness"] == 0.67
    assert checklist["required_completeness"] == 0.67
    assert checklist["missing_required"] == ["双方身份证明 / Identity documents of the parties"]


def test_latin_keywords_match_whole_words_only():
    assert keyword_pattern("due").search("The balance is due now.")
    assert not keyword_pattern("due").search("Residue and undue delay.")
    assert keyword_pattern("转账").search("2022-03-01 转账支出")
