"""Tokens for full-text search of Chinese and English, and highlighted result snippets.

Neither PostgreSQL's ``simple`` configuration nor SQLite FTS5 can segment Chinese, which has
no spaces between words. So the index column holds the text pre-segmented by jieba, tokens
separated by spaces, and queries are segmented the same way: both databases then match
Chinese words as they match English ones.

The index uses jieba's search mode, which emits a long word and the shorter words inside
it (``中华人民共和国`` also gives ``人民``, ``共和国``); the query uses the precise mode, so
each query word is one that the index holds. Text is NFKC-normalised and tokens case-folded.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache

import jieba

__all__ = ["cut_words", "highlight", "tokenize_for_index", "tokenize_query"]

# Words of the trade jieba's general dictionary splits apart; kept whole so a search for
# 借款合同 matches the phrase, while search mode still indexes 借款 and 合同 inside it.
LEGAL_VOCABULARY = (
    "出借人",
    "借款合同",
    "买卖合同",
    "租赁合同",
    "劳动合同",
    "保证合同",
    "违约责任",
    "连带责任",
    "仲裁委员会",
    "人民法院",
    "判决书",
    "裁定书",
    "起诉状",
    "答辩状",
    "第三人",
    "被上诉人",
    "被申请人",
    "被执行人",
    "用人单位",
    "劳动者",
    "买受人",
    "出卖人",
    "承租人",
    "出租人",
)

# Function words that add nothing to a query; dropped unless the query has nothing else.
_QUERY_STOP_WORDS = frozenset("的 了 和 与 及 或 在 是 之 the a an of and or to in on for".split())


def tokenize_for_index(text: str) -> str:
    """Return ``text`` as space-separated search tokens for a full-text index column."""
    return " ".join(_normalised(_tokenizer().cut_for_search(_nfkc(text))))


def tokenize_query(query: str) -> list[str]:
    """Return the distinct tokens of a search query, in order, for an AND match."""
    tokens = list(dict.fromkeys(_normalised(_tokenizer().cut(_nfkc(query)))))
    meaningful = [token for token in tokens if token not in _QUERY_STOP_WORDS]
    return meaningful or tokens


def cut_words(text: str) -> list[str]:
    """Return the words of ``text`` (jieba precise mode with the legal vocabulary), as written."""
    return list(_tokenizer().cut(text))


def highlight(text: str, terms: Iterable[str], *, max_len: int = 240) -> str:
    """Return an HTML snippet of ``text`` around the first match, matches in ``<mark>``.

    At most ``max_len`` characters of ``text`` are shown, an ellipsis marks a cut, runs of
    whitespace become one space, and everything but the ``<mark>`` tags is HTML-escaped.
    Terms match case-insensitively; with no match the snippet is the start of the text.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    pattern = _terms_pattern(terms)
    match = pattern.search(text) if pattern else None
    start, end = _window(len(text), match, max_len)
    body = _marked(text[start:end], pattern)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


@cache
def _tokenizer() -> jieba.Tokenizer:
    """Return the shared tokenizer, loading jieba's dictionary on first use."""
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for word in LEGAL_VOCABULARY:
        tokenizer.add_word(word)
    return tokenizer


def _nfkc(text: str) -> str:
    """Return ``text`` in NFKC form: full-width letters and digits become ASCII before cutting.

    jieba cuts full-width letters one by one, so ``Ｌｏａｎ`` must become ``Loan`` first.
    """
    return unicodedata.normalize("NFKC", text)


def _normalised(tokens: Iterable[str]) -> Iterator[str]:
    """Yield tokens case-folded, dropping spaces and punctuation."""
    for token in tokens:
        token = token.casefold().strip()
        if any(ch.isalnum() for ch in token):
            yield token


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """Return a case-insensitive pattern for the terms, longest first, or None if no terms."""
    words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def _window(length: int, match: re.Match[str] | None, max_len: int) -> tuple[int, int]:
    """Return the slice of at most ``max_len`` characters centred on ``match``."""
    if match is None:
        return 0, min(length, max_len)
    before = max((max_len - (match.end() - match.start())) // 2, 0)
    start = max(match.start() - before, 0)
    end = min(start + max_len, length)
    return max(end - max_len, 0), end


_WHITESPACE = re.compile(r"\s+")


def _marked(snippet: str, pattern: re.Pattern[str] | None) -> str:
    """Return the snippet HTML-escaped with every match wrapped in ``<mark>``."""
    parts: list[str] = []
    position = 0
    for match in pattern.finditer(snippet) if pattern else ():
        parts.append(_escaped(snippet[position : match.start()]))
        parts.append(f"<mark>{_escaped(match.group())}</mark>")
        position = match.end()
    parts.append(_escaped(snippet[position:]))
    return "".join(parts)


def _escaped(text: str) -> str:
    return html.escape(_WHITESPACE.sub(" ", text))
