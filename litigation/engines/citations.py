"""Citations and the plain document shape shared by every litigation engine.

Every conclusion an engine draws must point at the document and the exact span of text it
rests on, so that a lawyer can check it. ``Citation`` is that pointer; ``Document`` is the
plain input the engines read; ``sentence_spans`` cuts text into the sentences that findings
quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DocumentId = str | int

_SENTENCE_END = re.compile(r"[。！？；!?;]|\.(?=\s|$)|\n")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Document:
    """A document as the engines see it: an id, a title and its extracted text."""

    id: DocumentId
    title: str
    text: str


@dataclass(frozen=True)
class Citation:
    """A span ``text[start:end]`` of one document, with the quoted text for display."""

    document_id: DocumentId
    start: int
    end: int
    quote: str

    @classmethod
    def of(cls, document: Document, start: int, end: int) -> Citation:
        """Cite ``document.text[start:end]``, trimming surrounding whitespace from the span."""
        while start < end and document.text[start].isspace():
            start += 1
        while end > start and document.text[end - 1].isspace():
            end -= 1
        return cls(document.id, start, end, document.text[start:end])

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable form used in every engine result."""
        return {
            "document_id": self.document_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
        }


def as_document(value: Document | Mapping[str, Any]) -> Document:
    """Accept a ``Document`` or a ``{"id", "title", "text"}`` mapping and return a ``Document``.

    Raises ``ValueError`` naming a missing key and ``TypeError`` for text that is not a
    string, so a caller sees which input was malformed.
    """
    if isinstance(value, Document):
        return value
    for key in ("id", "text"):
        if key not in value:
            raise ValueError(f"document is missing {key!r}")
    if not isinstance(value["text"], str):
        raise TypeError("document 'text' must be a string")
    return Document(id=value["id"], title=str(value.get("title") or ""), text=value["text"])


def as_documents(values: Iterable[Document | Mapping[str, Any]]) -> list[Document]:
    """Convert every input document with ``as_document``, keeping their order."""
    return [as_document(value) for value in values]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of each non-blank sentence of ``text[start:end]``.

    A sentence ends at Chinese or Latin terminal punctuation, a semicolon or a line break;
    a full stop only ends a sentence when followed by whitespace, so "1.5" and "No.3" stay
    whole. Spans exclude surrounding whitespace and include the terminator.
    """
    end = len(text) if end is None else end
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        yield from _trimmed(text, cursor, match.end())
        cursor = match.end()
    yield from _trimmed(text, cursor, end)


def sentence_around(text: str, position: int) -> tuple[int, int]:
    """Return the span of the sentence of ``text`` that contains ``position``."""
    for start, end in sentence_spans(text):
        if start <= position < end:
            return start, end
    return position, position


def is_chinese(text: str) -> bool:
    """Return True if ``text`` is mostly Chinese, which selects the language of suggestions."""
    return len(_CJK.findall(text)) >= len(_LATIN.findall(text)) / 4


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end
