"""Timeline: the dated events of a whole case, in date order, each event once.

The same event is often reported by several documents — the due date in the contract and in
the IOU, a repayment in the bank statement and in the chat — so events on the same day that
say the same thing are merged into one entry that keeps every citation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from litigation.engines.contract_review import largest_money_in

_NOISE = re.compile(r"[\s:：，,。.;；!?！？|()（）\-/]+")


def build_timeline(facts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the events of every document's facts ordered by date, duplicates merged.

    ``facts`` are results of ``facts.extract_facts``. Events on the same date keep the order
    of their documents and of their place in the text (the sort is stable). Each entry is
    ``{date, description, kinds, document_id, citation, citations, document_ids}``; the first
    report of an event supplies its description and main citation, ``citations`` lists all.
    """
    events = [event for document_facts in facts for event in document_facts["events"]]
    entries: list[dict[str, Any]] = []
    for event in sorted(events, key=lambda event: event["date"]):
        same = next((entry for entry in entries if same_event(entry, event)), None)
        if same is None:
            entries.append(_entry(event))
        else:
            _merge(same, event)
    return entries


def same_event(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Return True if two events on one date report the same happening.

    They do when their descriptions match once spacing and punctuation are set aside, or
    when they are of the same non-empty kinds and do not name different amounts.
    """
    if first["date"] != second["date"]:
        return False
    if _normalised(first["description"]) == _normalised(second["description"]):
        return True
    if not first["kinds"] or set(first["kinds"]) != set(second["kinds"]):
        return False
    first_amount, second_amount = _amount(first), _amount(second)
    return first_amount is None or second_amount is None or first_amount == second_amount


def _entry(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "date": event["date"],
        "description": event["description"],
        "kinds": list(event["kinds"]),
        "document_id": event["document_id"],
        "citation": event["citation"],
        "citations": [event["citation"]],
        "document_ids": [event["document_id"]],
    }


def _merge(entry: dict[str, Any], event: Mapping[str, Any]) -> None:
    if event["citation"] not in entry["citations"]:
        entry["citations"].append(event["citation"])
    if event["document_id"] not in entry["document_ids"]:
        entry["document_ids"].append(event["document_id"])


def _normalised(description: str) -> str:
    return _NOISE.sub("", description).lower()


def _amount(event: Mapping[str, Any]) -> Decimal | None:
    quote = event["citation"]["quote"]
    return largest_money_in(quote)


def events_of_kind(
    timeline: Sequence[Mapping[str, Any]], kinds: Iterable[str]
) -> list[Mapping[str, Any]]:
    """Return the timeline entries having any of ``kinds``, in timeline order."""
    wanted = set(kinds)
    return [entry for entry in timeline if wanted.intersection(entry["kinds"])]
