"""Turn uploaded bytes into plain text: PDF, DOCX, HTML, Markdown and plain text.

The type is decided from the content, never from the file name alone: a ``.pdf`` that is
really a PNG is refused, and a ``.txt`` that is really a PDF is read as a PDF. The name only
separates Markdown from plain text, which the bytes cannot tell apart reliably.

Text comes out with ``\\n`` newlines. Paged formats (PDF) join their pages with a blank line
and record where each page lies in the text, so later chunks can cite pages.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import trafilatura
from charset_normalizer import from_bytes
from charset_normalizer.utils import is_multi_byte_encoding
from docx import Document as open_docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from documents.engines.errors import (
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    NoTextLayer,
    UnreadableDocument,
    UnsupportedDocumentType,
)

__all__ = ["DocumentKind", "ExtractedDocument", "PageSpan", "decode_text", "extract", "sniff_type"]


class DocumentKind(StrEnum):
    """The kinds ``sniff_type`` returns; members are plain strings ("pdf", "docx"...)."""

    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "md"
    TEXT = "txt"


@dataclass(frozen=True)
class PageSpan:
    """Where page ``number`` (1-based) lies in the extracted text: ``text[start:end]``."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class ExtractedDocument:
    """The text of a document and what was learnt while reading it.

    ``pages`` holds one span per page; formats without pages have a single span covering the
    whole text. ``encoding`` is set for text-based formats (txt, md, html), ``tables`` counts
    the tables rendered into the text (DOCX), ``title`` is the document's own title if any.
    """

    kind: DocumentKind
    text: str
    pages: tuple[PageSpan, ...]
    encoding: str | None = None
    title: str | None = None
    tables: int = 0


def sniff_type(data: bytes, filename: str = "") -> DocumentKind:
    """Return the kind of document ``data`` holds: "pdf", "docx", "html", "md" or "txt".

    Decided by content: ``%PDF-`` is a PDF, a ZIP holding ``word/document.xml`` is a DOCX,
    markup that opens with a doctype or ``<html>``/``<head>``/``<body>`` is HTML, and anything
    that decodes as text is text. Text is Markdown when the name ends in ``.md`` or
    ``.markdown``, or when it has at least two ATX headings (``# 标题``) — one ``#`` line
    alone is too often a numbered note. Raises ``UnsupportedDocumentType`` for anything else,
    naming the format when it is a well-known one (images, executables, legacy ``.doc``).
    """
    head = data[:8]
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return DocumentKind.PDF
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(data)
    _refuse_known_binary(data)
    if _looks_like_html(data):
        return DocumentKind.HTML
    text, _ = decode_text(data)
    if _is_markdown(text, filename):
        return DocumentKind.MARKDOWN
    return DocumentKind.TEXT


def extract(data: bytes, filename: str = "", *, max_bytes: int | None = None) -> ExtractedDocument:
    """Return the text of ``data`` with its pages, encoding and title.

    Raises a ``DocumentRejected`` subclass when the document cannot be used: unsupported type,
    a PDF without a text layer, an unreadable file, more than ``max_bytes``, or no text at all.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentTooLarge(f"Document is {len(data)} bytes; the limit is {max_bytes} bytes.")
    kind = sniff_type(data, filename)
    document = _EXTRACTORS[kind](data)
    if not document.text.strip():
        raise EmptyDocument("The document contains no text.")
    return document


# ---------------------------------------------------------------------------------------------
# Sniffing
# ---------------------------------------------------------------------------------------------

_KNOWN_BINARIES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls); save it as .docx"),
    (b"{\\rtf", "an RTF file; save it as .docx"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x1f\x8b", "a gzip archive"),
)


def _refuse_known_binary(data: bytes) -> None:
    for magic, description in _KNOWN_BINARIES:
        if data.startswith(magic):
            raise UnsupportedDocumentType(f"Unsupported document: this is {description}.")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise UnsupportedDocumentType("Unsupported document: this is a WebP image.")


def _sniff_zip(data: bytes) -> DocumentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument(f"The ZIP container is damaged: {exc}.") from exc
    if "word/document.xml" in names:
        return DocumentKind.DOCX
    if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
        raise UnsupportedDocumentType("Unsupported document: spreadsheets and slides are not read.")
    raise UnsupportedDocumentType(
        "Unsupported document: a ZIP archive that is not a Word document; "
        "import archives through the bulk import instead."
    )


_HTML_START = re.compile(
    rb"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.S
)
_HTML_TAG = re.compile(rb"<(?:html|head|body)[\s>]")


def _looks_like_html(data: bytes) -> bool:
    """Return True if the first kilobyte is HTML markup (any ASCII-compatible encoding)."""
    head = data[:1024]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return bool(_HTML_START.match(head)) or (head.startswith(b"<") and bool(_HTML_TAG.search(head)))


_ATX_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.M)


def _is_markdown(text: str, filename: str) -> bool:
    if filename.lower().endswith((".md", ".markdown")):
        return True
    return len(_ATX_HEADING.findall(text)) >= 2


# ---------------------------------------------------------------------------------------------
# Text decoding
# ---------------------------------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CHINESE_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "hz_gb_2312", "cp936"}


def decode_text(data: bytes) -> tuple[str, str]:
    """Return ``data`` decoded with newlines normalised, and the encoding used.

    In order: a byte-order mark; strict UTF-8; GB18030 when it decodes cleanly into common
    Chinese (GB2312) characters; charset-normalizer's guess when it is a multi-byte encoding
    (Big5, Shift_JIS...); Windows-1252; the detector's single-byte guess; GB18030 with
    replacement characters. The fallbacks follow the WHATWG locale defaults (GBK for Chinese,
    windows-1252 otherwise) because the detector is unreliable on short input: it reads a GBK
    sentence as Korean cp949 and a French one as mac_roman. This project's documents are
    Chinese first, so Korean EUC-KR text would be misread as GB18030; that is accepted.
    Raises ``UnsupportedDocumentType`` for binary data.
    """
    text, encoding = _decode(data)
    if _is_binary(text):
        raise UnsupportedDocumentType("Unsupported document: binary data, not text.")
    return _normalise_newlines(text), encoding


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    if b"\x00" in data[:8192]:
        raise UnsupportedDocumentType("Unsupported document: binary data, not text.")
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    chinese = _plausible_gb18030(data)
    if chinese is not None:
        return chinese, "gb18030"
    guess = from_bytes(data).best()
    if guess is not None and guess.encoding in _CHINESE_FAMILY:
        return data.decode("gb18030", errors="replace"), "gb18030"
    if guess is not None and is_multi_byte_encoding(guess.encoding):
        return str(guess), guess.encoding
    western = _strict(data, "cp1252")
    if western is not None:
        return western, "cp1252"
    if guess is not None:
        return str(guess), guess.encoding
    return data.decode("gb18030", errors="replace"), "gb18030"


def _strict(data: bytes, encoding: str) -> str | None:
    """Return ``data`` decoded without any replacement, or None if it is not valid there."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _plausible_gb18030(data: bytes) -> str | None:
    """Return the GB18030 reading of ``data`` if it is clean, mostly common Chinese, else None.

    Western 8-bit text often decodes as GBK too, but into rare characters outside GB2312;
    requiring 90% of the non-ASCII characters to be in GB2312 tells the two apart.
    """
    text = _strict(data, "gb18030")
    if text is None:
        return None
    wide = [ch for ch in text if ord(ch) > 0x7F]
    common = sum(1 for ch in wide if _in_gb2312(ch))
    return text if wide and common >= 0.9 * len(wide) else None


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_binary(text: str) -> bool:
    """Return True if more than 1% of the characters are control codes no text uses."""
    sample = text[:65536]
    return bool(sample) and len(_CONTROL.findall(sample)) > len(sample) / 100


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _one_page(text: str) -> tuple[PageSpan, ...]:
    return (PageSpan(1, 0, len(text)),)


def _first_line_title(text: str) -> str | None:
    """Return the first non-blank line as a title when it is short enough to be one."""
    for line in text.split("\n"):
        candidate = line.strip().lstrip("#").strip()
        if candidate:
            return candidate if len(candidate) <= 100 else None
    return None


# ---------------------------------------------------------------------------------------------
# Extractors
# ---------------------------------------------------------------------------------------------


def _extract_text(data: bytes) -> ExtractedDocument:
    text, encoding = decode_text(data)
    return ExtractedDocument(
        DocumentKind.TEXT, text, _one_page(text), encoding, _first_line_title(text)
    )


_ATX_TITLE = re.compile(r"^#{1,6}[ \t]+(\S.*)$", re.M)


def _extract_markdown(data: bytes) -> ExtractedDocument:
    text, encoding = decode_text(data)
    heading = _ATX_TITLE.search(text)
    title = heading.group(1).strip().rstrip("#").strip() if heading else _first_line_title(text)
    return ExtractedDocument(DocumentKind.MARKDOWN, text, _one_page(text), encoding, title)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)


def _extract_html(data: bytes) -> ExtractedDocument:
    markup, encoding = _decode_html(data)
    found = trafilatura.bare_extraction(
        markup,
        favor_precision=True,
        include_tables=True,
        include_comments=False,
        with_metadata=True,
    )
    text = _normalise_newlines(found.text or "") if found else ""
    title = found.title if found else None
    if not text.strip():
        # Tiny pages fall below trafilatura's thresholds; take all visible text instead.
        text = _normalise_newlines(trafilatura.html2txt(markup) or "")
    text = text.strip()
    return ExtractedDocument(DocumentKind.HTML, text, _one_page(text), encoding, title or None)


def _decode_html(data: bytes) -> tuple[str, str]:
    """Decode markup with the charset it declares, else as text of unknown encoding."""
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        encoding = declared.group(1).decode("ascii").lower()
        if encoding in _CHINESE_FAMILY:
            encoding = "gb18030"
        try:
            return _normalise_newlines(data.decode(encoding)), encoding
        except (LookupError, UnicodeDecodeError):
            pass  # an unknown or wrong declaration: pages lie, so sniff like plain text
    return decode_text(data)


def _extract_pdf(data: bytes) -> ExtractedDocument:
    reader = _open_pdf(data)
    texts = [_page_text(page) for page in reader.pages]
    if not any(texts):
        raise NoTextLayer("PDF has no text layer (scanned?); OCR it first.")
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, page_text in enumerate(texts, start=1):
        if page_text and offset:
            parts.append("\n\n")
            offset += 2
        spans.append(PageSpan(number, offset, offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    title = reader.metadata.title if reader.metadata else None
    text = "".join(parts)
    return ExtractedDocument(
        DocumentKind.PDF, text, tuple(spans), None, title or _first_line_title(text)
    )


def _open_pdf(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument("The PDF is password-protected; remove the password first.")
        return reader
    except DependencyError as exc:
        raise EncryptedDocument(f"The PDF is encrypted with an unsupported method: {exc}.") from exc
    except (PyPdfError, ValueError) as exc:
        raise UnreadableDocument(f"The PDF cannot be read: {exc}.") from exc


def _page_text(page: PageObject) -> str:
    """Return a page's text with newlines normalised and outer blank space removed."""
    try:
        text = page.extract_text() or ""
    except (PyPdfError, ValueError) as exc:
        raise UnreadableDocument(f"A PDF page cannot be read: {exc}.") from exc
    return _normalise_newlines(text).strip()


_TABLE_CELL_SEPARATOR = " | "


def _extract_docx(data: bytes) -> ExtractedDocument:
    try:
        document = open_docx(io.BytesIO(data))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UnreadableDocument(f"The Word document cannot be read: {exc}.") from exc
    lines: list[str] = []
    tables = 0
    for block in _body_blocks(document):
        if isinstance(block, Table):
            tables += 1
            lines.extend(_table_lines(block))
        elif block.text.strip():
            lines.append(block.text)
    text = _normalise_newlines("\n".join(lines))
    title = document.core_properties.title or _docx_heading(document) or _first_line_title(text)
    return ExtractedDocument(DocumentKind.DOCX, text, _one_page(text), None, title, tables)


def _body_blocks(document: DocxDocument) -> list[Paragraph | Table]:
    """Return the body's paragraphs and tables in document order."""
    blocks: list[Paragraph | Table] = []
    for element in document.element.body.iterchildren():
        if element.tag == qn("w:p"):
            blocks.append(Paragraph(element, document))
        elif element.tag == qn("w:tbl"):
            blocks.append(Table(element, document))
    return blocks


def _table_lines(table: Table) -> list[str]:
    """Return one line per row, its cells joined by `` | ``; merged cells appear once."""
    lines = []
    for row in table.rows:
        cells = []
        seen = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(_TABLE_CELL_SEPARATOR.join(cells))
    return lines


def _docx_heading(document: DocxDocument) -> str | None:
    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        if style == "Title" or style.startswith("Heading"):
            return paragraph.text.strip() or None
    return None


_EXTRACTORS: dict[DocumentKind, Callable[[bytes], ExtractedDocument]] = {
    DocumentKind.PDF: _extract_pdf,
    DocumentKind.DOCX: _extract_docx,
    DocumentKind.HTML: _extract_html,
    DocumentKind.MARKDOWN: _extract_markdown,
    DocumentKind.TEXT: _extract_text,
}
