"""Document generation: contracts from data templates, and a civil complaint from an analysis.

A contract template is data (``litigation/templates_data/*.json``): a title, preamble lines,
clauses and signature lines with ``{{ variable }}`` placeholders, and the variables it
declares. Placeholders may apply a filter: ``{{ amount | rmb_upper }}`` writes an amount in
Chinese financial numerals (伍拾万元整), ``{{ amount | money }}`` as 500,000.00. A clause
with ``"when": "variable"`` appears only when that variable is given. Clauses are numbered
as they are rendered, so an omitted clause leaves no gap. Output is Markdown and DOCX bytes.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from docx import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates_data"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*(?:\|\s*([A-Za-z_]\w*)\s*)?\}\}")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_GROUP_UNITS = ("", "万", "亿", "万亿")
_ORDINAL_DIGITS = "零一二三四五六七八九"
MAX_AMOUNT = Decimal(10) ** 16


class GenerationError(ValueError):
    """A template or its variables cannot produce a document."""


class MissingVariables(GenerationError):
    """Required template variables were not provided; ``missing`` names them."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(f"missing required variables: {', '.join(self.missing)}")


class TemplateNotFound(GenerationError):
    """No template has the requested key."""


@dataclass(frozen=True)
class RenderedDocument:
    """A generated document: its title, numbered sections and closing lines."""

    title: str
    preamble: tuple[str, ...]
    sections: tuple[tuple[str, tuple[str, ...]], ...]
    closing: tuple[str, ...]


def list_templates() -> list[dict[str, Any]]:
    """Return ``{key, title, language, description, variables}`` for each shipped template."""
    return [
        {name: template[name] for name in ("key", "title", "language", "description", "variables")}
        for template in (load_template(path.stem) for path in sorted(TEMPLATES_DIR.glob("*.json")))
    ]


def load_template(key: str) -> dict[str, Any]:
    """Load the shipped template ``key`` ("loan_agreement", "sales_contract") and check it."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise TemplateNotFound(f"{key!r} is not a template key")
    path = TEMPLATES_DIR / f"{key}.json"
    if not path.is_file():
        raise TemplateNotFound(f"no template named {key!r}")
    template = json.loads(path.read_text(encoding="utf-8"))
    validate_template(template)
    return template


def validate_template(template: Mapping[str, Any]) -> None:
    """Check that a template is well formed and uses only the variables it declares.

    Raises ``GenerationError`` naming the offending field or placeholder.
    """
    for name in ("key", "title"):
        if not isinstance(template.get(name), str) or not template[name]:
            raise GenerationError(f"template {name!r} must be a non-empty string")
    declared = {variable["name"] for variable in _variables(template)}
    clauses = template.get("clauses")
    if not isinstance(clauses, list) or not clauses:
        raise GenerationError("template 'clauses' must be a non-empty list")
    for index, clause in enumerate(clauses):
        if not isinstance(clause, Mapping) or not clause.get("title") or "text" not in clause:
            raise GenerationError(f"clauses[{index}] needs a 'title' and a 'text'")
        if clause.get("when") is not None and clause["when"] not in declared:
            raise GenerationError(f"clauses[{index}].when names undeclared {clause['when']!r}")
    for text in _template_texts(template):
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) not in declared:
                raise GenerationError(f"placeholder {match.group(0)!r} names no declared variable")
            if match.group(2) and match.group(2) not in FILTERS:
                raise GenerationError(f"placeholder {match.group(0)!r} uses an unknown filter")


def generate_contract(
    template: Mapping[str, Any] | str, variables: Mapping[str, Any]
) -> tuple[bytes, str]:
    """Fill a template with ``variables`` and return ``(docx_bytes, markdown)``.

    ``template`` is a template dict or the key of a shipped one. Raises
    ``MissingVariables`` naming every required variable that is absent or blank.
    """
    loaded = load_template(template) if isinstance(template, str) else dict(template)
    if not isinstance(template, str):
        validate_template(loaded)
    values = _resolved_variables(loaded, variables)
    zh = loaded.get("language", "zh") == "zh"
    included = [
        clause
        for clause in loaded["clauses"]
        if not clause.get("when") or values.get(clause["when"])
    ]
    document = RenderedDocument(
        title=loaded["title"],
        preamble=tuple(fill(line, values) for line in loaded.get("preamble", [])),
        sections=tuple(
            (
                f"{_clause_number(position, zh=zh)} {clause['title']}",
                (fill(clause["text"], values),),
            )
            for position, clause in enumerate(included, start=1)
        ),
        closing=tuple(fill(line, values) for line in loaded.get("signature", [])),
    )
    return render_docx(document), render_markdown(document)


def draft_complaint(
    case_analysis_result: Mapping[str, Any], variables: Mapping[str, Any]
) -> tuple[bytes, str]:
    """Draft a civil complaint (民事起诉状) from a case analysis and return (docx, markdown).

    Required variables: ``plaintiff_name``, ``defendant_name``, ``court`` (e.g.
    "北京市朝阳区人民法院"), ``claims`` (a list of requests, or one per line) and
    ``filing_date`` (a date or ISO string; the engine never reads the clock). Optional:
    ``plaintiff_info`` / ``defendant_info`` (sex, birth date, address, ID number) and
    ``facts_and_reasons`` to replace the facts drafted from the analysis's timeline.
    """
    if case_analysis_result.get("kind") != "case_analysis":
        raise GenerationError("draft_complaint needs a case analysis result")
    required = ("plaintiff_name", "defendant_name", "court", "claims", "filing_date")
    missing = [name for name in required if _blank(variables.get(name))]
    if missing:
        raise MissingVariables(missing)
    claims = _claims(variables["claims"])
    facts = variables.get("facts_and_reasons")
    fact_lines = [str(facts)] if facts else _facts_and_reasons(case_analysis_result)
    document = RenderedDocument(
        title="民事起诉状",
        preamble=(
            _party_line("原告", variables["plaintiff_name"], variables.get("plaintiff_info")),
            _party_line("被告", variables["defendant_name"], variables.get("defendant_info")),
        ),
        sections=(
            ("诉讼请求", tuple(f"{number}. {claim}" for number, claim in enumerate(claims, 1))),
            ("事实与理由", tuple(fact_lines)),
        ),
        closing=(
            "此致",
            str(variables["court"]),
            f"具状人：{variables['plaintiff_name']}",
            chinese_date(variables["filing_date"]),
            *_attachments(case_analysis_result),
        ),
    )
    return render_docx(document), render_markdown(document)


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``{{ name }}`` / ``{{ name | filter }}`` in ``text`` with its value."""

    def replace(match: re.Match[str]) -> str:
        name, filter_name = match.group(1), match.group(2)
        value = values.get(name, "")
        if filter_name:
            return FILTERS[filter_name](_decimal(value, name))
        return value

    return _PLACEHOLDER.sub(replace, text)


def rmb_upper(amount: Decimal) -> str:
    """Write an amount of yuan in Chinese financial numerals: 100500 → 壹拾万零伍佰元整.

    Amounts are rounded to the fen; negative amounts and amounts of 10^16 or more are
    refused with ``GenerationError``.
    """
    amount = amount.quantize(Decimal("0.01"))
    if amount < 0 or amount >= MAX_AMOUNT:
        raise GenerationError(f"cannot write {amount} in Chinese numerals")
    integer = int(amount)
    jiao, fen = divmod(int((amount - integer) * 100), 10)
    words = _integer_upper(integer) + "元" if integer else ""
    if not jiao and not fen:
        return (words or "零元") + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif integer:
        words += "零"
    if fen:
        words += _DIGITS[fen] + "分"
    return words


def money(amount: Decimal) -> str:
    """Write an amount with thousands separators and two decimals: 500000 → 500,000.00."""
    return f"{amount.quantize(Decimal('0.01')):,.2f}"


FILTERS = {"rmb_upper": rmb_upper, "money": money}


def chinese_date(value: date | str) -> str:
    """Write a date the way Chinese court documents do: 2026年11月22日."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def render_markdown(document: RenderedDocument) -> str:
    """Render a generated document as Markdown."""
    lines = [f"# {document.title}", ""]
    for line in document.preamble:
        lines += [line, ""]
    for heading, paragraphs in document.sections:
        lines += [f"## {heading}", ""]
        for paragraph in paragraphs:
            lines += [paragraph, ""]
    for line in document.closing:
        lines += [line, ""]
    return "\n".join(lines).rstrip() + "\n"


def render_docx(document: RenderedDocument) -> bytes:
    """Render a generated document as DOCX bytes: a centred title, headed sections."""
    docx = DocxDocument()
    title = docx.add_heading(document.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in document.preamble:
        docx.add_paragraph(line)
    for heading, paragraphs in document.sections:
        docx.add_heading(heading, level=2)
        for paragraph in paragraphs:
            docx.add_paragraph(paragraph)
    for line in document.closing:
        docx.add_paragraph(line)
    buffer = io.BytesIO()
    docx.save(buffer)
    return buffer.getvalue()


def _variables(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    variables = template.get("variables")
    if not isinstance(variables, list):
        raise GenerationError("template 'variables' must be a list")
    for index, variable in enumerate(variables):
        if not isinstance(variable, Mapping) or not isinstance(variable.get("name"), str):
            raise GenerationError(f"variables[{index}] needs a 'name'")
    return variables


def _template_texts(template: Mapping[str, Any]) -> list[str]:
    return [
        *template.get("preamble", []),
        *(clause["text"] for clause in template["clauses"]),
        *(clause["title"] for clause in template["clauses"]),
        *template.get("signature", []),
    ]


def _resolved_variables(
    template: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, str]:
    """Return every declared variable's text, defaults applied; raise for missing ones."""
    values: dict[str, str] = {}
    missing = []
    for variable in _variables(template):
        name = variable["name"]
        given = variables.get(name)
        if _blank(given):
            given = variable.get("default")
        if _blank(given):
            if variable.get("required", False):
                missing.append(name)
            values[name] = ""
            continue
        values[name] = chinese_date(given) if isinstance(given, date) else str(given).strip()
        if variable.get("type") == "money":
            _decimal(values[name], name)
    if missing:
        raise MissingVariables(missing)
    return values


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str | list | tuple) and not value)
        or (isinstance(value, str) and not value.strip())
    )


def _decimal(value: str, name: str) -> Decimal:
    try:
        return Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise GenerationError(f"variable {name!r} must be a number, not {value!r}") from None


def _clause_number(position: int, *, zh: bool) -> str:
    return f"第{_ordinal(position)}条" if zh else f"{position}."


def _ordinal(number: int) -> str:
    """Write 1–99 in ordinary Chinese numerals for clause numbers: 12 → 十二."""
    tens, units = divmod(number, 10)
    if not tens:
        return _ORDINAL_DIGITS[units]
    head = "" if tens == 1 else _ORDINAL_DIGITS[tens]
    return f"{head}十{_ORDINAL_DIGITS[units] if units else ''}"


def _integer_upper(number: int) -> str:
    groups = []
    while number:
        number, group = divmod(number, 10_000)
        groups.append(group)
    words = ""
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            pending_zero = bool(words)
            continue
        if words and (pending_zero or group < 1000):
            words += "零"
        words += _group_upper(group) + _GROUP_UNITS[index]
        pending_zero = False
    return words


def _group_upper(group: int) -> str:
    words = ""
    zero = False
    for position in range(3, -1, -1):
        digit = group // 10**position % 10
        if digit == 0:
            zero = bool(words)
            continue
        if zero:
            words += "零"
            zero = False
        words += _DIGITS[digit] + _SMALL_UNITS[position]
    return words


def _claims(value: Any) -> list[str]:
    claims = value.splitlines() if isinstance(value, str) else list(value)
    cleaned = [str(claim).strip() for claim in claims if str(claim).strip()]
    if not cleaned:
        raise MissingVariables(["claims"])
    return cleaned


def _party_line(label: str, name: str, info: Any) -> str:
    return f"{label}：{name}，{info}" if info else f"{label}：{name}"


def _facts_and_reasons(result: Mapping[str, Any]) -> list[str]:
    """Draft the facts from the analysis: the relevant timeline, then the limitation."""
    titles = {str(item["document_id"]): item["title"] for item in result["documents"]}
    lines = [
        f"{chinese_date(entry['date'])}，{entry['description']}"
        f"（见{'、'.join(titles.get(str(doc), str(doc)) for doc in entry['document_ids'])}）"
        for entry in result["timeline"]
        if entry["kinds"]
    ]
    limitation = result["limitation"]
    if limitation["status"] in ("within", "expiring_soon"):
        lines.append(
            f"本案诉讼时效自{chinese_date(limitation['start_date'])}起算，"
            f"至{chinese_date(limitation['expiry_date'])}届满，原告起诉未超过诉讼时效期间。"
        )
    lines.append(
        "为维护原告的合法权益，依据《中华人民共和国民事诉讼法》第一百二十二条的规定，"
        "特向贵院提起诉讼，请依法判决。"
    )
    return lines


def _attachments(result: Mapping[str, Any]) -> tuple[str, ...]:
    evidence = [
        f"{number}. {item['title'] or item['document_id']}（{item['classification']['label']}）"
        for number, item in enumerate(result["documents"], 1)
    ]
    return ("附：1. 本诉状副本一份；2. 证据清单如下：", *evidence)
