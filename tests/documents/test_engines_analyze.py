"""Tests for documents.engines.analyze: language, counts, key terms and entities."""

import json

import pytest

from documents.engines.analyze import analyze_text, detect_language

LOAN = (
    "借款合同\n"
    "甲方：北京某某科技有限公司\n"
    "乙方：张三\n"
    "甲方于2024年3月1日向乙方出借人民币壹拾万元整（¥100,000.00）。乙方应于2025年2月28日前归还借款。\n"
    "逾期归还借款的，乙方应支付违约金。借款合同争议由甲方所在地人民法院管辖。"
)


def test_analysis_of_a_chinese_contract_is_exact_and_json_safe():
    result = analyze_text(LOAN, top_terms=5)
    assert result == {
        "language": "zh",
        "counts": {
            "characters": 121,
            "cjk_characters": 84,
            "words": 41,
            "sentences": 7,
            "paragraphs": 5,
        },
        "key_terms": [
            {"term": "乙方", "count": 4},
            {"term": "甲方", "count": 3},
            {"term": "借款", "count": 2},
            {"term": "借款合同", "count": 2},
            {"term": "归还", "count": 2},
        ],
        "dates": [
            {"text": "2024年3月1日", "start": 28, "end": 37, "value": "2024-03-01"},
            {"text": "2025年2月28日", "start": 68, "end": 78, "value": "2025-02-28"},
        ],
        "money": [
            {
                "text": "人民币壹拾万元整",
                "start": 42,
                "end": 50,
                "value": "100000",
                "currency": "CNY",
            },
            {
                "text": "¥100,000.00",
                "start": 51,
                "end": 62,
                "value": "100000.00",
                "currency": "CNY",
            },
        ],
        "parties": [
            {
                "text": "北京某某科技有限公司",
                "start": 8,
                "end": 18,
                "value": "北京某某科技有限公司",
                "role": "party_a",
                "label": "甲方",
            },
            {
                "text": "张三",
                "start": 22,
                "end": 24,
                "value": "张三",
                "role": "party_b",
                "label": "乙方",
            },
        ],
        "case_numbers": [],
    }
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_english_counts_and_key_terms_skip_stop_words():
    text = "The Borrower shall repay the Loan. The Loan bears interest! Is it due?\n\nYes."
    result = analyze_text(text, top_terms=3)
    assert result["language"] == "en"
    assert result["counts"] == {
        "characters": 76,
        "cjk_characters": 0,
        "words": 14,
        "sentences": 4,
        "paragraphs": 2,
    }
    assert result["key_terms"] == [
        {"term": "loan", "count": 2},
        {"term": "bears", "count": 1},
        {"term": "borrower", "count": 1},
    ]


def test_case_numbers_are_reported():
    result = analyze_text("本案案号为（2023）京01民初123号。")
    assert result["case_numbers"] == [
        {
            "text": "（2023）京01民初123号",
            "start": 5,
            "end": 20,
            "value": "（2023）京01民初123号",
            "year": 2023,
        }
    ]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("借款合同由甲乙双方签订。", "zh"),
        ("本合同由 Acme Corporation 与北京某某科技有限公司签订，双方约定如下。", "zh"),
        ("This loan agreement is signed by both parties.", "en"),
        ("This Agreement 借款合同 is signed 由双方签订 by both parties", "mixed"),
        ("2024-03-01 ¥100", "unknown"),
        ("", "unknown"),
    ],
)
def test_detect_language_by_chinese_share(text, language):
    assert detect_language(text) == language


def test_empty_text_analyses_to_zeros():
    assert analyze_text("") == {
        "language": "unknown",
        "counts": {
            "characters": 0,
            "cjk_characters": 0,
            "words": 0,
            "sentences": 0,
            "paragraphs": 0,
        },
        "key_terms": [],
        "dates": [],
        "money": [],
        "parties": [],
        "case_numbers": [],
    }
