"""Tests for documents.engines.extract: type sniffing and text extraction per format."""

import io
import zipfile

import pytest
from docx import Document
from pypdf import PdfReader, PdfWriter

from documents.engines.errors import (
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    NoTextLayer,
    UnreadableDocument,
    UnsupportedDocumentType,
)
from documents.engines.extract import ExtractedDocument, PageSpan, decode_text, extract, sniff_type
from tests.documents.pdf_maker import make_pdf

GBK_CONTRACT = (
    "借款合同\n甲方：北京某某科技有限公司\n乙方：张三\n"
    "第一条 借款金额为人民币壹拾万元整。借款期限自二〇二四年三月一日起至二〇二五年二月二十八日止，"
    "年利率为百分之六，按月付息，到期还本。乙方逾期还款的，应按未还金额每日万分之五向甲方支付违约金。"
    "本合同一式两份，双方各执一份，自双方签字盖章之日起生效。如发生争议，双方应协商解决；"
    "协商不成的，任何一方均可向甲方所在地人民法院提起诉讼。特此立约，以资信守。"
)

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>判决书 - 某法院网</title></head>
<body>
<nav><ul><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li>
<li><a href="/about">关于我们</a></li></ul></nav>
<article>
<h1>张三诉李四借款合同纠纷案</h1>
<p>原告张三诉称，2023年1月1日被告向原告借款人民币十万元，约定于2023年12月31日前归还，但被告至今未还。</p>
<p>本院认为，合法的借贷关系受法律保护，被告应当按约定归还借款。</p>
</article>
<footer><p>版权所有 © 2024 某法院网 京ICP备12345号</p><a href="/privacy">隐私政策</a></footer>
</body></html>
"""


def _docx_bytes(build) -> bytes:
    document = Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- sniffing ----------------------------------------------------------------------------------


def test_sniff_type_trusts_content_over_the_file_name():
    assert sniff_type(make_pdf([["Hello"]]), "notes.txt") == "pdf"
    assert sniff_type(b"plain words", "scan.pdf") == "txt"
    assert sniff_type(ARTICLE_HTML.encode(), "page.txt") == "html"
    assert sniff_type(_docx_bytes(lambda d: d.add_paragraph("x")), "a.zip") == "docx"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "an executable"),
        (b"\x7fELF\x02\x01\x01", "an executable"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16, "save it as .docx"),
        (b"text\x00with\x00nuls", "binary data"),
    ],
)
def test_sniff_type_refuses_binary_formats_by_name(data, message):
    with pytest.raises(UnsupportedDocumentType, match=message) as caught:
        sniff_type(data, "contract.txt")
    assert caught.value.code == "unsupported_type"


def test_sniff_type_refuses_a_zip_that_is_not_a_word_document():
    with pytest.raises(UnsupportedDocumentType, match="ZIP archive that is not a Word document"):
        sniff_type(_zip_bytes({"readme.txt": b"hi"}), "contract.docx")


def test_markdown_needs_the_name_or_two_headings():
    one_heading = "# 1 号备注\n正文".encode()
    two_headings = "# 借款合同\n\n## 第一条\n正文".encode()
    assert sniff_type(one_heading, "notes.txt") == "txt"
    assert sniff_type(one_heading, "notes.md") == "md"
    assert sniff_type(two_headings, "notes") == "md"


# --- text ---------------------------------------------------------------------------------------


def test_short_gbk_contract_decodes_exactly():
    data = GBK_CONTRACT.encode("gbk")
    assert len(GBK_CONTRACT) == 199
    document = extract(data, "合同.txt")
    assert document == ExtractedDocument(
        kind="txt",
        text=GBK_CONTRACT,
        pages=(PageSpan(1, 0, len(GBK_CONTRACT)),),
        encoding="gb18030",
        title="借款合同",
    )


@pytest.mark.parametrize("sentence", ["合同已签订。", "甲方应付款", "本合同一式两份。"])
def test_a_single_gbk_sentence_is_not_misread_as_korean(sentence):
    assert decode_text(sentence.encode("gbk")) == (sentence, "gb18030")


def test_utf8_with_crlf_newlines_is_normalised():
    document = extract("第一行\r\n第二行\r第三行\n".encode(), "a.txt")
    assert document.text == "第一行\n第二行\n第三行\n"
    assert document.encoding == "utf-8"


def test_byte_order_marks_decide_the_encoding():
    assert decode_text("\ufeff甲方".encode("utf-16-le")) == ("甲方", "utf-16")
    assert decode_text("\ufeff甲方".encode()) == ("甲方", "utf-8-sig")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_western_eight_bit_text_falls_back_to_windows_1252(encoding):
    text = "The tenant shall pay the landlord on the first day of each month, ça va. Déjà vu."
    assert decode_text(text.encode(encoding)) == (text, "cp1252")


def test_big5_text_uses_the_detected_multi_byte_encoding():
    text = "本合同經雙方簽署後生效，雙方應誠實信用履行本合同約定之義務。" * 3
    decoded, encoding = decode_text(text.encode("big5"))
    assert (decoded, encoding) == (text, "big5")


def test_whitespace_only_text_is_an_empty_document():
    with pytest.raises(EmptyDocument) as caught:
        extract(b"  \n\r\n\t ", "blank.txt")
    assert caught.value.code == "empty_document"


def test_size_limit_is_enforced_before_reading():
    with pytest.raises(DocumentTooLarge, match="11 bytes; the limit is 10 bytes") as caught:
        extract(b"hello world", "a.txt", max_bytes=10)
    assert caught.value.code == "too_large"


def test_markdown_keeps_its_source_and_takes_the_first_heading_as_title():
    source = "前言\n\n# 借款合同 #\n\n## 第一条\n借款金额。\n"
    document = extract(source.encode(), "contract.md")
    assert (document.kind, document.text, document.title) == ("md", source, "借款合同")


# --- HTML ---------------------------------------------------------------------------------------


def test_html_yields_the_article_without_navigation_or_footer():
    document = extract(ARTICLE_HTML.encode(), "page.html")
    assert document.kind == "html"
    assert document.encoding == "utf-8"
    assert document.text == (
        "张三诉李四借款合同纠纷案\n"
        "原告张三诉称，2023年1月1日被告向原告借款人民币十万元，约定于2023年12月31日前归还，"
        "但被告至今未还。\n"
        "本院认为，合法的借贷关系受法律保护，被告应当按约定归还借款。"
    )
    assert document.pages == (PageSpan(1, 0, len(document.text)),)


def test_html_declared_gbk_charset_is_honoured():
    html = ARTICLE_HTML.replace('charset="utf-8"', 'charset="gbk"').replace(" © 2024", " 2024")
    document = extract(html.encode("gbk"), "page.html")
    assert document.encoding == "gb18030"
    assert document.text.startswith("张三诉李四借款合同纠纷案\n原告张三诉称")


def test_tiny_html_page_falls_back_to_all_visible_text():
    document = extract(b"<html><body><p>Hi there</p></body></html>", "tiny.html")
    assert document.text == "Hi there"


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_pages_are_joined_with_blank_lines_and_spans_are_exact():
    pdf = make_pdf(
        [
            ["Loan Agreement", "Party A: Acme Corp."],
            ["The borrower shall repay (in full) on March 1, 2024."],
            ["Signed."],
        ],
        title="Loan",
    )
    document = extract(pdf, "loan.pdf")
    assert document.text == (
        "Loan Agreement\nParty A: Acme Corp.\n\n"
        "The borrower shall repay (in full) on March 1, 2024.\n\n"
        "Signed."
    )
    assert document.pages == (PageSpan(1, 0, 34), PageSpan(2, 36, 88), PageSpan(3, 90, 97))
    assert [document.text[p.start : p.end] for p in document.pages] == [
        "Loan Agreement\nParty A: Acme Corp.",
        "The borrower shall repay (in full) on March 1, 2024.",
        "Signed.",
    ]
    assert (document.kind, document.title, document.encoding) == ("pdf", "Loan", None)


def test_chinese_pdf_text_layer_is_extracted_through_its_unicode_map():
    pdf = make_pdf(
        [
            ["借款合同", "甲方：北京某某科技有限公司"],
            ["乙方：张三", "借款金额：人民币壹拾万元整。"],
        ],
        cjk=True,
    )
    document = extract(pdf, "借款合同.pdf")
    assert document.text == (
        "借款合同\n甲方：北京某某科技有限公司\n\n乙方：张三\n借款金额：人民币壹拾万元整。"
    )
    assert document.pages == (PageSpan(1, 0, 18), PageSpan(2, 20, 40))
    assert document.title == "借款合同"


def test_blank_pdf_page_keeps_its_number_with_an_empty_span():
    document = extract(make_pdf([["First"], [], ["Third"]]), "gap.pdf")
    assert document.text == "First\n\nThird"
    assert document.pages == (PageSpan(1, 0, 5), PageSpan(2, 5, 5), PageSpan(3, 7, 12))
    assert document.title == "First"


def test_leading_blank_pdf_page_adds_no_separator():
    document = extract(make_pdf([[], ["Second"]]), "gap.pdf")
    assert document.text == "Second"
    assert document.pages == (PageSpan(1, 0, 0), PageSpan(2, 0, 6))


def test_pdf_without_text_layer_is_refused_with_ocr_advice():
    with pytest.raises(NoTextLayer, match=r"PDF has no text layer \(scanned\?\); OCR it first"):
        extract(make_pdf([[], []]), "scan.pdf")


def _encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Confidential terms"]]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_password_protected_pdf_is_refused():
    with pytest.raises(EncryptedDocument, match="password-protected") as caught:
        extract(_encrypted_pdf("secret"), "locked.pdf")
    assert caught.value.code == "encrypted"


def test_pdf_encrypted_only_against_editing_is_read():
    assert extract(_encrypted_pdf(""), "protected.pdf").text == "Confidential terms"


def test_truncated_pdf_is_unreadable():
    with pytest.raises(UnreadableDocument) as caught:
        extract(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "broken.pdf")
    assert caught.value.code == "unreadable"


# --- DOCX ---------------------------------------------------------------------------------------


def _contract_with_table(document):
    document.add_heading("借款合同", level=1)
    document.add_paragraph("甲方：北京某某科技有限公司")
    document.add_paragraph("")
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(
        table.rows,
        [
            ("期数", "日期", "金额"),
            ("1", "2024年3月1日", "¥50,000"),
            ("2", "2024年9月1日", "¥50,000"),
        ],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("第二条 逾期还款的，按日计息。")


def test_docx_renders_tables_where_they_stand_one_row_per_line():
    document = extract(_docx_bytes(_contract_with_table), "contract.docx")
    assert document.text == (
        "借款合同\n"
        "甲方：北京某某科技有限公司\n"
        "期数 | 日期 | 金额\n"
        "1 | 2024年3月1日 | ¥50,000\n"
        "2 | 2024年9月1日 | ¥50,000\n"
        "第二条 逾期还款的，按日计息。"
    )
    assert (document.kind, document.tables, document.title) == ("docx", 1, "借款合同")
    assert document.pages == (PageSpan(1, 0, len(document.text)),)


def test_docx_merged_cells_appear_once():
    def build(document):
        table = document.add_table(rows=2, cols=3)
        merged = table.cell(0, 0).merge(table.cell(0, 2))
        merged.text = "还款计划"
        for cell, value in zip(table.rows[1].cells, ("1", "2", "3"), strict=True):
            cell.text = value

    document = extract(_docx_bytes(build), "plan.docx")
    assert document.text == "还款计划\n1 | 2 | 3"


def test_docx_with_no_text_is_empty():
    with pytest.raises(EmptyDocument):
        extract(_docx_bytes(lambda d: d.add_paragraph("   ")), "blank.docx")
