"""Limitation-period check: is there still time to sue, and how much?

The period runs from the latest relevant event of the case — the repayment date falling due,
a part payment, a demand, an acknowledgment of the debt — because under PRC law a demand,
an acknowledgment or a part payment interrupts the period and starts it afresh (《民法典》
第一百九十五条). "Today" is always passed in: the engine never reads the clock, so the same
case gives the same answer in a test, a retry or a report re-rendered next year.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

WITHIN, EXPIRING_SOON, EXPIRED, UNKNOWN = "within", "expiring_soon", "expired", "unknown"
STATUSES = (WITHIN, EXPIRING_SOON, EXPIRED, UNKNOWN)
DEFAULT_RELEVANT_KINDS = ("due", "payment", "demand", "acknowledgment")
DEFAULT_EXPIRING_WITHIN_DAYS = 90
DAYS_PER_YEAR = 365


def check_limitation(
    timeline: Sequence[Mapping[str, Any]],
    *,
    period_days: int,
    today: date,
    basis: str = "",
    relevant_kinds: Iterable[str] = DEFAULT_RELEVANT_KINDS,
    expiring_within_days: int = DEFAULT_EXPIRING_WITHIN_DAYS,
) -> dict[str, Any]:
    """Return the limitation status of a case from its timeline.

    ``timeline`` entries are ``timeline.build_timeline`` results (``date``, ``kinds``,
    ``citation``). The start is the latest event on or before ``today`` whose kinds are
    relevant; a due date still in the future means the period has not begun. Result:
    ``{status, period_days, basis, today, start_date, start_event, expiry_date,
    days_remaining, reasons}``; each reason is ``{text, citation}``.
    """
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    wanted = set(relevant_kinds)
    relevant = [entry for entry in timeline if wanted.intersection(entry["kinds"])]
    past = [entry for entry in relevant if date.fromisoformat(entry["date"]) <= today]
    future_due = [
        entry
        for entry in relevant
        if "due" in entry["kinds"] and date.fromisoformat(entry["date"]) > today
    ]
    result: dict[str, Any] = {
        "status": UNKNOWN,
        "period_days": period_days,
        "basis": basis,
        "today": today.isoformat(),
        "start_date": None,
        "start_event": None,
        "expiry_date": None,
        "days_remaining": None,
        "reasons": [],
    }
    if future_due and not past:
        return {**result, **_not_started(future_due[0], period_days, today)}
    if not past:
        result["reasons"].append(
            {
                "text": "未找到还款期限、付款、催告或承认债务等可确定时效起算的日期。 / "
                "No due date, payment, demand or acknowledgment was found to start the period.",
                "citation": None,
            }
        )
        return result
    start = max(past, key=lambda entry: entry["date"])
    return {**result, **_running(start, past, period_days, today, expiring_within_days)}


def period_end(start: date, period_days: int) -> date:
    """Return the last day of a period of ``period_days`` starting the day after ``start``.

    A period of whole years ends on the same month and day ``period_days / 365`` years
    later (the last day of the month when that day does not exist, e.g. 29 February), as
    《民法典》第二百零一、二百零二条 count periods; other periods count days. Holidays
    that push the last day forward (第二百零三条) are not known to the engine.
    """
    if period_days % DAYS_PER_YEAR == 0:
        year = start.year + period_days // DAYS_PER_YEAR
        day = min(start.day, calendar.monthrange(year, start.month)[1])
        return date(year, start.month, day)
    return start + timedelta(days=period_days)


def _running(
    start: Mapping[str, Any],
    relevant: Sequence[Mapping[str, Any]],
    period_days: int,
    today: date,
    expiring_within_days: int,
) -> dict[str, Any]:
    start_date = date.fromisoformat(start["date"])
    expiry = period_end(start_date, period_days)
    remaining = (expiry - today).days
    if remaining < 0:
        status = EXPIRED
    elif remaining <= expiring_within_days:
        status = EXPIRING_SOON
    else:
        status = WITHIN
    kinds_zh, kinds_en = "、".join(start["kinds"]), ", ".join(start["kinds"])
    reasons = [
        {
            "text": f"时效自最后一次相关事件（{kinds_zh}，{start['date']}）起算。 / "
            f"The period runs from the latest relevant event ({kinds_en}) on {start['date']}.",
            "citation": start["citation"],
        },
        *(
            {
                "text": f"较早的相关事件（{entry['date']}）已被其后的事件中断或吸收。 / "
                f"An earlier event on {entry['date']} is superseded by later ones.",
                "citation": entry["citation"],
            }
            for entry in relevant
            if entry is not start
        ),
        {
            "text": _status_text(status, expiry, remaining),
            "citation": None,
        },
    ]
    return {
        "status": status,
        "start_date": start["date"],
        "start_event": dict(start),
        "expiry_date": expiry.isoformat(),
        "days_remaining": remaining,
        "reasons": reasons,
    }


def _not_started(due: Mapping[str, Any], period_days: int, today: date) -> dict[str, Any]:
    due_date = date.fromisoformat(due["date"])
    expiry = period_end(due_date, period_days)
    return {
        "status": WITHIN,
        "start_date": due["date"],
        "start_event": dict(due),
        "expiry_date": expiry.isoformat(),
        "days_remaining": (expiry - today).days,
        "reasons": [
            {
                "text": f"履行期限（{due['date']}）尚未届满，时效尚未开始计算。 / "
                f"The due date {due['date']} has not yet come, so the period has not begun.",
                "citation": due["citation"],
            }
        ],
    }


def _status_text(status: str, expiry: date, remaining: int) -> str:
    if status == EXPIRED:
        return (
            f"时效已于{expiry.isoformat()}届满（已过{-remaining}日）。 / "
            f"The period ended on {expiry.isoformat()}, {-remaining} days ago."
        )
    if status == EXPIRING_SOON:
        return (
            f"时效将于{expiry.isoformat()}届满，仅剩{remaining}日。 / "
            f"The period ends on {expiry.isoformat()}, in only {remaining} days."
        )
    return (
        f"时效至{expiry.isoformat()}届满，尚余{remaining}日。 / "
        f"The period ends on {expiry.isoformat()}, {remaining} days from now."
    )
