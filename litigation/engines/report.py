"""Reports: turn an engine result into a neutral report structure, then Markdown, HTML or DOCX.

``build_report`` knows the result kinds (case analysis, contract review, risk assessment,
evidence analysis) and lays each out as sections of blocks — paragraphs, lists whose items
carry their citations, tables. The three renderers only know blocks, so every format shows
the same content, and every quoted span is shown with the document and offsets it came from.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from docx import Document as DocxDocument
from docx.shared import Pt, RGBColor

Block = dict[str, Any]
Section = dict[str, Any]
Report = dict[str, Any]

SEVERITY_LABELS = {"high": "高 / High", "medium": "中 / Medium", "low": "低 / Low"}
STATUS_LABELS = {
    "supported": "已证明 / Supported",
    "weak": "证据薄弱 / Weak",
    "missing": "缺失 / Missing",
    "within": "时效内 / Within the period",
    "expiring_soon": "即将届满 / Expiring soon",
    "expired": "已届满 / Expired",
    "unknown": "无法判断 / Unknown",
}


def build_report(result: Mapping[str, Any]) -> Report:
    """Return ``{title, subtitle, sections: [{heading, blocks}]}`` for an engine result.

    Blocks are ``{"type": "paragraph", "text"}``, ``{"type": "list", "items": [{text,
    citations}]}`` and ``{"type": "table", "columns", "rows"}``.
    """
    builders: dict[str, Callable[[Mapping[str, Any]], Report]] = {
        "case_analysis": _case_analysis_report,
        "contract_review": _contract_review_report,
        "risk_assessment": _risk_report,
        "evidence_analysis": _evidence_report,
    }
    kind = result.get("kind")
    if kind not in builders:
        raise ValueError(f"cannot build a report for result kind {kind!r}")
    return builders[kind](result)


def render_markdown(result_or_report: Mapping[str, Any]) -> str:
    """Render a result (or a report from ``build_report``) as Markdown."""
    report = _as_report(result_or_report)
    lines = [f"# {_md(report['title'])}", ""]
    if report.get("subtitle"):
        lines += [_md(report["subtitle"]), ""]
    for section in report["sections"]:
        lines += [f"## {_md(section['heading'])}", ""]
        for block in section["blocks"]:
            lines += _markdown_block(block, report)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_html(result_or_report: Mapping[str, Any]) -> str:
    """Render a result (or report) as a standalone HTML page; every text is escaped."""
    report = _as_report(result_or_report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(report['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}"
        "blockquote{color:#444;border-left:3px solid #ccc;margin:.3em 0 .3em 1em;"
        "padding-left:.6em}</style>",
        "</head><body>",
        f"<h1>{html.escape(report['title'])}</h1>",
    ]
    if report.get("subtitle"):
        parts.append(f"<p>{html.escape(report['subtitle'])}</p>")
    for section in report["sections"]:
        parts.append(f"<section><h2>{html.escape(section['heading'])}</h2>")
        parts.extend(_html_block(block, report) for block in section["blocks"])
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_docx(result_or_report: Mapping[str, Any]) -> bytes:
    """Render a result (or report) as a Word document and return its bytes."""
    report = _as_report(result_or_report)
    document = DocxDocument()
    document.add_heading(report["title"], level=0)
    if report.get("subtitle"):
        document.add_paragraph(report["subtitle"])
    for section in report["sections"]:
        document.add_heading(section["heading"], level=1)
        for block in section["blocks"]:
            _docx_block(document, block, report)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def citation_source(citation: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    """Return "title, chars start–end" naming where a citation's quote comes from."""
    name = titles.get(str(citation["document_id"])) or str(citation["document_id"])
    span = f"{citation['start']}–{citation['end']}"
    return f"{name}，第{span}字 / chars {span}"


def _as_report(value: Mapping[str, Any]) -> Report:
    if "sections" in value and "title" in value:
        return dict(value)
    if "report" in value and isinstance(value["report"], Mapping):
        return dict(value["report"])
    return build_report(value)


def _paragraph(text: str) -> Block:
    return {"type": "paragraph", "text": text}


def _items(items: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> Block:
    return {
        "type": "list",
        "items": [
            {"text": text, "citations": [dict(c) for c in citations if c]}
            for text, citations in items
        ],
    }


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Block:
    return {
        "type": "table",
        "columns": list(columns),
        "rows": [["" if cell is None else str(cell) for cell in row] for row in rows],
    }


def _titles(result: Mapping[str, Any]) -> dict[str, str]:
    documents = result.get("documents") or []
    titles = {str(item["document_id"]): item.get("title") or "" for item in documents}
    if result.get("kind") == "contract_review":
        titles[str(result["document_id"])] = result.get("title") or ""
    return titles


def _case_analysis_report(result: Mapping[str, Any]) -> Report:
    strength = result["strength"]
    overview = [
        _paragraph(f"分析包 / Package：{result['package']['name']}"),
        _paragraph(
            f"诉讼地位 / Position：{result['position']}；分析基准日 / As of：{result['today']}"
        ),
        _paragraph(
            f"案件强度 / Strength：{strength['score']}/100（{strength['label']}）；"
            f"诉讼时效 / Limitation：{STATUS_LABELS[result['limitation']['status']]}"
        ),
    ]
    if result.get("user_input"):
        overview.append(_paragraph(f"案情简述 / Summary：{result['user_input']}"))
    sections = [
        {"heading": "概要 / Overview", "blocks": overview},
        {"heading": "当事人 / Parties", "blocks": [_parties_block(result["parties"])]},
        {"heading": "时间线 / Timeline", "blocks": [_timeline_block(result["timeline"])]},
        *_evidence_sections(result),
        {"heading": "诉讼时效 / Limitation", "blocks": _limitation_blocks(result["limitation"])},
        {"heading": "案件强度 / Strength", "blocks": _strength_blocks(strength)},
        {"heading": "风险 / Risks", "blocks": [_risks_block(result["risks"])]},
    ]
    return {
        "title": "案件分析报告 / Case analysis",
        "subtitle": result["package"]["name"],
        "sections": sections,
        "titles": _titles(result),
    }


def _contract_review_report(result: Mapping[str, Any]) -> Report:
    summary = result["summary"]
    findings = [
        (
            f"[{SEVERITY_LABELS[finding['severity']]}] {finding['title']}"
            + (f"（{finding['clause_title']}）" if finding["clause_title"] else "")
            + f"：{finding['explanation']} 建议修改 / Suggested text：{finding['suggestion']}",
            [finding["citation"]] if finding["citation"] else [],
        )
        for finding in result["findings"]
    ]
    return {
        "title": f"合同审查报告 / Contract review：{result['title']}",
        "subtitle": (
            f"高风险 {summary['high']} 项，中风险 {summary['medium']} 项，"
            f"低风险 {summary['low']} 项 / {summary['total']} findings"
        ),
        "sections": [
            {
                "heading": "审查意见 / Findings",
                "blocks": [
                    _items(findings) if findings else _paragraph("未发现风险条款。 / No findings.")
                ],
            },
            {
                "heading": "条款结构 / Clauses",
                "blocks": [
                    _table(
                        ["#", "条款 / Clause", "层级 / Level"],
                        [
                            (clause["index"] + 1, clause["title"], clause["level"])
                            for clause in result["clauses"]
                        ],
                    )
                ],
            },
        ],
        "titles": _titles(result),
    }


def _risk_report(result: Mapping[str, Any]) -> Report:
    return {
        "title": "风险评估报告 / Risk assessment",
        "subtitle": f"{result['package']['name']}；诉讼地位 / Position：{result['position']}",
        "sections": [
            {"heading": "风险 / Risks", "blocks": [_risks_block(result["risks"])]},
            {
                "heading": "诉讼时效 / Limitation",
                "blocks": _limitation_blocks(result["limitation"]),
            },
        ],
        "titles": _titles(result),
    }


def _evidence_report(result: Mapping[str, Any]) -> Report:
    return {
        "title": "证据分析报告 / Evidence analysis",
        "subtitle": result["package"]["name"],
        "sections": _evidence_sections(result),
        "titles": _titles(result),
    }


def _evidence_sections(result: Mapping[str, Any]) -> list[Section]:
    documents = result["documents"]
    classification_rows = [
        (
            item["title"] or item["document_id"],
            item["classification"]["label"],
            item["classification"]["score"],
            "；".join(feature["feature"] for feature in item["classification"]["features"]),
        )
        for item in documents
    ]
    proves = [
        (f"{item['title'] or item['document_id']}：{fact['fact']}", fact["citations"][:2])
        for item in documents
        for fact in item["proves"]
    ]
    elements = [
        (
            f"{element['name']}：{STATUS_LABELS[element['status']]}"
            + "".join(
                f"；{_title_of(result, support['document_id'])} 得分 {support['explanation']}"
                for support in element["supports"]
            ),
            element["supports"][0]["citations"][:2] if element["supports"] else [],
        )
        for element in result["evidence_map"]
    ]
    gaps = [
        (
            f"{gap['name']}（{'必备' if gap['required'] else '可选'} / "
            f"{'required' if gap['required'] else 'optional'}）：{STATUS_LABELS[gap['status']]}；"
            f"建议补充 / Suggested：{'、'.join(gap['suggested_evidence'])}",
            [],
        )
        for gap in result["gaps"]
    ]
    checklist = result["checklist"]
    return [
        {
            "heading": "证据分类 / Evidence",
            "blocks": [
                _table(
                    ["文件 / Document", "类别 / Kind", "得分 / Score", "依据 / Features"],
                    classification_rows,
                ),
                _items(proves) if proves else _paragraph("—"),
            ],
        },
        {"heading": "要件与证据 / Elements and evidence", "blocks": [_items(elements)]},
        {
            "heading": "证据缺口 / Gaps",
            "blocks": [
                _items(gaps)
                if gaps
                else _paragraph("各要件均有证据支持。 / Every element is supported.")
            ],
        },
        {
            "heading": "证据清单 / Checklist",
            "blocks": [
                _paragraph(
                    f"完成度 / Completeness：{round(checklist['completeness'] * 100)}%；"
                    f"必备项 / Required：{round(checklist['required_completeness'] * 100)}%"
                ),
                _table(
                    ["证据 / Evidence", "必备 / Required", "已提供 / Provided"],
                    [
                        (
                            item["name"],
                            "是 / yes" if item["required"] else "否 / no",
                            "✓" if item["present"] else "✗",
                        )
                        for item in checklist["items"]
                    ],
                ),
            ],
        },
    ]


def _title_of(result: Mapping[str, Any], document_id: Any) -> str:
    return _titles(result).get(str(document_id)) or str(document_id)


def _parties_block(parties: Sequence[Mapping[str, Any]]) -> Block:
    if not parties:
        return _paragraph("未识别到当事人。 / No parties found.")
    return _items(
        [(f"{party['label']}：{party['name']}", [party["citation"]]) for party in parties]
    )


def _timeline_block(timeline: Sequence[Mapping[str, Any]]) -> Block:
    if not timeline:
        return _paragraph("未找到带日期的事件。 / No dated events.")
    return _items(
        [(f"{entry['date']} {entry['description']}", entry["citations"]) for entry in timeline]
    )


def _limitation_blocks(limitation: Mapping[str, Any]) -> list[Block]:
    blocks = [
        _paragraph(
            f"状态 / Status：{STATUS_LABELS[limitation['status']]}；"
            f"期间 / Period：{limitation['period_days']} 日；"
            f"起算 / From：{limitation['start_date'] or '—'}；"
            f"届满 / Ends：{limitation['expiry_date'] or '—'}；"
            f"剩余 / Days left：{_or_dash(limitation['days_remaining'])}"
        )
    ]
    if limitation.get("basis"):
        blocks.append(_paragraph(f"依据 / Basis：{limitation['basis']}"))
    blocks.append(
        _items([(reason["text"], [reason["citation"]]) for reason in limitation["reasons"]])
    )
    return blocks


def _strength_blocks(strength: Mapping[str, Any]) -> list[Block]:
    return [
        _paragraph(
            f"得分 / Score：{strength['score']}/100"
            f"（{strength['label']}，{strength['perspective']}）"
        ),
        _items(
            [
                (f"{reason['delta']:+g}　{reason['text']}", reason["citations"])
                for reason in strength["reasons"]
            ]
        ),
    ]


def _risks_block(risks: Sequence[Mapping[str, Any]]) -> Block:
    if not risks:
        return _paragraph("未发现风险。 / No risks found.")
    return _items(
        [
            (
                f"[{SEVERITY_LABELS[risk['severity']]}] {risk['title']}：{risk['reason']}",
                [risk["citation"]],
            )
            for risk in risks
        ]
    )


def _or_dash(value: Any) -> str:
    return "—" if value is None else str(value)


def _md(text: str) -> str:
    """Escape the Markdown characters that would otherwise change the layout of ``text``."""
    escaped = text.replace("\\", "\\\\")
    for char in "`*_[]<>|#":
        escaped = escaped.replace(char, f"\\{char}")
    return " ".join(escaped.split())


def _markdown_block(block: Block, report: Report) -> list[str]:
    titles = report.get("titles", {})
    if block["type"] == "paragraph":
        return [_md(block["text"])]
    if block["type"] == "list":
        lines = []
        for item in block["items"]:
            lines.append(f"- {_md(item['text'])}")
            lines.extend(
                f"  > 「{_md(citation['quote'])}」 — {_md(citation_source(citation, titles))}"
                for citation in item["citations"]
            )
        return lines
    header = "| " + " | ".join(_md(column) for column in block["columns"]) + " |"
    divider = "|" + "---|" * len(block["columns"])
    rows = ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block["rows"]]
    return [header, divider, *rows]


def _html_block(block: Block, report: Report) -> str:
    titles = report.get("titles", {})
    if block["type"] == "paragraph":
        return f"<p>{html.escape(block['text'])}</p>"
    if block["type"] == "list":
        items = []
        for item in block["items"]:
            quotes = "".join(
                f"<blockquote>「{html.escape(citation['quote'])}」"
                f"<cite>{html.escape(citation_source(citation, titles))}</cite></blockquote>"
                for citation in item["citations"]
            )
            items.append(f"<li>{html.escape(item['text'])}{quotes}</li>")
        return "<ul>" + "".join(items) + "</ul>"
    head = "".join(f"<th>{html.escape(column)}</th>" for column in block["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in block["rows"]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _docx_block(document: Any, block: Block, report: Report) -> None:
    titles = report.get("titles", {})
    if block["type"] == "paragraph":
        document.add_paragraph(block["text"])
        return
    if block["type"] == "list":
        for item in block["items"]:
            document.add_paragraph(item["text"], style="List Bullet")
            for citation in item["citations"]:
                quote = document.add_paragraph(style="Quote")
                quote.add_run(f"「{citation['quote']}」")
                source = quote.add_run(f" — {citation_source(citation, titles)}")
                source.font.size = Pt(8)
                source.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        return
    table = document.add_table(rows=1, cols=len(block["columns"]))
    table.style = "Table Grid"
    for cell, column in zip(table.rows[0].cells, block["columns"], strict=True):
        cell.text = column
    for row in block["rows"]:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value
