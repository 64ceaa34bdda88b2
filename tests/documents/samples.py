"""Small real documents made by the tests: PDF with a text layer, DOCX with a table, a GBK
text file, an HTML page with boilerplate, a scanned (textless) PDF."""

import io

from docx import Document

from tests.documents.pdf_maker import make_pdf

CONTRACT_ZH = (
    "借款合同\n"
    "甲方：北京某某科技有限公司\n"
    "乙方：张三\n"
    "第一条 借款金额为人民币壹拾万元整。借款期限自2024年3月1日起至2025年2月28日止。\n"
    "第二条 乙方逾期还款的，应承担违约责任。"
    "争议由北京市第一中级人民法院管辖，案号(2023)京01民初123号。\n"
)

LEASE_EN = (
    "Lease Agreement\n\n"
    "The Tenant shall pay rent of $5,000.00 on March 1, 2024. "
    "The Landlord may terminate the lease after a material breach.\n\n"
    "Disputes go to arbitration in Singapore."
)

HTML_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>判决书 - 某法院网</title></head>
<body>
<nav><ul><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li></ul></nav>
<article>
<h1>张三诉李四借款合同纠纷案</h1>
<p>原告张三诉称，2023年1月1日被告向原告借款人民币十万元，约定于2023年12月31日前归还，但被告至今未还。</p>
<p>本院认为，合法的借贷关系受法律保护，被告应当按约定归还借款。</p>
</article>
<footer><p>版权所有 © 2024 某法院网 京ICP备12345号</p></footer>
</body></html>
"""


def gbk_text() -> bytes:
    return CONTRACT_ZH.encode("gbk")


def pdf_two_pages() -> bytes:
    return make_pdf(
        [["Loan Agreement", "The Borrower repays the loan."], ["Page two: arbitration clause."]],
        title="Loan Agreement",
    )


def scanned_pdf() -> bytes:
    return make_pdf([[]])


def docx_with_table() -> bytes:
    document = Document()
    document.add_heading("Evidence List", level=1)
    document.add_paragraph("Items submitted by the plaintiff.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Item"
    table.cell(0, 1).text = "Purpose"
    table.cell(1, 0).text = "Loan contract"
    table.cell(1, 1).text = "Proves the loan"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
