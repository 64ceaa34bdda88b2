"""Reports: Markdown, HTML and DOCX renderings of engine results."""

from __future__ import annotations

import io
from datetime import date

import docx
import pytest

from litigation.engines.assessment import analyze_case
from litigation.engines.contract_review import review_contract
from litigation.engines.report import build_report, render_docx, render_html, render_markdown
from tests.fixtures.litigation import load_document, load_loan_case


@pytest.fixture(scope="module")
def case_result() -> dict:
    return analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=date(2026, 11, 22)
    )


@pytest.fixture(scope="module")
def review_result() -> dict:
    return review_contract(load_document("sales_contract_en_risky.txt"))


def test_case_report_has_the_sections_a_lawyer_reads(case_result):
    headings = [section["heading"] for section in build_report(case_result)["sections"]]

    assert headings == [
        "概要 / Overview",
        "当事人 / Parties",
        "时间线 / Timeline",
        "证据分类 / Evidence",
        "要件与证据 / Elements and evidence",
        "证据缺口 / Gaps",
        "证据清单 / Checklist",
        "诉讼时效 / Limitation",
        "案件强度 / Strength",
        "风险 / Risks",
    ]


def test_markdown_shows_quotes_with_their_source(case_result):
    markdown = render_markdown(case_result)

    assert markdown.startswith("# 案件分析报告 / Case analysis\n")
    assert "## 时间线 / Timeline" in markdown
    assert (
        "  > 「乙方应于2023年2月28日前一次性归还全部借款本金及利息。」 — 01\\_借款合同，第316–346字"
        in markdown
    )
    assert "| 02\\_银行转账记录 | 银行流水 / Bank record | 9 |" in markdown


def test_contract_review_markdown_lists_findings_with_suggestions(review_result):
    markdown = render_markdown(review_result)

    assert "高风险 3 项，中风险 4 项，低风险 0 项 / 7 findings" in markdown
    quote = "Seller may terminate this Agreement at any time for any reason by written notice"
    assert f"「{quote} to Buyer.」" in markdown
    assert "Either party may terminate this Agreement for convenience" in markdown


def test_html_escapes_document_text():
    review = review_contract(
        {
            "id": "x",
            "title": "<script>alert(1)</script>",
            "text": "1. Pay\nPayment shall be made as soon as possible <b>after</b> delivery.\n",
        }
    )

    page = render_html(review)

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;after&lt;/b&gt;" in page
    assert page.startswith("<!DOCTYPE html>")


def test_markdown_escapes_layout_characters():
    review = review_contract(
        {"id": "x", "title": "A | B *bold*", "text": "1. Pay\nPay as soon as possible.\n"}
    )

    assert "A \\| B \\*bold\\*" in render_markdown(review)


def test_docx_opens_and_carries_the_report(case_result):
    document = docx.Document(io.BytesIO(render_docx(case_result)))

    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    assert paragraphs[0] == "案件分析报告 / Case analysis"
    assert "诉讼时效 / Limitation" in paragraphs
    assert any("「今借到张伟人民币伍拾万元整" in text for text in paragraphs)
    assert document.tables[0].rows[1].cells[0].text == "01_借款合同"


def test_a_prebuilt_report_renders_the_same_as_its_result(review_result):
    assert render_markdown(build_report(review_result)) == render_markdown(review_result)


def test_an_unknown_result_kind_is_refused():
    with pytest.raises(ValueError, match="'nonsense'"):
        build_report({"kind": "nonsense"})
