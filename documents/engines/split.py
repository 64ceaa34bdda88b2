"""Split text into overlapping chunks that end at natural boundaries.

A chunk ends at the furthest boundary of the strongest kind that fits in ``chunk_size``:
a paragraph break (blank line), then a line break, then a sentence end (Chinese 。！？；
and English . ! ? followed by a space, each with any closing quotes or brackets), then a
clause mark (，、：, ; :), then a space. Only when none of those fits is the chunk cut hard.
The next chunk starts inside the previous one, at most ``chunk_overlap`` characters back,
on the strongest boundary found there, so the repeated context begins at a sentence or line.

Every chunk is an exact slice of the input (``chunk.text == text[chunk.start:chunk.end]``),
chunks come in order, cover every character, and never exceed ``chunk_size``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Chunk", "split_text"]


@dataclass(frozen=True)
class Chunk:
    """A slice of a document; pages are 1-based and None when no pages were given."""

    index: int
    text: str
    start: int
    end: int
    page_start: int | None
    page_end: int | None


class PageLike(Protocol):
    """What the splitter needs of a page: its number and its offsets into the text."""

    @property
    def number(self) -> int: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


def split_text(
    text: str,
    *,
    chunk_size: int = 1000,
    chunk_overlap: int = 200,
    pages: Sequence[PageLike] | None = None,
) -> list[Chunk]:
    """Return ``text`` cut into chunks of at most ``chunk_size`` characters.

    Raises ``ValueError`` unless ``chunk_size >= 1`` and ``0 <= chunk_overlap < chunk_size``.
    ``pages`` (such as ``ExtractedDocument.pages``) give each chunk its first and last page.
    """
    _validate(chunk_size, chunk_overlap)
    boundaries = _Boundaries(text)
    locate = _PageLocator(pages)
    chunks: list[Chunk] = []
    start = previous_end = 0
    while previous_end < len(text):
        end = _chunk_end(boundaries, start, previous_end, chunk_size, len(text))
        page_start, page_end = locate(start), locate(end - 1)
        chunks.append(Chunk(len(chunks), text[start:end], start, end, page_start, page_end))
        previous_end = end
        if end < len(text):
            start = _next_start(boundaries, start, end, chunk_overlap)
    return chunks


def _validate(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if chunk_overlap < 0:
        raise ValueError(f"chunk_overlap must not be negative, got {chunk_overlap}")
    if chunk_overlap >= chunk_size:
        raise ValueError(
            f"chunk_overlap must be smaller than chunk_size ({chunk_size}), got {chunk_overlap}"
        )


def _chunk_end(boundaries: _Boundaries, start: int, floor: int, size: int, length: int) -> int:
    """Return where the chunk from ``start`` ends: beyond ``floor``, within ``size``.

    ``floor`` is the end of the previous chunk; ending past it guarantees progress.
    """
    limit = min(start + size, length)
    if limit == length:
        return length
    return boundaries.last_strongest(floor + 1, limit) or limit


def _next_start(boundaries: _Boundaries, start: int, end: int, overlap: int) -> int:
    """Return where the chunk after ``[start, end)`` starts, overlapping it by <= ``overlap``.

    The overlap starts on the strongest boundary in its window, as early as possible there.
    """
    if overlap == 0:
        return end
    lowest = max(end - overlap, start + 1)
    if lowest >= end:
        return end
    found = boundaries.first_strongest(lowest, end - 1)
    if found is not None:
        return found
    # No boundary to start the overlap on: after a clean cut, go on without overlap rather than
    # start mid-word; after a hard cut (a sentence longer than a chunk) keep the context.
    return end if end in boundaries.all else lowest


# Boundary positions are offsets where a new piece may start, i.e. just after the separator.
# Strength decides which one a cut prefers; within one strength, the furthest that fits.
_BOUNDARY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n[ \t\u3000]*\n\s*"),
    re.compile(r"\n(?![ \t\u3000]*\n)"),
    re.compile(r"[。！？；!?;][”’」』）)\"'\]]*[ \t\u3000]*|\.[”’\"')\]]*(?:[ \t\u3000]+|(?=\n))"),
    re.compile(r"[，、：,:][ \t\u3000]*"),
    re.compile(r"[ \t\u3000]+"),
)


class _Boundaries:
    """Boundary offsets of one text, sorted per strength (strongest first)."""

    def __init__(self, text: str) -> None:
        self.levels: list[list[int]] = [
            sorted({m.end() for m in pattern.finditer(text) if 0 < m.end() < len(text)})
            for pattern in _BOUNDARY_PATTERNS
        ]
        self.all: set[int] = set().union(*self.levels)

    def last_strongest(self, low: int, high: int) -> int | None:
        """Return the furthest offset in ``[low, high]`` of the strongest kind present."""
        for offsets in self.levels:
            i = bisect_right(offsets, high)
            if i and offsets[i - 1] >= low:
                return offsets[i - 1]
        return None

    def first_strongest(self, low: int, high: int) -> int | None:
        """Return the earliest offset in ``[low, high]`` of the strongest kind present."""
        for offsets in self.levels:
            i = bisect_left(offsets, low)
            if i < len(offsets) and offsets[i] <= high:
                return offsets[i]
        return None


class _PageLocator:
    """Map a text offset to the page holding it.

    Text between two pages (the separator) belongs to the page before; empty pages hold no
    text, so no offset maps to them.
    """

    def __init__(self, pages: Sequence[PageLike] | None) -> None:
        ordered = sorted((p for p in pages or () if p.end > p.start), key=lambda p: p.start)
        self.starts = [page.start for page in ordered]
        self.numbers = [page.number for page in ordered]

    def __call__(self, offset: int) -> int | None:
        if not self.starts:
            return None
        i = bisect_right(self.starts, offset) - 1
        return self.numbers[max(i, 0)]
