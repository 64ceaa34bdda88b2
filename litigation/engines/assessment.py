"""Case analysis, risk assessment and evidence analysis over a package of case documents.

``analyze_case`` runs the whole chain — facts, timeline, evidence classification and map,
gaps, limitation, strength, risks — and returns one JSON-serialisable result with a report
structure. The strength score is additive and every point of it is a reason with the
citations it rests on, so a lawyer can see why a case scored 72 and not 50. All three entry
points accept an optional ``on_step(name, fraction)`` callback for progress reporting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from litigation.engines.citations import Document, as_documents
from litigation.engines.contract_review import SEVERITY_ORDER, review_contract
from litigation.engines.evidence import (
    build_evidence_map,
    checklist_completeness,
    classify_document,
    evidence_gaps,
    facts_proven,
)
from litigation.engines.facts import extract_facts
from litigation.engines.limitation import EXPIRED, EXPIRING_SOON, WITHIN, check_limitation
from litigation.engines.packages import (
    POSITIONS,
    ConditionState,
    condition_holds,
    load_package,
    validate_package,
)
from litigation.engines.report import build_report
from litigation.engines.timeline import build_timeline

ProgressCallback = Callable[[str, float], None]
DocumentInput = Document | Mapping[str, Any]

BASE_SCORE = 20.0
ELEMENT_POINTS = 60.0
OPTIONAL_ELEMENT_POINTS = 2.0
CHECKLIST_POINTS = 10.0
LIMITATION_POINTS = {WITHIN: 10.0, EXPIRING_SOON: 5.0, EXPIRED: -40.0}
STRONG, MODERATE = 70, 40
_GAP_WORDS = {"missing": "缺少证据", "weak": "证据薄弱"}

ANALYSIS_STEPS = (
    "extract_facts",
    "timeline",
    "classify_evidence",
    "evidence_map",
    "limitation",
    "strength",
    "risks",
    "report",
)


@dataclass(frozen=True)
class _Run:
    """The inputs of one analysis, checked once."""

    documents: list[Document]
    package: dict[str, Any]
    position: str
    today: date | None
    on_step: ProgressCallback | None

    def step(self, name: str, steps: Sequence[str]) -> None:
        if self.on_step is not None:
            self.on_step(name, steps.index(name) / len(steps))

    def done(self) -> None:
        if self.on_step is not None:
            self.on_step("done", 1.0)


def analyze_case(
    documents: Iterable[DocumentInput],
    package: Mapping[str, Any] | str,
    *,
    position: str,
    user_input: str = "",
    today: date | str,
    on_step: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Analyse a case for the party at ``position`` and return the full result with a report.

    ``package`` is a package dict or the key of a shipped package; ``today`` is the date the
    limitation check measures from (never the clock). Result keys: ``kind``, ``package``,
    ``position``, ``user_input``, ``today``, ``documents`` (classification and what each
    proves), ``facts``, ``parties``, ``timeline``, ``evidence_map``, ``gaps``, ``checklist``,
    ``limitation``, ``strength``, ``risks``, ``report``.
    """
    run = _run(documents, package, position, today, on_step)
    analysis = _analyse(run, ANALYSIS_STEPS)
    run.step("strength", ANALYSIS_STEPS)
    strength = assess_strength(analysis, run.package, position=run.position)
    run.step("risks", ANALYSIS_STEPS)
    risks = _risks(analysis, run)
    run.step("report", ANALYSIS_STEPS)
    result = {
        "kind": "case_analysis",
        "package": _package_summary(run.package),
        "position": run.position,
        "user_input": user_input,
        "today": run.today.isoformat() if run.today else None,
        **analysis,
        "strength": strength,
        "risks": risks,
    }
    result["report"] = build_report(result)
    run.done()
    return result


def assess_risks(
    documents: Iterable[DocumentInput],
    package: Mapping[str, Any] | str,
    *,
    position: str,
    today: date | str,
    user_input: str = "",
    on_step: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Return the risks of the case for ``position``, most severe first.

    Each risk is ``{key, severity, title, reason, citation, source}``; ``source`` is
    "package_rule", "evidence_gap" or "contract_review". The result also carries the
    limitation check and a severity summary.
    """
    steps = (*ANALYSIS_STEPS[:5], "risks")
    run = _run(documents, package, position, today, on_step)
    analysis = _analyse(run, steps)
    run.step("risks", steps)
    risks = _risks(analysis, run)
    run.done()
    return {
        "kind": "risk_assessment",
        "package": _package_summary(run.package),
        "position": run.position,
        "user_input": user_input,
        "today": run.today.isoformat() if run.today else None,
        "documents": analysis["documents"],
        "limitation": analysis["limitation"],
        "risks": risks,
        "summary": _severity_summary(risks),
    }


def evidence_analysis(
    documents: Iterable[DocumentInput],
    package: Mapping[str, Any] | str,
    *,
    on_step: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Classify each document, say what it proves, map it to claim elements, list the gaps.

    Returns ``{kind, package, documents, evidence_map, gaps, checklist}``.
    """
    steps = ("extract_facts", "classify_evidence", "evidence_map")
    run = _run(documents, package, POSITIONS[0], None, on_step)
    run.step("extract_facts", steps)
    facts = _facts(run)
    run.step("classify_evidence", steps)
    documents_out = _classified(run, facts)
    run.step("evidence_map", steps)
    evidence = _evidence(run, documents_out)
    run.done()
    return {
        "kind": "evidence_analysis",
        "package": _package_summary(run.package),
        "documents": documents_out,
        **evidence,
    }


def assess_strength(
    analysis: Mapping[str, Any], package: Mapping[str, Any], *, position: str
) -> dict[str, Any]:
    """Score the case 0–100 for ``position`` and list every reason that moved the score.

    The claim is scored first: a base of 20; up to 60 for the required claim elements in
    proportion to their weights (half for weak evidence); 2 per supported optional element;
    up to 10 for the required evidence checklist; +10 / +5 / −40 when the limitation period
    is running / about to run / expired. A defendant's score is 100 minus the claim's, each
    reason's effect reversed; a third party sees the claim's strength.
    """
    reasons = [_reason("base", BASE_SCORE, "基础分 / Base score", [])]
    reasons.extend(_element_reasons(analysis["evidence_map"], package))
    reasons.append(_checklist_reason(analysis["checklist"]))
    limitation_reason = _limitation_reason(analysis["limitation"])
    if limitation_reason is not None:
        reasons.append(limitation_reason)
    claim_score = _clamp(sum(reason["delta"] for reason in reasons))
    if position == "defendant":
        reasons = [_reversed(reason) for reason in reasons]
        score = 100 - claim_score
    else:
        score = claim_score
    return {
        "score": score,
        "claim_score": claim_score,
        "label": _label(score),
        "position": position,
        "perspective": "defence" if position == "defendant" else "claim",
        "reasons": reasons,
    }


def _run(
    documents: Iterable[DocumentInput],
    package: Mapping[str, Any] | str,
    position: str,
    today: date | str | None,
    on_step: ProgressCallback | None,
) -> _Run:
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {position!r}")
    loaded = load_package(package) if isinstance(package, str) else validate_package(package)
    return _Run(
        documents=as_documents(documents),
        package=loaded,
        position=position,
        today=_date(today),
        on_step=on_step,
    )


def _date(value: date | str | None) -> date | None:
    """Accept a date or an ISO date string, so task parameters can stay JSON."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _analyse(run: _Run, steps: Sequence[str]) -> dict[str, Any]:
    if run.today is None:
        raise ValueError("today is required for the limitation check")
    run.step("extract_facts", steps)
    facts = _facts(run)
    run.step("timeline", steps)
    timeline = build_timeline(facts)
    run.step("classify_evidence", steps)
    documents = _classified(run, facts)
    run.step("evidence_map", steps)
    evidence = _evidence(run, documents)
    run.step("limitation", steps)
    limitation = check_limitation(
        timeline,
        period_days=run.package["limitation_period_days"],
        today=run.today,
        basis=run.package["limitation_basis"],
        relevant_kinds=run.package["limitation_events"],
    )
    return {
        "documents": documents,
        "facts": facts,
        "parties": _parties(facts),
        "timeline": timeline,
        **evidence,
        "limitation": limitation,
    }


def _facts(run: _Run) -> list[dict[str, Any]]:
    key_terms = run.package["key_terms"] or None
    return [extract_facts(document, key_terms=key_terms) for document in run.documents]


def _classified(run: _Run, facts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    documents = []
    for document, document_facts in zip(run.documents, facts, strict=True):
        classification = classify_document(document)
        documents.append(
            {
                "document_id": document.id,
                "title": document.title,
                "classification": classification,
                "proves": facts_proven(classification["kind"], document_facts),
            }
        )
    return documents


def _evidence(run: _Run, documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    classifications = {item["document_id"]: item["classification"] for item in documents}
    evidence_map = build_evidence_map(run.documents, run.package, classifications)
    return {
        "evidence_map": evidence_map,
        "gaps": evidence_gaps(evidence_map),
        "checklist": checklist_completeness(
            classifications.values(), run.package["evidence_checklist"]
        ),
    }


def _parties(facts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the parties of every document, once per name and role, first citation kept."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for document_facts in facts:
        for party in document_facts["parties"]:
            merged.setdefault((party["name"], party["role"]), party)
    return list(merged.values())


def _element_reasons(
    evidence_map: Sequence[Mapping[str, Any]], package: Mapping[str, Any]
) -> list[dict[str, Any]]:
    weights = {element["key"]: element["weight"] for element in package["elements"]}
    required_weight = sum(weights[item["key"]] for item in evidence_map if item["required"])
    reasons = []
    for item in evidence_map:
        citations = item["supports"][0]["citations"][:2] if item["supports"] else []
        if item["required"]:
            share = ELEMENT_POINTS * weights[item["key"]] / required_weight
            delta = {"supported": share, "weak": share / 2}.get(item["status"], 0.0)
        else:
            delta = OPTIONAL_ELEMENT_POINTS if item["status"] == "supported" else 0.0
        reasons.append(_reason(f"element:{item['key']}", delta, _element_text(item), citations))
    return reasons


def _element_text(item: Mapping[str, Any]) -> str:
    kind = "必备要件" if item["required"] else "可选要件"
    status = {
        "supported": "有充分证据 / well supported",
        "weak": "证据薄弱 / weakly supported",
        "missing": "缺少证据 / no evidence",
    }[item["status"]]
    return f"{kind}「{item['name']}」{status}"


def _checklist_reason(checklist: Mapping[str, Any]) -> dict[str, Any]:
    ratio = checklist["required_completeness"]
    missing = "、".join(checklist["missing_required"]) or "无 / none"
    return _reason(
        "checklist",
        CHECKLIST_POINTS * ratio,
        f"必备证据清单完成度 {round(ratio * 100)}%，缺少：{missing} / "
        f"Required evidence checklist {round(ratio * 100)}% complete",
        [],
    )


def _limitation_reason(limitation: Mapping[str, Any]) -> dict[str, Any] | None:
    status = limitation["status"]
    if status not in LIMITATION_POINTS:
        return None
    start = limitation["start_event"]
    return _reason(
        "limitation",
        LIMITATION_POINTS[status],
        f"诉讼时效状态：{status}，届满日 {limitation['expiry_date']} / "
        f"Limitation {status}, period ends {limitation['expiry_date']}",
        [start["citation"]] if start else [],
    )


def _reason(factor: str, delta: float, text: str, citations: list[Any]) -> dict[str, Any]:
    return {"factor": factor, "delta": round(delta, 1), "text": text, "citations": citations}


def _reversed(reason: Mapping[str, Any]) -> dict[str, Any]:
    """Restate a claim reason from the defence's side: its effect on the score is reversed."""
    if reason["factor"] == "base":
        return _reason("base", 100 - BASE_SCORE, "基础分（抗辩方）/ Base score (defence)", [])
    return {**reason, "delta": -reason["delta"]}


def _clamp(score: float) -> int:
    return max(0, min(100, round(score)))


def _label(score: int) -> str:
    if score >= STRONG:
        return "strong"
    if score >= MODERATE:
        return "moderate"
    return "weak"


def _risks(analysis: Mapping[str, Any], run: _Run) -> list[dict[str, Any]]:
    state = ConditionState(
        position=run.position,
        element_status={item["key"]: item["status"] for item in analysis["evidence_map"]},
        evidence_kinds=frozenset(item["classification"]["kind"] for item in analysis["documents"]),
        limitation_status=analysis["limitation"]["status"],
    )
    fired = [rule for rule in run.package["risk_rules"] if condition_holds(rule["when"], state)]
    risks = [_rule_risk(rule, analysis) for rule in fired]
    covered = {key for rule in fired for key in _element_keys(rule["when"])}
    if run.position != "defendant":
        risks.extend(_gap_risks(analysis["gaps"], covered))
    risks.extend(_contract_risks(run, analysis["documents"]))
    risks.sort(key=lambda risk: SEVERITY_ORDER[risk["severity"]])
    return risks


def _rule_risk(rule: Mapping[str, Any], analysis: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": rule["key"],
        "severity": rule["severity"],
        "title": rule["title"],
        "reason": rule["reason"],
        "citation": _condition_citation(rule["when"], analysis),
        "source": "package_rule",
    }


def _condition_citation(when: Mapping[str, Any], analysis: Mapping[str, Any]) -> Any:
    """Return the citation a condition rests on: an element's best evidence or the limitation
    start; None when the condition is about something absent."""
    ((name, value),) = when.items()
    if name in ("all", "any"):
        for item in value:
            citation = _condition_citation(item, analysis)
            if citation is not None:
                return citation
        return None
    if name in ("element_supported", "element_weak"):
        keys = [value] if isinstance(value, str) else value
        for item in analysis["evidence_map"]:
            if item["key"] in keys and item["supports"]:
                return item["supports"][0]["citations"][0]
    if name == "limitation_status" and analysis["limitation"]["start_event"]:
        return analysis["limitation"]["start_event"]["citation"]
    return None


def _element_keys(when: Mapping[str, Any]) -> set[str]:
    ((name, value),) = when.items()
    if name in ("all", "any"):
        return {key for item in value for key in _element_keys(item)}
    if name == "not":
        return _element_keys(value)
    if name.startswith("element_"):
        return {value} if isinstance(value, str) else set(value)
    return set()


def _gap_risks(gaps: Sequence[Mapping[str, Any]], covered: set[str]) -> list[dict[str, Any]]:
    """Return a risk for each required element without enough evidence not already covered
    by a package rule."""
    return [
        {
            "key": f"gap_{gap['element']}",
            "severity": "high" if gap["status"] == "missing" else "medium",
            "title": f"要件证据不足：{gap['name']} / Element not proven: {gap['name']}",
            "reason": (
                f"必备要件「{gap['name']}」{_GAP_WORDS[gap['status']]}，"
                f"建议补充：{'、'.join(gap['suggested_evidence']) or '相关证据'}。"
            ),
            "citation": None,
            "source": "evidence_gap",
        }
        for gap in gaps
        if gap["required"] and gap["element"] not in covered
    ]


def _contract_risks(run: _Run, classified: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the high-severity clause findings of the contracts in the case as risks."""
    risks = []
    for document, item in zip(run.documents, classified, strict=True):
        if item["classification"]["kind"] != "contract":
            continue
        for finding in review_contract(document)["findings"]:
            if finding["severity"] != "high":
                continue
            risks.append(
                {
                    "key": f"contract_{finding['rule']}",
                    "severity": "medium",
                    "title": f"合同条款风险 / Contract clause: {finding['title']}",
                    "reason": finding["explanation"],
                    "citation": finding["citation"],
                    "source": "contract_review",
                }
            )
    return risks


def _severity_summary(risks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts = {"high": 0, "medium": 0, "low": 0}
    for risk in risks:
        counts[risk["severity"]] += 1
    return {**counts, "total": len(risks)}


def _package_summary(package: Mapping[str, Any]) -> dict[str, str]:
    return {name: package[name] for name in ("key", "name", "case_type")}
