"""Fact extraction: who the parties are, what happened when, which amounts and terms apply.

Facts are read per document and each one carries the citation it rests on. Dates, money and
parties are recognised by ``documents.engines.entities``; this module decides which
sentences they belong to and what the sentence is about (a payment, a demand, a due date).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from documents.engines.entities import (
    find_dates,
    find_money,
    find_parties,
    parse_chinese_numeral,
)
from litigation.engines.citations import (
    Citation,
    Document,
    as_document,
    sentence_spans,
)

MAX_DESCRIPTION = 200

EVENT_KINDS: dict[str, re.Pattern[str]] = {
    "signing": re.compile(
        r"签订|签署|签约|订立|签字|entered\s+into|signed|executed|made\s+on|dated", re.IGNORECASE
    ),
    "due": re.compile(
        r"到期|届满|(?:之前|前)(?:一次性)?(?:归还|偿还|还清|付清|支付)|还款期限|最迟|"
        r"\bdue\b|no\s+later\s+than|expir|on\s+or\s+before",
        re.IGNORECASE,
    ),
    "payment": re.compile(
        r"转账|汇款|转入|转出|支出|收入|还款|已还|归还了|支付了|付款|交易|还你|"
        r"\bpaid\b|payment|transfer|repaid|remitted|wire",
        re.IGNORECASE,
    ),
    "demand": re.compile(
        r"催|什么时候还|何时还|还钱|要求[^。]{0,10}(?:还款|归还|支付|付款)|律师函|"
        r"demand|reminder|overdue\s+notice|chase|request(?:ed)?\s+(?:repayment|payment)",
        re.IGNORECASE,
    ),
    "acknowledgment": re.compile(
        r"一定还|会还|承认|确认欠|尚欠|还欠|欠你|欠款|acknowledg|admit|will\s+(?:re)?pay",
        re.IGNORECASE,
    ),
    "delivery": re.compile(
        r"交货|交付|发货|送达|签收|验收|deliver|shipped|shipment|received\s+the\s+goods",
        re.IGNORECASE,
    ),
    "breach": re.compile(
        r"逾期|违约|拒绝|未还|未付|未支付|拖欠|default|breach|fail(?:ed|s)?\s+to|refus",
        re.IGNORECASE,
    ),
}

DEFAULT_KEY_TERMS: tuple[dict[str, Any], ...] = (
    {
        "key": "price",
        "name": "价款 / Price",
        "keywords": [
            "合同总价",
            "总价款",
            "合同价款",
            "合同金额",
            "借款金额",
            "借款本金",
            "货款",
            "价格",
            "单价",
            "contract price",
            "total price",
            "purchase price",
            "loan amount",
            "principal",
            "fees",
        ],
    },
    {
        "key": "term",
        "name": "期限 / Term",
        "keywords": ["期限", "有效期", "起至", "合同期", "term of", "valid for", "expire"],
    },
    {
        "key": "payment_schedule",
        "name": "付款安排 / Payment schedule",
        "keywords": [
            "付款",
            "支付",
            "还款",
            "分期",
            "利息",
            "利率",
            "payment",
            "shall pay",
            "instalment",
            "installment",
            "invoice",
            "interest",
        ],
    },
    {
        "key": "delivery",
        "name": "交付 / Delivery",
        "keywords": ["交货", "交付", "发货", "验收", "delivery", "deliver", "shipment"],
    },
)

_TOTAL = re.compile(
    r"合同总价|合同总额|合同总金额|总价款|合同价款|合同金额|借款金额|借款本金|货款总额|总价|"
    r"total\s+contract\s+price|contract\s+price|total\s+price|total\s+amount|purchase\s+price|"
    r"loan\s+amount|principal\s+amount|total\s+fees",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:[%％]|per\s*cent\b|percent\b)", re.IGNORECASE)
_CN_FRACTION = re.compile(r"(百|千|万)分之([零〇一二三四五六七八九十百两]+|\d+(?:\.\d+)?)")
_FRACTION_BASE = {"百": Decimal(1), "千": Decimal("0.1"), "万": Decimal("0.01")}
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")


def extract_facts(
    document: Document | Mapping[str, Any],
    *,
    key_terms: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the facts of one document, every one with its citation.

    ``key_terms`` lists the contract terms to look for as ``{key, name, keywords}``; a
    package provides them, and ``DEFAULT_KEY_TERMS`` (price, term, payment schedule,
    delivery) apply otherwise. The result is ``{document_id, title, parties, events,
    amounts, key_terms}``.
    """
    doc = as_document(document)
    return {
        "document_id": doc.id,
        "title": doc.title,
        "parties": extract_parties(doc),
        "events": extract_events(doc),
        "amounts": extract_amounts(doc),
        "key_terms": extract_key_terms(doc, key_terms or DEFAULT_KEY_TERMS),
    }


def extract_parties(document: Document) -> list[dict[str, Any]]:
    """Return each party once per role: ``{name, role, label, citation}``."""
    seen: set[tuple[str, str]] = set()
    parties = []
    for mention in find_parties(document.text):
        if (mention.value, mention.role) in seen:
            continue
        seen.add((mention.value, mention.role))
        parties.append(
            {
                "name": mention.value,
                "role": mention.role,
                "label": mention.label,
                "citation": Citation.of(document, mention.start, mention.end).to_dict(),
            }
        )
    return parties


def extract_events(document: Document) -> list[dict[str, Any]]:
    """Return one event per date written in the document, in text order.

    The description is the sentence holding the date; a sentence that is only a date and a
    name (a chat header "张伟 2023-03-05 10:21") takes the next sentence as its content.
    ``kinds`` says what the sentence is about (payment, demand, due, ...), which the
    limitation check relies on.
    """
    text = document.text
    sentences = list(sentence_spans(text))
    events = []
    for position, (start, end) in enumerate(sentences):
        dates = find_dates(text[start:end])
        if not dates:
            continue
        span_end = end
        if _is_header_only(text[start:end], dates) and position + 1 < len(sentences):
            span_end = sentences[position + 1][1]
        citation = Citation.of(document, start, span_end)
        for mention in dates:
            events.append(
                {
                    "date": mention.value.isoformat(),
                    "date_text": mention.text,
                    "description": _description(citation.quote),
                    "kinds": event_kinds(citation.quote),
                    "document_id": document.id,
                    "citation": citation.to_dict(),
                }
            )
    return events


def extract_amounts(document: Document) -> list[dict[str, Any]]:
    """Return every amount of money: ``{value, currency, text, citation}`` (cites the sentence).

    ``value`` is a decimal string so no float rounding creeps into an amount.
    """
    amounts = []
    for start, end in sentence_spans(document.text):
        for mention in find_money(document.text[start:end]):
            amounts.append(
                {
                    "value": str(mention.value),
                    "currency": mention.currency,
                    "text": mention.text,
                    "citation": Citation.of(document, start, end).to_dict(),
                }
            )
    return amounts


def extract_key_terms(
    document: Document, key_terms: Iterable[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Return, per key term, the sentences that state it: ``{key: [{quote..., citation}]}``.

    The price term also carries the contract total as ``value`` when one is stated.
    """
    sentences = [
        (start, end, document.text[start:end]) for start, end in sentence_spans(document.text)
    ]
    result: dict[str, list[dict[str, Any]]] = {}
    for term in key_terms:
        keywords = [keyword.lower() for keyword in term["keywords"]]
        result[term["key"]] = [
            _key_term_entry(document, term, start, end, sentence)
            for start, end, sentence in sentences
            if any(keyword in sentence.lower() for keyword in keywords)
        ]
    return result


def event_kinds(sentence: str) -> list[str]:
    """Return the kinds of event ``sentence`` reports, in ``EVENT_KINDS`` order."""
    return [kind for kind, pattern in EVENT_KINDS.items() if pattern.search(sentence)]


def percentages_in(text: str) -> list[Decimal]:
    """Return the percentages written in ``text``: "30%", "百分之三十", "万分之五" (0.05)."""
    values = [Decimal(match.group(1)) for match in _PERCENT.finditer(text)]
    for match in _CN_FRACTION.finditer(text):
        number = match.group(2)
        numerator = (
            Decimal(number) if number[0].isdigit() else Decimal(parse_chinese_numeral(number))
        )
        values.append(numerator * _FRACTION_BASE[match.group(1)])
    return values


def largest_money_in(text: str) -> Decimal | None:
    """Return the largest amount of money in ``text``, or None.

    The largest, because contracts write an amount twice ("叁拾万元（¥300,000）") and a
    clause's headline amount is the one that matters for comparisons.
    """
    amounts = [mention.value for mention in find_money(text)]
    return max(amounts) if amounts else None


def contract_total(text: str) -> Decimal | None:
    """Return the contract amount: the money in the first sentence naming a total or price."""
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        if _TOTAL.search(sentence):
            amount = largest_money_in(sentence)
            if amount is not None:
                return amount
    return None


def _key_term_entry(
    document: Document, term: Mapping[str, Any], start: int, end: int, sentence: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "term": term["key"],
        "name": term.get("name", term["key"]),
        "citation": Citation.of(document, start, end).to_dict(),
    }
    amount = largest_money_in(sentence)
    if amount is not None:
        entry["amount"] = str(amount)
    dates = find_dates(sentence)
    if dates:
        entry["dates"] = [mention.value.isoformat() for mention in dates]
    return entry


def _is_header_only(sentence: str, dates: Sequence[Any]) -> bool:
    """Return True if ``sentence`` holds little beyond its dates, times and a short name."""
    rest = sentence
    for mention in dates:
        rest = rest.replace(mention.text, "")
    rest = _TIME.sub("", rest)
    return len(_CONTENT.findall(rest)) <= 4


def _description(quote: str) -> str:
    one_line = " ".join(quote.split())
    if len(one_line) <= MAX_DESCRIPTION:
        return one_line
    return one_line[: MAX_DESCRIPTION - 1] + "…"
