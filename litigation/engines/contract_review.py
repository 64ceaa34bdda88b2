"""Contract review: cut a contract into clauses and flag the clauses that put a party at risk.

Each rule is a small function over the segmented contract that returns findings; a finding
names the rule, its severity, why it matters, the clause it sits in, the exact sentence it
rests on (a ``Citation``) and a suggested revision. Rules about something *missing* (no
governing-law clause, no dispute-resolution clause) cite nothing and say what is missing.
Rules are written to stay quiet on ordinary, balanced wording: a liability cap, a mutual
termination right or a fixed payment date is not a finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from documents.engines.entities import find_money, parse_chinese_numeral
from litigation.engines.citations import (
    Citation,
    Document,
    as_document,
    is_chinese,
    sentence_spans,
)

ProgressCallback = Callable[[str, float], None]

HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITY_ORDER = {HIGH: 0, MEDIUM: 1, LOW: 2}
LIQUIDATED_DAMAGES_LIMIT = Decimal("0.30")

_CN_NUM = "一二三四五六七八九十百零〇两"
_HEADING_STYLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("zh_chapter", re.compile(rf"第[{_CN_NUM}\d]+[章节]")),
    ("zh_article", re.compile(rf"第[{_CN_NUM}\d]+条")),
    ("zh_enum", re.compile(rf"[{_CN_NUM}]+[、．]")),
    ("zh_paren", re.compile(rf"[（(][{_CN_NUM}]+[)）]")),
    (
        "en_article",
        re.compile(r"(?:Article|ARTICLE|Section|SECTION|Clause|CLAUSE)\s+\d+(?:\.\d+)*"),
    ),
    ("decimal", re.compile(r"\d{1,2}(?:\.\d{1,2})*(?:[.、．)）](?!\d)|(?=\s+\D))")),
    ("paren_number", re.compile(r"[（(]\d{1,2}[)）]")),
)
_TITLE_STOP = re.compile(r"[：:。；;，,]")


@dataclass(frozen=True)
class Clause:
    """One heading-delimited clause: its marker ("第八条", "5.2"), display title and span.

    ``start``/``end`` cover the clause's own text up to the next heading, ``body_start`` is
    where the text after the heading marker begins; ``parent`` is the index of the enclosing
    clause in the segmentation, or None for a top-level clause.
    """

    index: int
    number: str
    title: str
    level: int
    start: int
    end: int
    body_start: int
    parent: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable form of the clause."""
        return {
            "index": self.index,
            "number": self.number,
            "title": self.title,
            "level": self.level,
            "start": self.start,
            "end": self.end,
            "body_start": self.body_start,
            "parent": self.parent,
        }


@dataclass(frozen=True)
class Contract:
    """A contract under review: the document, its clauses and its language."""

    document: Document
    clauses: tuple[Clause, ...]
    chinese: bool

    def clause_at(self, position: int) -> Clause | None:
        """Return the innermost clause whose span contains ``position``."""
        for clause in self.clauses:
            if clause.start <= position < clause.end:
                return clause
        return None

    def clause_path(self, clause: Clause | None) -> str:
        """Return the clause title after its ancestors', e.g. "Article 5 Termination › 5.2"."""
        if clause is None:
            return "前言" if self.chinese else "Preamble"
        titles = [clause.title]
        parent = clause.parent
        while parent is not None:
            titles.append(self.clauses[parent].title)
            parent = self.clauses[parent].parent
        return " › ".join(reversed(titles))

    def sentences(self) -> Iterator[tuple[int, int, str]]:
        """Yield ``(start, end, sentence)`` for every sentence, leaving heading markers out.

        A quote then reads "Seller may terminate …" rather than "4.2 Seller may terminate …".
        """
        text = self.document.text
        body_starts = {clause.start: clause.body_start for clause in self.clauses}
        for start, end in sentence_spans(text):
            start = max(start, body_starts.get(start, start))
            if start < end:
                yield start, end, text[start:end]

    def finding(
        self,
        rule: str,
        severity: str,
        *,
        title: str,
        explanation: str,
        suggestion: str,
        span: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """Build one finding; ``span`` is the cited text, or None for a missing clause."""
        if span is None:
            return {
                "rule": rule,
                "severity": severity,
                "title": title,
                "explanation": explanation,
                "clause_title": None,
                "citation": None,
                "suggestion": suggestion,
            }
        clause = self.clause_at(span[0])
        return {
            "rule": rule,
            "severity": severity,
            "title": title,
            "explanation": explanation,
            "clause_title": self.clause_path(clause),
            "citation": Citation.of(self.document, *span).to_dict(),
            "suggestion": suggestion,
        }


Rule = Callable[[Contract, Mapping[str, Any]], list[dict[str, Any]]]


def segment_clauses(text: str) -> list[Clause]:
    """Split contract text into clauses at heading lines, Chinese and English styles alike.

    A line opens a clause when it starts with a heading marker: 第X章/第X条, 一、, （一）,
    "Article 1", "Section 1", "1.", "1.1" or "(1)". Nesting follows the order in which the
    styles first appear (the first style seen is the outermost), and dotted numbers nest by
    their depth, so "5.2" sits inside "5." and inside "Article 5" alike.
    """
    headings = list(_headings(text))
    style_levels: dict[str, int] = {}
    clauses: list[Clause] = []
    for position, (start, body_start, style, number, rest) in enumerate(headings):
        level = style_levels.setdefault(style, len(style_levels))
        end = headings[position + 1][0] if position + 1 < len(headings) else len(text)
        clauses.append(
            Clause(
                index=position,
                number=number,
                title=_title(number, rest),
                level=level,
                start=start,
                end=end,
                body_start=body_start,
                parent=_parent(clauses, level),
            )
        )
    return clauses


def review_contract(
    document: Document | Mapping[str, Any],
    *,
    contract_amount: Decimal | float | None = None,
    on_step: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Review one contract and return its clauses, findings and a severity summary.

    ``contract_amount`` overrides the contract total found in the text, for liquidated-damages
    comparisons. Findings are sorted by severity, then by position in the contract.
    """
    contract = _contract(as_document(document))
    context = {"contract_amount": _decimal_or_none(contract_amount)}
    findings: list[dict[str, Any]] = []
    for position, rule in enumerate(RULES):
        if on_step is not None:
            on_step(rule.__name__.removeprefix("rule_"), position / len(RULES))
        findings.extend(rule(contract, context))
    findings.sort(key=_finding_order)
    if on_step is not None:
        on_step("done", 1.0)
    return {
        "kind": "contract_review",
        "document_id": contract.document.id,
        "title": contract.document.title,
        "language": "zh" if contract.chinese else "en",
        "clauses": [clause.to_dict() for clause in contract.clauses],
        "findings": findings,
        "summary": _summary(findings),
    }


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


def rule_governing_law(contract: Contract, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flag a contract that never says which law governs it."""
    if _GOVERNING_LAW.search(contract.document.text):
        return []
    zh = contract.chinese
    return [
        contract.finding(
            "missing_governing_law",
            MEDIUM,
            title="缺少法律适用条款" if zh else "No governing-law clause",
            explanation=(
                "合同未约定适用的法律，发生争议时准据法可能需要另行确定，增加不确定性。"
                if zh
                else "The contract does not state which law governs it, so the applicable "
                "law would have to be argued if a dispute arises."
            ),
            suggestion=(
                "本合同的订立、效力、解释、履行及争议解决均适用中华人民共和国法律。"
                if zh
                else "This Agreement shall be governed by and construed in accordance with "
                "the laws of [jurisdiction]."
            ),
            span=None,
        )
    ]


def rule_dispute_resolution(contract: Contract, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flag a contract that names neither a court nor an arbitration body for disputes."""
    if _DISPUTE_RESOLUTION.search(contract.document.text):
        return []
    zh = contract.chinese
    return [
        contract.finding(
            "missing_dispute_resolution",
            MEDIUM,
            title="缺少争议解决条款" if zh else "No dispute-resolution clause",
            explanation=(
                "合同未约定争议解决方式（仲裁或诉讼管辖），发生纠纷时只能依法定管辖，"
                "可能需在对方所在地诉讼。"
                if zh
                else "The contract names neither arbitration nor a court, so a dispute "
                "would fall to default jurisdiction rules, possibly in the other side's forum."
            ),
            suggestion=(
                "因本合同引起的或与本合同有关的任何争议，双方应协商解决；协商不成的，"
                "任何一方均可向原告所在地有管辖权的人民法院提起诉讼。"
                if zh
                else "Any dispute arising out of or in connection with this Agreement shall "
                "be finally resolved by arbitration under the rules of [institution] "
                "seated in [city]."
            ),
            span=None,
        )
    ]


def rule_unilateral_termination(
    contract: Contract, context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Flag an at-will termination right that only one named party holds.

    A right to terminate for cause (after a breach, a missed payment) is ordinary and not
    flagged; nor is an at-will right given to "either party" or to both parties.
    """
    grants = [
        (start, end, party)
        for start, end, sentence in contract.sentences()
        if (party := _at_will_termination_party(sentence)) is not None
    ]
    holders = {party for _, _, party in grants}
    if len(holders) != 1 or _MUTUAL in holders:
        return []
    zh = contract.chinese
    return [
        contract.finding(
            "unilateral_termination",
            HIGH,
            title="单方任意解除权" if zh else "One-sided right to terminate at will",
            explanation=(
                f"合同仅赋予{party}随时或无理由解除合同的权利，对方没有对等权利，"
                "可能使对方的履行投入落空。"
                if zh
                else f"Only {party} may terminate at will; the other party has no matching "
                "right and may lose its investment in performance without remedy."
            ),
            suggestion=(
                "任何一方提前三十日书面通知对方，可解除本合同；解除方应结清已履行部分的价款"
                "并赔偿对方因此产生的合理损失。"
                if zh
                else "Either party may terminate this Agreement for convenience on thirty "
                "(30) days' written notice, subject to payment for work performed and "
                "reasonable costs incurred up to termination."
            ),
            span=(start, end),
        )
        for start, end, party in grants
    ]


def rule_automatic_renewal(contract: Contract, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flag automatic renewal; without a way to opt out by notice it is medium, else low."""
    findings = []
    zh = contract.chinese
    for start, end, sentence in contract.sentences():
        if not _AUTO_RENEWAL.search(sentence):
            continue
        severity = LOW if _RENEWAL_OPT_OUT.search(sentence) else MEDIUM
        findings.append(
            contract.finding(
                "automatic_renewal",
                severity,
                title="自动续期条款" if zh else "Automatic renewal",
                explanation=(
                    "合同到期后自动续期，如未及时表示异议将被继续约束，应关注续期条件与退出方式。"
                    if zh
                    else "The term renews automatically; unless a party objects in time it "
                    "stays bound for another term."
                ),
                suggestion=(
                    "合同期满前三十日，双方协商一致并书面确认的，可续签本合同；"
                    "未书面确认的，本合同期满终止。"
                    if zh
                    else "This Agreement may be renewed only by written agreement of both "
                    "parties signed at least thirty (30) days before expiry."
                ),
                span=(start, end),
            )
        )
    return findings


def rule_liquidated_damages(contract: Contract, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flag liquidated damages above 30% of the contract amount.

    A lump-sum penalty is compared to the contract total (given, or found in the text); a
    percentage is compared directly. Daily rates ("每日万分之五", "0.05% per day") accrue over
    time and are not compared here.
    """
    total = context.get("contract_amount") or contract_total(contract.document.text)
    findings = []
    for start, end, sentence in contract.sentences():
        if not _LIQUIDATED_DAMAGES.search(sentence) or _DAILY_RATE.search(sentence):
            continue
        ratio = _damages_ratio(sentence, total)
        if ratio is None or ratio <= LIQUIDATED_DAMAGES_LIMIT:
            continue
        findings.append(_liquidated_damages_finding(contract, (start, end), ratio))
    return findings


def rule_unlimited_liability(
    contract: Contract, context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Flag liability without any cap: "承担一切损失", "all losses whatsoever" and the like."""
    findings = []
    zh = contract.chinese
    for start, end, sentence in contract.sentences():
        if not _UNLIMITED_LIABILITY.search(sentence) or _LIABILITY_CAP.search(sentence):
            continue
        findings.append(
            contract.finding(
                "unlimited_liability",
                HIGH,
                title="无限责任条款" if zh else "Unlimited liability",
                explanation=(
                    "该条款要求承担全部或一切损失，没有责任上限，也未排除间接损失，风险不可控。"
                    if zh
                    else "The clause imposes liability for all losses without a cap or an "
                    "exclusion of indirect loss, so exposure is unbounded."
                ),
                suggestion=(
                    "违约方的赔偿责任以守约方因违约所受的直接损失为限，且累计赔偿总额不超过"
                    "本合同总价款。"
                    if zh
                    else "Each party's aggregate liability under this Agreement shall not "
                    "exceed the total fees paid or payable hereunder, and neither party shall "
                    "be liable for indirect or consequential loss."
                ),
                span=(start, end),
            )
        )
    return findings


def rule_vague_terms(contract: Contract, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flag payment or delivery timing left vague ("尽快", "另行协商", "as soon as possible")."""
    findings = []
    zh = contract.chinese
    for start, end, sentence in contract.sentences():
        vague = _VAGUE_TIMING.search(sentence)
        if vague is None or not _PAYMENT_OR_DATE.search(sentence):
            continue
        findings.append(
            contract.finding(
                "vague_payment_terms",
                MEDIUM,
                title="付款或履行期限约定不明" if zh else "Vague payment or delivery timing",
                explanation=(
                    f"条款使用“{vague.group(0)}”等不确定表述约定付款或履行时间，"
                    "难以认定对方何时构成逾期。"
                    if zh
                    else f'The clause uses "{vague.group(0)}" for a payment or delivery time, '
                    "so it is hard to prove when the other side fell into default."
                ),
                suggestion=(
                    "买方应于收到卖方开具的合法有效发票后十五（15）个工作日内，"
                    "将相应款项一次性支付至卖方指定账户。"
                    if zh
                    else "Payment shall be made within thirty (30) days after receipt of a "
                    "valid invoice, by bank transfer to the account designated by the payee."
                ),
                span=(start, end),
            )
        )
    return findings


RULES: tuple[Rule, ...] = (
    rule_governing_law,
    rule_dispute_resolution,
    rule_unilateral_termination,
    rule_automatic_renewal,
    rule_liquidated_damages,
    rule_unlimited_liability,
    rule_vague_terms,
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
_GOVERNING_LAW = re.compile(
    r"适用(?:中华人民共和国|中国|[^。；\n]{0,12})法律|法律适用|准据法|governing\s+law|"
    r"governed\s+by\s+(?:and\s+construed\s+in\s+accordance\s+with\s+)?the\s+laws?",
    re.IGNORECASE,
)
_DISPUTE_RESOLUTION = re.compile(
    r"争议解决|争议的解决|仲裁委员会|提交[^。；\n]{0,20}仲裁|人民法院[^。；\n]{0,6}(?:提起)?诉讼|"
    r"向[^。；\n]{0,30}人民法院(?:提起|起诉)|诉讼管辖|管辖法院|有管辖权的人民法院|"
    r"arbitration|exclusive\s+jurisdiction|submit(?:ted)?\s+to\s+the\s+(?:non-exclusive\s+)?"
    r"jurisdiction|dispute\s+resolution|courts\s+of\s+[A-Z]",
    re.IGNORECASE,
)
_MUTUAL = "either party"
_PARTY_NAME = (
    r"甲方|乙方|丙方|出租方|承租方|出租人|承租人|卖方|买方|出卖人|买受人|出借人|借款人|"
    r"贷款人|委托方|受托方|发包方|承包方|用人单位|公司"
)
_MUTUAL_PARTY = re.compile(
    r"任何一方|任一方|双方均|双方|各方|均有权|均可|均享有|either\s+party|each\s+party|"
    r"both\s+parties|the\s+parties",
    re.IGNORECASE,
)
_ZH_AT_WILL = re.compile(
    rf"(?P<party>{_PARTY_NAME})[^。；，,]{{0,8}}(?:有权|可以|可)[^。；]{{0,10}}"
    r"(?:随时|单方|任意|无需[^。；]{0,6}理由|无理由|无须[^。；]{0,6}理由)[^。；]{0,12}"
    r"(?:解除|终止)(?:本)?(?:合同|协议)"
)
_EN_AT_WILL = re.compile(
    r"(?P<party>(?-i:(?:[Tt]he\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)?)|either\s+party|each\s+party)"
    r"\s+(?:may|shall\s+be\s+entitled\s+to|has\s+the\s+right\s+to|reserves\s+the\s+right\s+to)"
    r"[^.;]{0,40}?\bterminate\s+this\s+(?:Agreement|Contract)[^.;]{0,80}?"
    r"|(?P<party2>(?-i:(?:[Tt]he\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)?)|either\s+party|each\s+party)"
    r"\s+(?:may|shall\s+be\s+entitled\s+to|has\s+the\s+right\s+to),?\s+(?=at\s+any\s+time|"
    r"in\s+its\s+sole\s+discretion)[^.;]{0,60}?\bterminate\s+this\s+(?:Agreement|Contract)",
    re.IGNORECASE,
)
_EN_AT_WILL_MARKER = re.compile(
    r"at\s+any\s+time|for\s+convenience|without\s+cause|for\s+any\s+reason|"
    r"for\s+no\s+reason|in\s+its\s+sole\s+discretion|without\s+(?:giving\s+)?(?:any\s+)?reason",
    re.IGNORECASE,
)
_CONDITION = re.compile(
    r"若|如果|如|倘若|逾期|违约|未能|未按|的[，,]|\bif\b|in\s+the\s+event|\bshould\b|"
    r"\bwhere\b|\bupon\b|breach|fails?\s+to",
    re.IGNORECASE,
)
_AUTO_RENEWAL = re.compile(
    r"自动(?:续期|续约|续展|续签|延期|延续|延长)|"
    r"automatic(?:ally)?\s+(?:be\s+)?renew|auto-renew|renew(?:ed)?\s+automatically|"
    r"automatic\s+renewal",
    re.IGNORECASE,
)
_RENEWAL_OPT_OUT = re.compile(
    r"(?:提前|届满前)[^。；]{0,12}书面通知|notice\s+of\s+non-renewal|"
    r"unless\s+(?:either|a|one)\s+party\s+(?:gives|serves|provides)[^.;]{0,40}notice",
    re.IGNORECASE,
)
_LIQUIDATED_DAMAGES = re.compile(r"违约金|liquidated\s+damages|penalty", re.IGNORECASE)
_DAILY_RATE = re.compile(
    r"每日|每天|按日|逐日|per\s+day|each\s+day|daily|for\s+each\s+day", re.IGNORECASE
)
_UNLIMITED_LIABILITY = re.compile(
    r"一切(?:损失|责任|后果|费用)|承担全部(?:责任|后果)|全部法律责任|无限(?:连带)?责任|"
    r"不设(?:上限|限额)|不受[^。；]{0,6}限制的(?:赔偿|责任)|"
    r"unlimited\s+liability|all\s+losses\s+whatsoever|any\s+and\s+all\s+(?:losses|damages|"
    r"liabilities)\s+(?:of\s+any\s+kind|whatsoever)|without\s+(?:any\s+)?limit(?:ation)?\s+"
    r"(?:of|on|as\s+to)\s+(?:amount|liability)|liable\s+for\s+all\s+losses",
    re.IGNORECASE,
)
_LIABILITY_CAP = re.compile(
    r"不超过|不得超过|以[^。；]{0,20}为限|上限为|shall\s+not\s+exceed|limited\s+to|"
    r"capped\s+at|in\s+no\s+event",
    re.IGNORECASE,
)
_VAGUE_TIMING = re.compile(
    r"尽快|尽早|适时|另行协商|另行约定|另行商定|视情况|择期|待定|"
    r"as\s+soon\s+as\s+(?:possible|practicable)|in\s+due\s+course|to\s+be\s+agreed|"
    r"to\s+be\s+determined|at\s+a\s+later\s+date|when\s+convenient|from\s+time\s+to\s+time",
    re.IGNORECASE,
)
_PAYMENT_OR_DATE = re.compile(
    r"付款|支付|价款|货款|款项|租金|利息|还款|交货|交付|履行期限|日期|时间|"
    r"pay|invoice|fee|price|deliver|shipment|date|deadline",
    re.IGNORECASE,
)


def _contract(document: Document) -> Contract:
    return Contract(
        document=document,
        clauses=tuple(segment_clauses(document.text)),
        chinese=is_chinese(document.text),
    )


def _headings(text: str) -> Iterator[tuple[int, int, str, str, str]]:
    """Yield ``(line_start, body_start, style, marker, rest_of_line)`` per heading line."""
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        heading = _heading_style(stripped)
        if heading is not None:
            style, marker, rest = heading
            body_start = offset + len(line.rstrip()) - len(rest)
            yield offset + indent, body_start, style, marker, rest
        offset += len(line)


def _heading_style(line: str) -> tuple[str, str, str] | None:
    """Return ``(style, marker, rest)`` if ``line`` opens with a heading marker."""
    for style, pattern in _HEADING_STYLES:
        match = pattern.match(line)
        if match is None:
            continue
        marker = match.group(0).strip()
        rest = line[match.end() :].strip()
        if style == "decimal":
            marker = marker.rstrip(".、．)）")
            return f"decimal{marker.count('.')}", marker, rest
        return style, marker, rest.lstrip(".:：、 ")
    return None


def _title(marker: str, rest: str) -> str:
    """Return "marker + heading" for a heading line ("第八条 违约责任"), else the marker alone.

    A short line without closing punctuation is a heading; so is the text before a colon
    ("第八条 违约责任：……"). A line that is itself a sentence is titled by its marker.
    """
    if not rest:
        return marker
    joint = "" if marker.endswith("、") else " "
    limit = 20 if is_chinese(rest) else 40
    if len(rest) <= limit and rest[-1] not in "。；;.，,":
        return f"{marker}{joint}{rest}"
    labelled = re.match(rf"([^：:。；;，,]{{1,{limit}}})[：:]", rest)
    if labelled:
        return f"{marker}{joint}{labelled.group(1).strip()}"
    return marker


def _parent(clauses: list[Clause], level: int) -> int | None:
    for clause in reversed(clauses):
        if clause.level < level:
            return clause.index
    return None


def _at_will_termination_party(sentence: str) -> str | None:
    """Return who holds an at-will termination right in ``sentence``, or None.

    A right that follows a condition ("若乙方逾期付款的，甲方有权随时解除"; "If Buyer
    fails to pay, Seller may terminate") is a right for cause, not at will.
    """
    match = _ZH_AT_WILL.search(sentence)
    if match is None:
        match = _EN_AT_WILL.search(sentence)
        if match is None or not _EN_AT_WILL_MARKER.search(sentence, match.start()):
            return None
    groups = match.groupdict()
    party = groups.get("party") or groups.get("party2") or ""
    if _CONDITION.search(sentence, 0, match.start()):
        return None
    before = sentence[max(0, match.start() - 6) : match.end()]
    if _MUTUAL_PARTY.search(party) or _MUTUAL_PARTY.search(before):
        return _MUTUAL
    return re.sub(r"^the\s+", "", party, flags=re.IGNORECASE).strip()


def _damages_ratio(sentence: str, total: Decimal | None) -> Decimal | None:
    """Return the liquidated damages as a fraction of the contract total, if determinable."""
    percentages = percentages_in(sentence)
    if percentages:
        return max(percentages) / 100
    amount = largest_money_in(sentence)
    if amount is None or not total:
        return None
    return amount / total


def _liquidated_damages_finding(
    contract: Contract, span: tuple[int, int], ratio: Decimal
) -> dict[str, Any]:
    zh = contract.chinese
    percent = f"{(ratio * 100).quantize(Decimal('0.1')).normalize():f}%"
    return contract.finding(
        "excessive_liquidated_damages",
        HIGH,
        title="违约金过高" if zh else "Liquidated damages above 30% of the contract amount",
        explanation=(
            f"约定的违约金约为合同金额的{percent}，超过30%。依《民法典》第五百八十五条及司法"
            "实践，违约金超过造成损失的百分之三十的，一般可认定为过分高于损失，可能被请求调减。"
            if zh
            else f"The liquidated damages equal about {percent} of the contract amount, above "
            "30%; a court may treat them as a penalty and reduce them to the actual loss."
        ),
        suggestion=(
            "任何一方违约的，应向守约方支付合同总价款百分之十（10%）的违约金；"
            "违约金不足以弥补实际损失的，违约方应补足差额。"
            if zh
            else "The defaulting party shall pay liquidated damages equal to ten percent (10%) "
            "of the Contract Price, which the parties agree is a genuine pre-estimate of loss."
        ),
        span=span,
    )


def _summary(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = {HIGH: 0, MEDIUM: 0, LOW: 0}
    for finding in findings:
        counts[finding["severity"]] += 1
    return {**counts, "total": len(findings)}


def _finding_order(finding: dict[str, Any]) -> tuple[int, int]:
    citation = finding["citation"]
    return SEVERITY_ORDER[finding["severity"]], citation["start"] if citation else -1


def _decimal_or_none(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
