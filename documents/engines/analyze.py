"""Describe a text: its language, its size, its key terms and the legal entities in it.

The result is a JSON-serialisable dict, stored as the outcome of an analysis task and shown
as is, so every value is a str, int, float, list or dict (amounts are decimal strings, dates
ISO 8601).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from documents.engines.entities import find_case_numbers, find_dates, find_money, find_parties
from documents.engines.search import cut_words

__all__ = ["analyze_text", "detect_language"]

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_WORD = re.compile(f"^[{_CJK}]{{2,}}$")
_ENGLISH_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_SENTENCE_END = re.compile(r"[。！？!?]+[”’」』）)\"']*|\.(?=\s|$)|\n")
_HAS_CONTENT = re.compile(rf"[A-Za-z0-9{_CJK}]")

# A Chinese word averages about 1.5 characters; weighing CJK characters by it compares the
# two languages in words, so a contract quoting a few English names still counts as Chinese.
_CHARACTERS_PER_CHINESE_WORD = 1.5
_DOMINANT_SHARE = 0.8

CHINESE_STOP_WORDS = frozenset(
    """
    我们 你们 他们 她们 它们 自己 这个 那个 这些 那些 这样 那样 这里 那里 什么 怎么 如何
    以及 或者 如果 但是 因为 所以 因此 并且 而且 还是 就是 不是 只是 也是 都是 即使 虽然
    根据 按照 依照 进行 没有 可以 应当 应该 已经 一个 一些 其他 其中 之间 之后 之前 以后
    以前 有关 相关 以上 以下 不得 不能 同时 通过 对于 关于 由于 为了 是否 有的 并未 未能
    之日起 本人 其它 若干 上述 下列 如下 该等 任何 所有 各自 一方 双方 第一 第二
    """.split()
)
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just may me might more most must my myself no nor not now of off on once only or
    other our ours ourselves out over own same shall she should so some such than that the
    their theirs them themselves then there these they this those through to too under until
    up upon very was we were what when where which while who whom why will with within without
    would you your yours yourself yourselves hereby herein hereof hereto thereof therein
    """.split()
)


def analyze_text(text: str, *, top_terms: int = 20) -> dict[str, Any]:
    """Return the language, counts, ``top_terms`` key terms and entities of ``text``.

    Counts: ``characters`` (all), ``cjk_characters``, ``words`` (jieba words plus English
    words), ``sentences`` (runs ended by a terminator or a line break that hold a letter,
    digit or Chinese character) and ``paragraphs`` (non-blank lines: extracted documents put
    one paragraph on each line).
    """
    words = cut_words(text)
    chinese_words = [w for w in words if _CJK_WORD.match(w)]
    english_words = _ENGLISH_WORD.findall(text)
    cjk_characters = len(_CJK_CHAR.findall(text))
    return {
        "language": detect_language(text),
        "counts": {
            "characters": len(text),
            "cjk_characters": cjk_characters,
            "words": sum(1 for w in words if _CJK_CHAR.search(w)) + len(english_words),
            "sentences": _count_sentences(text),
            "paragraphs": sum(1 for line in text.split("\n") if line.strip()),
        },
        "key_terms": _key_terms(chinese_words, english_words, top_terms),
        "dates": [m.as_dict() for m in find_dates(text)],
        "money": [m.as_dict() for m in find_money(text)],
        "parties": [m.as_dict() for m in find_parties(text)],
        "case_numbers": [m.as_dict() for m in find_case_numbers(text)],
    }


def detect_language(text: str) -> str:
    """Return "zh", "en", "mixed", or "unknown" for text with neither Chinese nor English.

    The Chinese share is CJK characters (counted as words, see above) against English
    words; 80% or more of either side names the language, anything between is mixed.
    """
    chinese = len(_CJK_CHAR.findall(text)) / _CHARACTERS_PER_CHINESE_WORD
    english = len(_ENGLISH_WORD.findall(text))
    if chinese + english == 0:
        return "unknown"
    share = chinese / (chinese + english)
    if share >= _DOMINANT_SHARE:
        return "zh"
    if share <= 1 - _DOMINANT_SHARE:
        return "en"
    return "mixed"


def _count_sentences(text: str) -> int:
    pieces = _SENTENCE_END.split(text)
    return sum(1 for piece in pieces if _HAS_CONTENT.search(piece))


def _key_terms(chinese: list[str], english: list[str], top: int) -> list[dict[str, Any]]:
    """Return the ``top`` most frequent content words, ties broken alphabetically."""
    counts = Counter(w for w in chinese if w not in CHINESE_STOP_WORDS)
    counts.update(
        w for w in (word.lower() for word in english) if len(w) > 2 and w not in ENGLISH_STOP_WORDS
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"term": term, "count": count} for term, count in ranked[:top]]
