"""Timeline: dated events across documents, in order, each event once."""

from __future__ import annotations

from litigation.engines.facts import extract_facts
from litigation.engines.timeline import build_timeline, events_of_kind, same_event
from tests.fixtures.litigation import load_loan_case


def _event(date: str, description: str, kinds: list[str], document_id: str = "d") -> dict:
    quote = description
    return {
        "date": date,
        "description": description,
        "kinds": kinds,
        "document_id": document_id,
        "citation": {"document_id": document_id, "start": 0, "end": len(quote), "quote": quote},
    }


def test_loan_case_timeline_lists_dated_events_in_order_with_duplicates_merged():
    timeline = build_timeline(extract_facts(document) for document in load_loan_case())

    assert [(entry["date"], entry["kinds"], entry["document_ids"]) for entry in timeline] == [
        ("2022-02-25", ["signing"], ["loan_case/01_借款合同.txt"]),
        ("2022-03-01", [], ["loan_case/01_借款合同.txt"]),
        ("2022-03-01", ["payment"], ["loan_case/01_借款合同.txt", "loan_case/02_银行转账记录.txt"]),
        ("2022-03-01", ["signing"], ["loan_case/04_借条.txt"]),
        ("2023-02-28", ["due"], ["loan_case/01_借款合同.txt", "loan_case/04_借条.txt"]),
        ("2023-03-05", ["demand"], ["loan_case/03_微信聊天记录.txt"]),
        ("2023-03-05", [], ["loan_case/03_微信聊天记录.txt"]),
        (
            "2023-06-15",
            ["payment"],
            ["loan_case/02_银行转账记录.txt", "loan_case/03_微信聊天记录.txt"],
        ),
        ("2024-01-10", ["demand"], ["loan_case/03_微信聊天记录.txt"]),
        ("2024-01-10", ["acknowledgment"], ["loan_case/03_微信聊天记录.txt"]),
    ]
    due = timeline[4]
    assert [citation["quote"] for citation in due["citations"]] == [
        "借款期限自2022年3月1日起至2023年2月28日止，共计十二个月。",
        "乙方应于2023年2月28日前一次性归还全部借款本金及利息。",
        "今借到张伟人民币伍拾万元整（¥500,000.00），借款期限一年，年利率6%，于2023年2月28日前归还本金及利息。",
    ]


def test_events_on_one_date_keep_document_order():
    facts = [
        {"events": [_event("2024-05-01", "Second document event", ["delivery"], "b")]},
        {"events": [_event("2024-05-01", "Goods were shipped", ["payment"], "a")]},
        {"events": [_event("2024-01-01", "Earlier", [], "c")]},
    ]

    timeline = build_timeline(facts)

    assert [entry["document_id"] for entry in timeline] == ["c", "b", "a"]


def test_payments_of_different_amounts_on_one_day_stay_apart():
    first = _event("2024-05-01", "Paid USD 1,000 to Seller.", ["payment"])
    second = _event("2024-05-01", "Paid USD 2,000 to Seller.", ["payment"])
    repeat = _event("2024-05-01", "Paid  USD 1,000 to Seller .", ["payment"], "other")

    assert not same_event(first, second)
    assert same_event(first, repeat)
    assert len(build_timeline([{"events": [first, second, repeat]}])) == 2


def test_events_without_kinds_merge_only_on_the_same_wording():
    assert not same_event(_event("2024-05-01", "Meeting", []), _event("2024-05-01", "Call", []))
    assert same_event(_event("2024-05-01", "Meeting.", []), _event("2024-05-01", "meeting", []))


def test_events_of_kind_filters_in_timeline_order():
    timeline = build_timeline(extract_facts(document) for document in load_loan_case())

    assert [entry["date"] for entry in events_of_kind(timeline, ["demand", "acknowledgment"])] == [
        "2023-03-05",
        "2024-01-10",
        "2024-01-10",
    ]
