"""Write small, valid PDF files by hand, so extraction tests need no PDF library to build input.

Each page holds lines of text (one ``Tj`` per line, the next line reached with ``T*``) set in
Helvetica, or with ``cjk=True`` in a composite (Type0, Identity-H) font whose ToUnicode CMap
maps each two-byte code to the character with that code point, which is how real Chinese PDFs
make their text extractable. A page given no lines is blank, which is what a scan without OCR
looks like to a text extractor. Cross-reference offsets are computed, so readers need no repair.
"""


def make_pdf(pages: list[list[str]], *, title: str | None = None, cjk: bool = False) -> bytes:
    """Return the bytes of a PDF with one page per item of ``pages``, each a list of lines."""
    page_count = len(pages)
    # Object numbers: 1 catalog, 2 page tree, 3 font, then a (page, content) pair per page,
    # and the info dictionary last.
    first_page = 4
    page_ids = [first_page + 2 * i for i in range(page_count)]
    info_id = first_page + 2 * page_count
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{kids}] /Count {page_count} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    if cjk:
        descendant, cmap = info_id + 1, info_id + 2
        objects[3] = (
            b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
            b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (descendant, cmap)
        )
        objects[descendant] = (
            b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo "
            b"<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>"
        )
        objects[cmap] = _stream(_to_unicode_cmap({ch for lines in pages for ch in "".join(lines)}))
    for page_id, lines in zip(page_ids, pages, strict=True):
        content = _content_stream(lines, cjk)
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = _stream(content)
    objects[info_id] = b"<< /Title (%s) >>" % _escape(title) if title else b"<< >>"
    return _serialise(objects, info_id)


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _content_stream(lines: list[str], cjk: bool) -> bytes:
    if not lines:
        return b""
    body = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
    for i, line in enumerate(lines):
        if i:
            body.append(b"T*")
        if cjk:
            body.append(b"<%s> Tj" % "".join(f"{ord(ch):04X}" for ch in line).encode())
        else:
            body.append(b"(%s) Tj" % _escape(line))
    body.append(b"ET")
    return b"\n".join(body)


def _to_unicode_cmap(characters: set[str]) -> bytes:
    mappings = [f"<{ord(ch):04X}> <{ord(ch):04X}>" for ch in sorted(characters)]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(mappings), 100):
        block = mappings[start : start + 100]
        lines += [f"{len(block)} beginbfchar", *block, "endbfchar"]
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode()


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _serialise(objects: dict[int, bytes], info_id: int) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (size, info_id)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
