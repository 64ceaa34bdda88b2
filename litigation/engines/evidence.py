"""Evidence analysis: what each document is, what it proves, and which claim elements it backs.

Classification scores every kind of evidence by the features a document shows (title words,
field labels, layout such as chat headers or statement rows) and keeps the best; each
feature that counted is reported with the text that matched, so the kind is explainable.
The evidence map scores, for every element of the package's claim, each document by the
element's keywords it contains (one point per distinct keyword) plus a bonus when the
document is of a kind that usually proves that element; the matched sentences are cited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from documents.engines.entities import find_case_numbers
from litigation.engines.citations import Citation, Document, as_document, sentence_spans

EVIDENCE_KINDS: dict[str, str] = {
    "contract": "合同 / Contract",
    "invoice": "发票 / Invoice",
    "bank_record": "银行流水 / Bank record",
    "chat_record": "聊天记录 / Chat record",
    "id_document": "身份证明 / ID document",
    "judgment": "裁判文书 / Judgment",
    "correspondence": "函件 / Correspondence",
    "receipt_iou": "借条欠条收据 / Receipt or IOU",
    "other": "其他 / Other",
}
MIN_CLASSIFICATION_SCORE = 3
KIND_BONUS = 2
SUPPORTED_SCORE = 3
MAX_CITATIONS_PER_DOCUMENT = 3


@dataclass(frozen=True)
class Feature:
    """A sign that a document is of ``kind``: a pattern on the title, text or layout."""

    kind: str
    name: str
    weight: int
    where: str
    pattern: re.Pattern[str]
    min_count: int = 1


def _feature(
    kind: str, name: str, weight: int, where: str, pattern: str, min_count: int = 1
) -> Feature:
    return Feature(kind, name, weight, where, re.compile(pattern, re.IGNORECASE | re.M), min_count)


FEATURES: tuple[Feature, ...] = (
    _feature("contract", "title names a contract", 3, "title", r"合同|协议|agreement|contract"),
    _feature(
        "contract",
        "party labels 甲方/乙方",
        2,
        "text",
        r"甲方[^\n]{0,20}乙方|乙方[^\n]{0,20}甲方|甲方：|乙方：",
    ),
    _feature(
        "contract",
        "numbered articles",
        3,
        "text",
        r"^\s*(?:第[一二三四五六七八九十百\d]+条|Article\s+\d+|Section\s+\d+)",
        3,
    ),
    _feature(
        "contract",
        "speaks of 'this contract'",
        2,
        "text",
        r"本合同|本协议|this\s+agreement|this\s+contract",
    ),
    _feature(
        "contract",
        "breach and dispute clauses",
        1,
        "text",
        r"违约责任|争议解决|governing\s+law|liquidated\s+damages",
    ),
    _feature("invoice", "title names an invoice", 3, "title", r"发票|invoice"),
    _feature(
        "invoice",
        "invoice fields",
        3,
        "text",
        r"发票代码|发票号码|价税合计|税额|invoice\s+no|VAT|tax\s+amount|bill\s+to",
    ),
    _feature("invoice", "issue date label", 2, "text", r"开票日期|invoice\s+date"),
    _feature(
        "bank_record",
        "title names a bank statement",
        3,
        "title",
        r"流水|交易明细|转账|回单|bank\s+statement|transaction",
    ),
    _feature(
        "bank_record",
        "statement columns",
        3,
        "text",
        r"交易日期|交易金额|余额|对方户名|对方账号|摘要|balance|transaction\s+date|counterparty",
        2,
    ),
    _feature(
        "bank_record",
        "dated amount rows",
        2,
        "text",
        r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b[^\n]*\d[\d,]*\.\d{2}",
        2,
    ),
    _feature("bank_record", "issued by a bank", 1, "text", r"银行|bank"),
    _feature(
        "chat_record",
        "title names a chat",
        3,
        "title",
        r"聊天|微信|短信|wechat|whatsapp|chat|messages",
    ),
    _feature(
        "chat_record",
        "message headers (name, date, time)",
        3,
        "text",
        r"^\s*\S{1,16}\s+\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s+\d{1,2}:\d{2}",
        2,
    ),
    _feature(
        "chat_record", "names a messaging app", 2, "text", r"微信|聊天记录|wechat|whatsapp|短信"
    ),
    _feature(
        "id_document",
        "title names an identity document",
        3,
        "title",
        r"身份证|户口|营业执照|passport|identity",
    ),
    _feature(
        "id_document",
        "identity card fields",
        3,
        "text",
        r"公民身份号码|签发机关|有效期限|统一社会信用代码|passport\s+no|date\s+of\s+birth|nationality",
    ),
    _feature("judgment", "title names a judgment", 3, "title", r"判决|裁定|调解书|judgment|order"),
    _feature(
        "judgment",
        "court language",
        3,
        "text",
        r"本院认为|判决如下|裁定如下|审\s*判\s*长|书\s*记\s*员|it\s+is\s+(?:hereby\s+)?ordered|the\s+court\s+finds",
    ),
    _feature(
        "correspondence",
        "title names a letter",
        3,
        "title",
        r"函|通知|书信|letter|notice|email|e-mail",
    ),
    _feature(
        "correspondence",
        "letter form",
        2,
        "text",
        r"律师函|催告函|敬启者|此致|dear\s+\w+|yours\s+(?:faithfully|sincerely)|sincerely",
    ),
    _feature(
        "correspondence",
        "mail headers",
        2,
        "text",
        r"^\s*(?:发件人|收件人|主题|from|to|subject)\s*[:：]",
        2,
    ),
    _feature(
        "receipt_iou",
        "title names an IOU or receipt",
        3,
        "title",
        r"借条|欠条|收条|收据|iou|receipt",
    ),
    _feature(
        "receipt_iou",
        "IOU wording",
        3,
        "text",
        r"今借到|今欠|今收到|兹收到|欠款人|i\s+owe|received\s+from",
    ),
)

PROVES: dict[str, tuple[tuple[str, str], ...]] = {
    "contract": (
        ("合同关系成立及当事人 / The contract and its parties", "parties"),
        ("约定的价款 / The agreed price", "key_terms:price"),
        ("约定的期限 / The agreed term", "key_terms:term"),
        ("约定的付款安排 / The agreed payment schedule", "key_terms:payment_schedule"),
    ),
    "receipt_iou": (
        ("借款或欠款的事实与金额 / The debt and its amount", "amounts"),
        ("还款期限 / The repayment date", "events:due"),
        ("出具人 / Who signed it", "parties"),
    ),
    "bank_record": (("款项的实际交付或偿还 / Money actually paid or repaid", "events:payment"),),
    "chat_record": (
        ("催告还款 / Demands for payment", "events:demand"),
        ("对债务的承认 / Acknowledgment of the debt", "events:acknowledgment"),
        ("部分还款 / Part payment", "events:payment"),
    ),
    "correspondence": (
        ("催告或通知 / Demand or notice", "events:demand"),
        ("发函日期 / When it was sent", "events:signing"),
    ),
    "invoice": (("开票金额 / The amount invoiced", "amounts"),),
    "judgment": (("裁判认定的事实 / Facts found by the court", "events:"),),
    "id_document": (("当事人身份 / Identity of a party", "parties"),),
    "other": (),
}


def classify_document(document: Document | Mapping[str, Any]) -> dict[str, Any]:
    """Return the kind of evidence a document is, with the features that decided it.

    ``{document_id, kind, label, score, confidence, features, scores}``: ``features`` are the
    matched features of the chosen kind with what matched and a citation (None when the
    title matched); ``scores`` has every kind's total. Below ``MIN_CLASSIFICATION_SCORE``
    the kind is "other". ``confidence`` is the chosen score's share of the two best.
    """
    doc = as_document(document)
    matched = [hit for feature in FEATURES if (hit := _match_feature(doc, feature))]
    scores = {kind: 0 for kind in EVIDENCE_KINDS if kind != "other"}
    for hit in matched:
        scores[hit["kind"]] += hit["weight"]
    if _looks_like_judgment(doc):
        scores["judgment"] += 2
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    (kind, score), runner_up = ranked[0], ranked[1][1]
    if score < MIN_CLASSIFICATION_SCORE:
        kind = "other"
    return {
        "document_id": doc.id,
        "kind": kind,
        "label": EVIDENCE_KINDS[kind],
        "score": score,
        "confidence": round(score / (score + runner_up), 2) if score else 0.0,
        "features": [_public(hit) for hit in matched if hit["kind"] == kind],
        "scores": scores,
    }


def facts_proven(kind: str, facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return what a document of ``kind`` proves, each fact with the citations it rests on.

    ``facts`` is the document's ``facts.extract_facts`` result; a fact with nothing in the
    document to rest on is left out.
    """
    proven = []
    for label, source in PROVES.get(kind, ()):
        citations = _citations_for(source, facts)
        if citations:
            proven.append({"fact": label, "citations": citations})
    return proven


def build_evidence_map(
    documents: Iterable[Document | Mapping[str, Any]],
    package: Mapping[str, Any],
    classifications: Mapping[Any, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Return, per claim element of the package, the documents that support it, best first.

    Each element: ``{key, name, required, status, best_score, supports}`` where ``status`` is
    "supported" (best score ≥ ``SUPPORTED_SCORE``), "weak" or "missing", and each support is
    ``{document_id, score, keyword_hits, kind_bonus, matched_keywords, citations, explanation}``.
    ``classifications`` maps document id to ``classify_document`` results; documents are
    classified here when it is not given.
    """
    docs = [as_document(document) for document in documents]
    kinds = {doc.id: (classifications or {}).get(doc.id) or classify_document(doc) for doc in docs}
    return [_map_element(element, docs, kinds) for element in package["elements"]]


def evidence_gaps(evidence_map: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the elements with no or only weak evidence, saying which kinds would prove them."""
    return [
        {
            "element": element["key"],
            "name": element["name"],
            "required": element["required"],
            "status": element["status"],
            "suggested_evidence": [EVIDENCE_KINDS[kind] for kind in element["evidence_kinds"]],
        }
        for element in evidence_map
        if element["status"] != "supported"
    ]


def checklist_completeness(
    classifications: Iterable[Mapping[str, Any]], checklist: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Check the package's evidence checklist against the kinds of documents provided.

    Returns ``{items: [{kind, name, required, present, document_ids}], completeness,
    required_completeness, missing_required}``; the ratios are over all items and over the
    required ones (1.0 when there are none).
    """
    by_kind: dict[str, list[Any]] = {}
    for classification in classifications:
        by_kind.setdefault(classification["kind"], []).append(classification["document_id"])
    items = [
        {
            "kind": item["kind"],
            "name": item["name"],
            "required": bool(item.get("required", False)),
            "present": item["kind"] in by_kind,
            "document_ids": by_kind.get(item["kind"], []),
        }
        for item in checklist
    ]
    required = [item for item in items if item["required"]]
    return {
        "items": items,
        "completeness": _ratio(sum(item["present"] for item in items), len(items)),
        "required_completeness": _ratio(sum(item["present"] for item in required), len(required)),
        "missing_required": [item["name"] for item in required if not item["present"]],
    }


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Return the pattern for one element keyword: whole words for Latin, substring for CJK."""
    escaped = re.escape(keyword)
    if re.fullmatch(r"[\w\s'-]+", keyword, re.ASCII):
        return re.compile(rf"\b{escaped}\b", re.IGNORECASE)
    return re.compile(escaped, re.IGNORECASE)


def _match_feature(document: Document, feature: Feature) -> dict[str, Any] | None:
    if feature.where == "title":
        match = feature.pattern.search(document.title)
        if match is None:
            return None
        return _hit(feature, match.group(0), None)
    matches = list(feature.pattern.finditer(document.text))
    if len(matches) < feature.min_count:
        return None
    first = matches[0]
    citation = Citation.of(document, first.start(), first.end()).to_dict()
    return _hit(feature, first.group(0).strip(), citation, count=len(matches))


def _hit(
    feature: Feature, matched: str, citation: dict[str, Any] | None, count: int = 1
) -> dict[str, Any]:
    return {
        "kind": feature.kind,
        "feature": feature.name,
        "weight": feature.weight,
        "where": feature.where,
        "matched": matched,
        "count": count,
        "citation": citation,
    }


def _public(hit: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in hit.items() if key != "kind"}


def _looks_like_judgment(document: Document) -> bool:
    """Return True if a case number is cited in a document that reads like a court's."""
    return bool(find_case_numbers(document.text)) and "法院" in document.text


def _citations_for(source: str, facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    selector, _, argument = source.partition(":")
    selectors: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "parties": lambda: [party["citation"] for party in facts["parties"]],
        "amounts": lambda: _unique([amount["citation"] for amount in facts["amounts"]]),
        "key_terms": lambda: [entry["citation"] for entry in facts["key_terms"].get(argument, [])],
        "events": lambda: _unique(
            [
                event["citation"]
                for event in facts["events"]
                if not argument or argument in event["kinds"]
            ]
        ),
    }
    return selectors[selector]()


def _unique(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for citation in citations:
        if citation not in seen:
            seen.append(citation)
    return seen


def _map_element(
    element: Mapping[str, Any],
    documents: Sequence[Document],
    kinds: Mapping[Any, Mapping[str, Any]],
) -> dict[str, Any]:
    patterns = [(keyword, keyword_pattern(keyword)) for keyword in element["keywords"]]
    supports = [
        support
        for document in documents
        if (support := _support(element, document, kinds[document.id]["kind"], patterns))
    ]
    supports.sort(key=lambda support: -support["score"])
    best = supports[0]["score"] if supports else 0
    status = "supported" if best >= SUPPORTED_SCORE else "weak" if supports else "missing"
    return {
        "key": element["key"],
        "name": element["name"],
        "description": element.get("description", ""),
        "required": bool(element.get("required", True)),
        "evidence_kinds": list(element.get("evidence_kinds", [])),
        "status": status,
        "best_score": best,
        "supports": supports,
    }


def _support(
    element: Mapping[str, Any],
    document: Document,
    kind: str,
    patterns: Sequence[tuple[str, re.Pattern[str]]],
) -> dict[str, Any] | None:
    """Score one document for one element, or None when no keyword of the element occurs.

    The cited sentences are those with the most keyword hits, best first.
    """
    matched_keywords: list[str] = []
    hit_sentences: list[tuple[int, int, int]] = []
    for start, end in sentence_spans(document.text):
        sentence = document.text[start:end]
        hits = [keyword for keyword, pattern in patterns if pattern.search(sentence)]
        if not hits:
            continue
        matched_keywords.extend(keyword for keyword in hits if keyword not in matched_keywords)
        hit_sentences.append((-len(hits), start, end))
    if not matched_keywords:
        return None
    cited = [(start, end) for _, start, end in sorted(hit_sentences)]
    cited = cited[:MAX_CITATIONS_PER_DOCUMENT]
    bonus = KIND_BONUS if kind in element.get("evidence_kinds", []) else 0
    score = len(matched_keywords) + bonus
    return {
        "document_id": document.id,
        "kind": kind,
        "score": score,
        "keyword_hits": len(matched_keywords),
        "kind_bonus": bonus,
        "matched_keywords": matched_keywords,
        "citations": [Citation.of(document, start, end).to_dict() for start, end in cited],
        "explanation": (
            f"{len(matched_keywords)} keyword(s) × 1"
            + (f" + {bonus} ({kind} is expected evidence)" if bonus else "")
            + f" = {score}"
        ),
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 2) if whole else 1.0
