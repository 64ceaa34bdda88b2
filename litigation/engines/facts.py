"""Fact extraction: who the parties are, what happened when, which amounts and terms apply.

Facts are read per document and each one carries the citation it rests on. Dates, money and
parties are recognised by ``documents.engines.entities``; this module decides which
sentences they belong to and what a sentence is about (a payment, a demand, a due date),
which the timeline and the limitation check build on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from documents.engines.entities import DateMention, find_dates, find_money, find_parties
from litigation.engines.citations import (
    Citation,
    Document,
    as_document,
    is_chinese,
    sentence_spans,
)
from litigation.engines.contract_review import largest_money_in, segment_clauses

MAX_DESCRIPTION = 200
MAX_SENTENCES_PER_TERM_CLAUSE = 3

EVENT_KINDS: dict[str, re.Pattern[str]] = {
    "signing": re.compile(
        r"签订|签署|签约|订立|签字|entered\s+into|signed|executed|made\s+on|dated", re.IGNORECASE
    ),
    "payment": re.compile(
        r"转账|汇款|转入|转出|支出|收入|还款|已还|先还|支付|付款|交易|"
        r"\bpaid\b|payment|transfer|repaid|remitted|wire",
        re.IGNORECASE,
    ),
    "demand": re.compile(
        r"催|什么时候还|何时还|还钱|要求[^。]{0,10}(?:还款|归还|支付|付款)|律师函|"
        r"demand|reminder|overdue\s+notice|request(?:ed)?\s+(?:repayment|payment)",
        re.IGNORECASE,
    ),
    "acknowledgment": re.compile(
        r"一定还|会还|承认|确认欠|尚欠|还欠|欠你|欠款|acknowledg|admit|will\s+(?:re)?pay",
        re.IGNORECASE,
    ),
    "delivery": re.compile(
        r"交货|发货|送达|签收|验收|deliver|shipped|shipment|received\s+the\s+goods",
        re.IGNORECASE,
    ),
    "breach": re.compile(
        r"逾期|违约|拒绝|未还|未付|未支付|拖欠|default|breach|fail(?:ed|s)?\s+to|refus",
        re.IGNORECASE,
    ),
}
"""What a dated sentence reports; "due" is decided per date, see ``_is_due``."""

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
            "货款",
            "价格",
            "单价",
            "contract price",
            "total price",
            "purchase price",
            "loan amount",
            "fees",
        ],
    },
    {
        "key": "term",
        "name": "期限 / Term",
        "keywords": ["期限", "有效期", "起至", "合同期", "term of", "initial term", "expires"],
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

_NOT_EVENT = re.compile(
    r"查询期间|查询日期|打印日期|打印时间|statement\s+period|printed\s+on", re.IGNORECASE
)
_DUE_AFTER = re.compile(r"^\s*(?:之前|以前|前|止|到期|届满)")
_DUE_BEFORE = re.compile(
    r"(?:no\s+later\s+than|on\s+or\s+before|before|\bby|until|due\s+(?:on|by)|expires?\s+on|"
    r"最迟(?:于|在)?|截至)\s*$",
    re.IGNORECASE,
)
_DUE_WORDS = re.compile(r"到期|届满|还款期限|\bdue\b|matur", re.IGNORECASE)
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

    The description is the sentence holding the date. A sentence that is only a date and a
    name (a chat header "张伟 2023-03-05 10:21") takes the next sentence as its content; a
    bare date closing the document is its date of signing. ``kinds`` says what the event
    is (signing, payment, demand, acknowledgment, delivery, breach, due), which the
    limitation check relies on. Statement periods of bank records are not events.
    """
    text = document.text
    sentences = list(sentence_spans(text))
    events = []
    for position, (start, end) in enumerate(sentences):
        sentence = text[start:end]
        dates = find_dates(sentence)
        if not dates or _NOT_EVENT.search(sentence):
            continue
        kinds = event_kinds(sentence)
        header = not kinds and _is_header_only(sentence, dates)
        if header and position + 1 < len(sentences):
            end = sentences[position + 1][1]
            kinds = event_kinds(text[start:end])
        citation = Citation.of(document, start, end)
        for mention in dates:
            events.append(_event(document, citation, mention, kinds, header=header))
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
    """Return, per key term, the sentences that state it: ``{key: [{term, name, citation}]}``.

    A sentence states a term when it contains one of the term's keywords, or when it opens
    a clause whose heading does ("第一条 借款金额" → the sentences under it). An entry also
    carries the largest ``amount`` and the ``dates`` the sentence mentions.
    """
    spans = _body_sentences(document)
    headed = _sentences_under_headings(document)
    result: dict[str, list[dict[str, Any]]] = {}
    for term in key_terms:
        keywords = [keyword.lower() for keyword in term["keywords"]]
        matched = {span for span in spans if _mentions(document.text[span[0] : span[1]], keywords)}
        for heading, sentences in headed:
            if _mentions(heading, keywords):
                matched.update(sentences[:MAX_SENTENCES_PER_TERM_CLAUSE])
        result[term["key"]] = [
            _key_term_entry(document, term, start, end) for start, end in sorted(matched)
        ]
    return result


def event_kinds(sentence: str) -> list[str]:
    """Return the kinds of event ``sentence`` reports, in ``EVENT_KINDS`` order."""
    return [kind for kind, pattern in EVENT_KINDS.items() if pattern.search(sentence)]


def _event(
    document: Document,
    citation: Citation,
    mention: DateMention,
    kinds: list[str],
    *,
    header: bool,
) -> dict[str, Any]:
    description = _description(citation.quote)
    if header and citation.quote == mention.text:
        kinds = ["signing"]
        description = (
            f"{document.title}（落款日期 {mention.text}）"
            if is_chinese(document.text)
            else f"{document.title} (dated {mention.text})"
        )
    elif not header and _is_due(citation.quote, mention):
        kinds = [*kinds, "due"]
    return {
        "date": mention.value.isoformat(),
        "date_text": mention.text,
        "description": description,
        "kinds": kinds,
        "document_id": document.id,
        "citation": citation.to_dict(),
    }


def _is_due(sentence: str, mention: DateMention) -> bool:
    """Return True if the date is a deadline: "于2023年2月28日前归还", "no later than May 31".

    ``mention`` offsets are relative to the sentence, as ``find_dates`` ran on it.
    """
    after = sentence[mention.end : mention.end + 4]
    before = sentence[max(0, mention.start - 20) : mention.start]
    if _DUE_AFTER.search(after) or _DUE_BEFORE.search(before):
        return True
    return bool(_DUE_WORDS.search(sentence)) and len(find_dates(sentence)) == 1


def _is_header_only(sentence: str, dates: Sequence[DateMention]) -> bool:
    """Return True if ``sentence`` holds little beyond its dates, times and a short name."""
    rest = sentence
    for mention in dates:
        rest = rest.replace(mention.text, "")
    rest = _TIME.sub("", rest)
    return len(_CONTENT.findall(rest)) <= 4


def _body_sentences(document: Document) -> list[tuple[int, int]]:
    """Return the sentence spans of the document that are not bare clause headings."""
    heading_starts = {
        clause.start
        for clause in segment_clauses(document.text)
        if _is_bare_heading(document.text, clause.body_start)
    }
    return [span for span in sentence_spans(document.text) if span[0] not in heading_starts]


def _sentences_under_headings(
    document: Document,
) -> list[tuple[str, list[tuple[int, int]]]]:
    """Return ``(heading, sentence spans of the clause body)`` for each titled clause."""
    result = []
    for clause in segment_clauses(document.text):
        line_end = document.text.find("\n", clause.body_start, clause.end)
        line_end = clause.end if line_end == -1 else line_end
        heading = document.text[clause.body_start : line_end]
        body = list(sentence_spans(document.text, line_end, clause.end))
        if heading.strip() and body:
            result.append((heading, body))
    return result


def _is_bare_heading(text: str, body_start: int) -> bool:
    line_end = text.find("\n", body_start)
    line = text[body_start : len(text) if line_end == -1 else line_end].strip()
    return bool(line) and len(line) <= 20 and line[-1] not in "。；;.，,"


def _mentions(sentence: str, keywords: Sequence[str]) -> bool:
    lowered = sentence.lower()
    return any(keyword in lowered for keyword in keywords)


def _key_term_entry(
    document: Document, term: Mapping[str, Any], start: int, end: int
) -> dict[str, Any]:
    sentence = document.text[start:end]
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


def _description(quote: str) -> str:
    one_line = " ".join(quote.split())
    if len(one_line) <= MAX_DESCRIPTION:
        return one_line
    return one_line[: MAX_DESCRIPTION - 1] + "…"
