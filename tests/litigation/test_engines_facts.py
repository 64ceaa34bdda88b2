"""Fact extraction: parties, dated events, amounts and key terms, each with its citation."""

from __future__ import annotations

from litigation.engines.facts import event_kinds, extract_facts
from tests.fixtures.litigation import load_document


def _quote(fact: dict) -> str:
    return fact["citation"]["quote"]


def test_parties_are_listed_once_per_role_with_their_label():
    facts = extract_facts(load_document("loan_case/01_借款合同.txt"))

    assert [(party["name"], party["role"], party["label"]) for party in facts["parties"]] == [
        ("张伟", "lender", "出借人"),
        ("李强", "borrower", "借款人"),
        ("张伟", "party_a", "甲方"),
        ("李强", "party_b", "乙方"),
    ]
    assert _quote(facts["parties"][0]) == "张伟"


def test_every_date_becomes_an_event_described_by_its_sentence():
    document = load_document("loan_case/01_借款合同.txt")

    events = extract_facts(document)["events"]

    assert [(event["date"], event["kinds"]) for event in events] == [
        ("2022-03-01", []),
        ("2023-02-28", ["due"]),
        ("2022-03-01", ["payment"]),
        ("2023-02-28", ["due"]),
        ("2022-02-25", ["signing"]),
    ]
    assert events[3]["description"] == "乙方应于2023年2月28日前一次性归还全部借款本金及利息。"
    for event in events:
        citation = event["citation"]
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_chat_headers_take_the_message_that_follows_as_the_event():
    events = extract_facts(load_document("loan_case/03_微信聊天记录.txt"))["events"]

    assert [(event["date"], event["kinds"]) for event in events] == [
        ("2023-03-05", ["demand"]),
        ("2023-03-05", []),
        ("2023-06-15", ["payment"]),
        ("2024-01-10", ["demand"]),
        ("2024-01-10", ["acknowledgment"]),
    ]
    assert (
        events[0]["description"] == "张伟 2023-03-05 10:21 强子，借的50万已经到期了，什么时候还钱？"
    )


def test_a_bare_date_closing_a_document_is_its_signing_date():
    events = extract_facts(load_document("loan_case/04_借条.txt"))["events"]

    assert events[-1]["date"] == "2022-03-01"
    assert events[-1]["kinds"] == ["signing"]
    assert events[-1]["description"] == "04_借条（落款日期 2022年3月1日）"
    assert _quote(events[-1]) == "2022年3月1日"


def test_statement_periods_of_bank_records_are_not_events():
    events = extract_facts(load_document("loan_case/02_银行转账记录.txt"))["events"]

    assert [(event["date"], event["kinds"]) for event in events] == [
        ("2022-03-01", ["payment"]),
        ("2023-06-15", ["payment"]),
    ]


def test_english_deadlines_are_due_events():
    events = extract_facts(load_document("sales_contract_en_risky.txt"))["events"]

    assert [(event["date"], event["kinds"]) for event in events] == [
        ("2024-03-03", ["signing"]),
        ("2024-05-31", ["delivery", "due"]),
        ("2024-03-03", ["signing"]),
    ]


def test_amounts_keep_exact_decimal_values_and_cite_their_sentence():
    amounts = extract_facts(load_document("loan_case/04_借条.txt"))["amounts"]

    assert [(amount["value"], amount["currency"], amount["text"]) for amount in amounts] == [
        ("500000", "CNY", "人民币伍拾万元整"),
        ("500000.00", "CNY", "¥500,000.00"),
    ]
    assert _quote(amounts[0]).startswith("今借到张伟人民币伍拾万元整")


def test_key_terms_follow_clause_headings_and_keywords():
    terms = extract_facts(load_document("loan_case/01_借款合同.txt"))["key_terms"]

    assert [(_quote(entry), entry.get("amount")) for entry in terms["price"]] == [
        ("乙方向甲方借款人民币伍拾万元整（¥500,000.00）。", "500000")
    ]
    assert [entry.get("dates") for entry in terms["term"]] == [["2022-03-01", "2023-02-28"]]
    assert "乙方应于2023年2月28日前一次性归还全部借款本金及利息。" in [
        _quote(entry) for entry in terms["payment_schedule"]
    ]


def test_key_terms_come_from_the_given_definitions():
    document = load_document("sales_contract_en_risky.txt")

    terms = extract_facts(
        document, key_terms=[{"key": "renewal", "name": "Renewal", "keywords": ["renew"]}]
    )["key_terms"]

    assert list(terms) == ["renewal"]
    assert _quote(terms["renewal"][0]).endswith(
        "shall automatically renew for successive one-year terms."
    )


def test_event_kinds_read_chinese_and_english():
    assert event_kinds("张伟：剩下的钱什么时候还？") == ["demand"]
    assert event_kinds("Buyer paid USD 20,000 by wire transfer.") == ["payment"]
    assert event_kinds("乙方逾期未还款。") == ["payment", "breach"]
