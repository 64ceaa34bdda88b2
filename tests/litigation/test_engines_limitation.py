"""Limitation check: the status and dates for a given today, with the events it rests on."""

from __future__ import annotations

from datetime import date

import pytest

from litigation.engines.facts import extract_facts
from litigation.engines.limitation import check_limitation, period_end
from litigation.engines.timeline import build_timeline
from tests.fixtures.litigation import load_loan_case

THREE_YEARS = 1095


def _loan_timeline() -> list[dict]:
    return build_timeline(extract_facts(document) for document in load_loan_case())


def _entry(day: str, kinds: list[str]) -> dict:
    quote = f"event on {day}"
    citation = {"document_id": "d", "start": 0, "end": len(quote), "quote": quote}
    return {"date": day, "kinds": kinds, "citation": citation}


@pytest.mark.parametrize(
    ("today", "status", "days_remaining"),
    [
        (date(2025, 6, 1), "within", 588),
        (date(2026, 11, 22), "expiring_soon", 49),
        (date(2027, 1, 10), "expiring_soon", 0),
        (date(2027, 1, 11), "expired", -1),
    ],
)
def test_loan_case_runs_three_years_from_the_last_demand(today, status, days_remaining):
    result = check_limitation(_loan_timeline(), period_days=THREE_YEARS, today=today)

    assert result["status"] == status
    assert result["start_date"] == "2024-01-10"
    assert result["expiry_date"] == "2027-01-10"
    assert result["days_remaining"] == days_remaining
    assert result["reasons"][0]["citation"]["quote"].endswith("剩下的45万什么时候还？")


def test_events_after_today_do_not_count():
    result = check_limitation(_loan_timeline(), period_days=THREE_YEARS, today=date(2023, 4, 1))

    assert result["start_date"] == "2023-03-05"
    assert result["expiry_date"] == "2026-03-05"
    assert result["status"] == "within"


def test_a_due_date_still_to_come_means_the_period_has_not_begun():
    result = check_limitation(
        [_entry("2025-12-31", ["due"])], period_days=365, today=date(2025, 6, 1)
    )

    assert result["status"] == "within"
    assert result["start_date"] == "2025-12-31"
    assert result["expiry_date"] == "2026-12-31"
    assert result["days_remaining"] == 578


def test_without_relevant_events_the_status_is_unknown():
    result = check_limitation(
        [_entry("2024-01-01", ["signing"])], period_days=THREE_YEARS, today=date(2025, 1, 1)
    )

    assert result["status"] == "unknown"
    assert result["start_date"] is None
    assert result["days_remaining"] is None
    assert result["reasons"][0]["citation"] is None


def test_relevant_kinds_are_configurable():
    timeline = [_entry("2020-01-01", ["due"]), _entry("2023-06-01", ["breach"])]

    default = check_limitation(timeline, period_days=365, today=date(2023, 7, 1))
    with_breach = check_limitation(
        timeline, period_days=365, today=date(2023, 7, 1), relevant_kinds=["due", "breach"]
    )

    assert default["status"] == "expired"
    assert with_breach["status"] == "within"
    assert with_breach["expiry_date"] == "2024-06-01"


def test_year_periods_end_on_the_corresponding_day_and_others_count_days():
    assert period_end(date(2024, 2, 29), 365) == date(2025, 2, 28)
    assert period_end(date(2024, 1, 10), 1095) == date(2027, 1, 10)
    assert period_end(date(2024, 1, 10), 180) == date(2024, 7, 8)


def test_a_non_positive_period_is_refused():
    with pytest.raises(ValueError, match="period_days"):
        check_limitation([], period_days=0, today=date(2024, 1, 1))
