"""Find legal entities in Chinese and English text: dates, money, case numbers and parties.

Each finder returns frozen dataclasses in text order. ``text`` is always exactly
``source[start:end]``; ``value`` is the normalised form (a ``datetime.date``, a ``Decimal``
amount, a canonical case number, a party name). Overlapping candidates are resolved by keeping
the one that starts first, and among those the longest, so a span is reported once.

Full-width digits (``２０２４``) are read like ASCII digits; the translation keeps every
character in place, so offsets stay valid for the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

__all__ = [
    "CaseNumberMention",
    "DateMention",
    "MoneyMention",
    "PartyMention",
    "find_case_numbers",
    "find_dates",
    "find_money",
    "find_parties",
    "parse_chinese_numeral",
]


@dataclass(frozen=True)
class DateMention:
    """A calendar date written in the text; ``value`` is the date it names."""

    text: str
    start: int
    end: int
    value: date

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-safe dict, the date in ISO 8601."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value.isoformat(),
        }


@dataclass(frozen=True)
class MoneyMention:
    """An amount of money; ``value`` is the exact amount, ``currency`` an ISO 4217 code."""

    text: str
    start: int
    end: int
    value: Decimal
    currency: str

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-safe dict, the amount as a decimal string (no float rounding)."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": str(self.value),
            "currency": self.currency,
        }


@dataclass(frozen=True)
class CaseNumberMention:
    """A court case number; ``value`` is its canonical spelling.

    Chinese case numbers are normalised to full-width parentheses with no spaces, the form the
    courts publish: ``（2023）京01民初123号``. English docket numbers are kept as written.
    """

    text: str
    start: int
    end: int
    value: str
    year: int | None

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-safe dict."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "year": self.year,
        }


@dataclass(frozen=True)
class PartyMention:
    """A party named in a contract or pleading.

    The span covers the name only; ``label`` is the role as written (``甲方``, ``Plaintiff``)
    and ``role`` its canonical key (``party_a``, ``plaintiff``), shared by both languages.
    """

    text: str
    start: int
    end: int
    value: str
    role: str
    label: str

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-safe dict."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "role": self.role,
            "label": self.label,
        }


class _Span(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


_M = TypeVar("_M", bound=_Span)


def _without_overlaps(mentions: Iterable[_M]) -> list[_M]:
    """Keep mentions in text order, dropping any that overlaps one already kept."""
    kept: list[_M] = []
    for mention in sorted(mentions, key=lambda m: (m.start, -(m.end - m.start))):
        if not kept or mention.start >= kept[-1].end:
            kept.append(mention)
    return kept


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _ascii_digits(text: str) -> str:
    """Translate full-width digits to ASCII, one character for one, so offsets are kept."""
    return text.translate(_FULLWIDTH_DIGITS)


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_CN_DATE = re.compile(
    r"(?<!\d)(?P<y>\d{4})[ \u3000]*年[ \u3000]*(?P<m>\d{1,2})[ \u3000]*月"
    r"[ \u3000]*(?P<d>\d{1,2})[ \u3000]*[日号]"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\d.])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d)"
)
_HAN_DIGIT = "〇零○Ｏ一二三四五六七八九"
_HAN_DATE = re.compile(
    rf"(?P<y>[{_HAN_DIGIT}]{{4}})年"
    r"(?P<m>十[一二]?|[一二三四五六七八九])月"
    r"(?P<d>三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])[日号]"
)
_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
_EN_MONTH_FIRST = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(?P<y>\d{{4}})\b", re.IGNORECASE | re.ASCII)
_EN_DAY_FIRST = re.compile(
    rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(?P<y>\d{{4}})\b", re.IGNORECASE | re.ASCII
)


def find_dates(text: str) -> list[DateMention]:
    """Return the calendar dates written in ``text``, in order.

    Understood: ``2024年3月1日``, ``二〇二四年三月一日``, ``2024-03-01``, ``2024/3/1``,
    ``2024.3.1``, ``March 1, 2024``, ``Mar. 1, 2024``, ``1 March 2024``, ``1st of March, 2024``.
    Ambiguous all-numeric orders such as ``03/01/2024`` are deliberately not read, and
    impossible dates (``2023年2月30日``) are skipped.
    """
    digits = _ascii_digits(text)
    found: list[DateMention] = []
    for pattern in (_CN_DATE, _NUMERIC_DATE):
        for match in pattern.finditer(digits):
            found.extend(
                _date_mention(text, match, int(match["y"]), int(match["m"]), int(match["d"]))
            )
    for match in _HAN_DATE.finditer(digits):
        year = int("".join(str(_han_digit(ch)) for ch in match["y"]))
        month, day = _han_small_number(match["m"]), _han_small_number(match["d"])
        found.extend(_date_mention(text, match, year, month, day))
    for pattern in (_EN_MONTH_FIRST, _EN_DAY_FIRST):
        for match in pattern.finditer(digits):
            if not match["mon"][0].isupper():
                continue  # "may 1, 2024" is more likely the verb than the month
            month = _MONTHS[match["mon"][:3].lower()]
            found.extend(_date_mention(text, match, int(match["y"]), month, int(match["d"])))
    return _without_overlaps(found)


def _date_mention(
    text: str, match: re.Match[str], year: int, month: int, day: int
) -> Iterator[DateMention]:
    """Yield the mention for a match when it names a real date, nothing otherwise."""
    try:
        value = date(year, month, day)
    except ValueError:
        return
    yield DateMention(text[match.start() : match.end()], match.start(), match.end(), value)


def _han_digit(ch: str) -> int:
    return 0 if ch in "〇零○Ｏ" else "一二三四五六七八九".index(ch) + 1


def _han_small_number(word: str) -> int:
    """Read a Chinese number below one hundred written with 十 (``二十一`` → 21)."""
    if "十" not in word:
        return _han_digit(word)
    tens, _, units = word.partition("十")
    return (_han_digit(tens) if tens else 1) * 10 + (_han_digit(units) if units else 0)


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------

_CURRENCY_WORDS = {
    "人民币": "CNY",
    "RMB": "CNY",
    "CNY": "CNY",
    "¥": "CNY",
    "￥": "CNY",
    "元": "CNY",
    "圆": "CNY",
    "US$": "USD",
    "$": "USD",
    "USD": "USD",
    "美元": "USD",
    "DOLLAR": "USD",
    "DOLLARS": "USD",
    "EUR": "EUR",
    "€": "EUR",
    "欧元": "EUR",
    "GBP": "GBP",
    "£": "GBP",
    "英镑": "GBP",
    "HK$": "HKD",
    "HKD": "HKD",
    "港元": "HKD",
    "港币": "HKD",
    "JPY": "JPY",
    "日元": "JPY",
}
_MULTIPLIERS = {
    "千": Decimal(1000),
    "万": Decimal(10_000),
    "萬": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "億": Decimal(100_000_000),
    "万亿": Decimal(10**12),
    "THOUSAND": Decimal(1000),
    "MILLION": Decimal(1_000_000),
    "BILLION": Decimal(1_000_000_000),
}
_HSPACE = r"[ \t\u00a0\u3000]*"
_ARABIC_MONEY = re.compile(
    r"(?:(?P<prefix>人民币|US\$|HK\$|\b(?:RMB|CNY|USD|EUR|GBP|HKD|JPY)|[¥￥$€£])" + _HSPACE + r")?"
    r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d,]*\d)"
    r"(?:" + _HSPACE + r"(?P<unit>万亿|[千万萬亿億]|(?i:thousand|million|billion)\b))?"
    r"(?:" + _HSPACE + r"(?P<suffix>美元|欧元|港元|港币|英镑|日元|元"
    r"|\b(?:RMB|CNY|USD|EUR|GBP|HKD|JPY)\b|(?i:dollars?)\b))?",
    re.ASCII,
)
_CN_NUMERALS = "零〇壹贰貳叁參肆伍陆陸柒捌玖拾佰仟万萬亿億两一二三四五六七八九十百千"
_CN_LEADING = "零〇壹贰貳叁參肆伍陆陸柒捌玖拾两一二三四五六七八九十"
_UPPERCASE_NUMERALS = set("壹贰貳叁參肆伍陆陸柒捌玖拾佰仟")
_CN_MONEY = re.compile(
    r"(?:(?P<prefix>人民币|RMB)"
    + _HSPACE
    + r"(?:[（(]大写[）)]"
    + _HSPACE
    + r"[：:]?"
    + _HSPACE
    + r")?)?"
    rf"(?<![数几])(?P<int>[{_CN_LEADING}][{_CN_NUMERALS}]*)(?P<cur>美元|欧元|港元|港币|英镑|日元|元|圆)"
    rf"(?:(?P<jiao>[{_CN_NUMERALS}])角)?(?:(?P<fen>[{_CN_NUMERALS}])分)?(?P<whole>[整正])?"
)


def find_money(text: str) -> list[MoneyMention]:
    """Return the amounts of money written in ``text``, in order.

    Understood: ``¥1,000,000``, ``人民币100万元``, ``1000000元``, ``1.5亿元``,
    ``人民币壹佰万元整`` and ``伍仟元伍角``, ``两万元``, ``$5,000.00``, ``USD 5,000``,
    ``RMB 5,000``, ``EUR 2 million``, ``300美元``. A bare number is not money: a currency sign,
    code or word must be written next to it. Lower-case Chinese numerals count only with a
    unit such as 万 or after 人民币, so ``统一元数据`` is not read as one yuan.
    """
    digits = _ascii_digits(text)
    found = [*_arabic_money(text, digits), *_chinese_money(text)]
    return _without_overlaps(found)


def _arabic_money(text: str, digits: str) -> Iterator[MoneyMention]:
    for match in _ARABIC_MONEY.finditer(digits):
        prefix, suffix, unit = match["prefix"], match["suffix"], match["unit"]
        if not prefix and not suffix:
            continue
        amount = Decimal(match["num"].replace(",", ""))
        if unit:
            amount *= _MULTIPLIERS[unit.upper()]
        currency = _CURRENCY_WORDS[(prefix or suffix).upper()]
        start, end = match.start(), match.end()
        yield MoneyMention(text[start:end], start, end, amount, currency)


def _chinese_money(text: str) -> Iterator[MoneyMention]:
    for match in _CN_MONEY.finditer(text):
        numerals = match["int"]
        if not match["prefix"] and not _looks_like_amount(numerals):
            continue
        try:
            amount = Decimal(parse_chinese_numeral(numerals))
        except ValueError:
            continue
        if match["jiao"]:
            amount += Decimal(parse_chinese_numeral(match["jiao"])) / 10
        if match["fen"]:
            amount += Decimal(parse_chinese_numeral(match["fen"])) / 100
        start, end = match.start(), match.end()
        yield MoneyMention(text[start:end], start, end, amount, _CURRENCY_WORDS[match["cur"]])


def _looks_like_amount(numerals: str) -> bool:
    """Return True if numerals without a currency prefix are plausibly an amount.

    Financial numerals always are; ordinary ones need a unit, which keeps ``统一元数据`` out
    while ``两万元`` stays in.
    """
    return bool(_UPPERCASE_NUMERALS.intersection(numerals) or _CN_UNITS.intersection(numerals))


_CN_UNITS = set("十百千万萬亿億")
_NUMERAL_DIGITS = {
    **dict.fromkeys("零〇", 0),
    **dict.fromkeys("壹一", 1),
    **dict.fromkeys("贰貳二两", 2),
    **dict.fromkeys("叁參三", 3),
    **dict.fromkeys("肆四", 4),
    **dict.fromkeys("伍五", 5),
    **dict.fromkeys("陆陸六", 6),
    **dict.fromkeys("柒七", 7),
    **dict.fromkeys("捌八", 8),
    **dict.fromkeys("玖九", 9),
}
_SMALL_UNITS = {
    **dict.fromkeys("拾十", 10),
    **dict.fromkeys("佰百", 100),
    **dict.fromkeys("仟千", 1000),
}
_BIG_UNITS = {**dict.fromkeys("万萬", 10_000), **dict.fromkeys("亿億", 100_000_000)}


def parse_chinese_numeral(numerals: str) -> int:
    """Return the integer written in Chinese numerals, financial or ordinary.

    ``壹佰万`` → 1000000, ``贰万零伍佰`` → 20500, ``拾万`` → 100000, ``壹亿贰仟万`` → 120000000.
    Raises ``ValueError`` for a character that is not a numeral or an empty string.
    """
    if not numerals:
        raise ValueError("no numerals to parse")
    total = section = 0
    digit: int | None = None
    for ch in numerals:
        if ch in _NUMERAL_DIGITS:
            digit = _NUMERAL_DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (1 if digit is None else digit) * _SMALL_UNITS[ch]
            digit = None
        elif ch in _BIG_UNITS and _BIG_UNITS[ch] == 10_000:
            section = (section + (digit or 0)) * 10_000
            digit = None
        elif ch in _BIG_UNITS:
            total = (total + section + (digit or 0)) * 100_000_000
            section, digit = 0, None
        else:
            raise ValueError(f"{ch!r} is not a Chinese numeral")
    return total + section + (digit or 0)


# ---------------------------------------------------------------------------------------------
# Case numbers
# ---------------------------------------------------------------------------------------------

_CN_CASE = re.compile(
    r"[（(〔\[【]\s*(?P<y>(?:19|20)\d{2})\s*[）)〕\]】]\s*"
    r"(?P<body>[\u4e00-\u9fff](?:[\u4e00-\u9fff\d]*?[\u4e00-\u9fff])??)\s*(?P<seq>\d{1,6})\s*号"
)
_US_DOCKET = r"\d{1,2}:\d{2}-[A-Za-z]{2,4}-\d{2,6}(?:-[A-Za-z]{2,5})*"
_EN_CASE_LABELLED = re.compile(
    r"\b(?:Case|Civil\s+Action|Criminal\s+Action|Docket|Cause|Claim|Appeal)\s+(?:No|Number)\.?\s*:?\s*"
    r"(?P<num>[A-Za-z0-9](?:[A-Za-z0-9:/.\-]*[A-Za-z0-9])?)",
    re.ASCII,
)
_EN_CASE_BARE = re.compile(rf"(?<![\w:-])(?P<num>{_US_DOCKET})(?![\w-])", re.ASCII)


def find_case_numbers(text: str) -> list[CaseNumberMention]:
    """Return the court case numbers in ``text``, in order.

    Chinese: ``(2023)京01民初123号`` with half- or full-width parentheses or 〔〕 brackets,
    including the older ``(2015)朝民初字第12345号``. English: the number after ``Case No.``,
    ``Civil Action No.`` and the like, and bare US federal dockets such as ``1:23-cv-01234``.
    """
    digits = _ascii_digits(text)
    found: list[CaseNumberMention] = []
    for match in _CN_CASE.finditer(digits):
        value = f"（{match['y']}）{match['body']}{match['seq']}号"
        start, end = match.start(), match.end()
        found.append(CaseNumberMention(text[start:end], start, end, value, int(match["y"])))
    for pattern in (_EN_CASE_LABELLED, _EN_CASE_BARE):
        for match in pattern.finditer(digits):
            start, end = match.span("num")
            number = text[start:end]
            if not any(ch.isdigit() for ch in number):
                continue
            found.append(CaseNumberMention(number, start, end, number, _docket_year(number)))
    return _without_overlaps(found)


def _docket_year(number: str) -> int | None:
    """Return the year of a US federal docket (``1:23-cv-01234`` → 2023), else None."""
    match = re.fullmatch(_US_DOCKET, number)
    return 2000 + int(number.split(":")[1][:2]) if match else None


# ---------------------------------------------------------------------------------------------
# Parties
# ---------------------------------------------------------------------------------------------

_CN_ROLES = {
    "甲方": "party_a",
    "乙方": "party_b",
    "丙方": "party_c",
    "丁方": "party_d",
    "原告": "plaintiff",
    "被告": "defendant",
    "第三人": "third_party",
    "上诉人": "appellant",
    "被上诉人": "appellee",
    "申请人": "applicant",
    "被申请人": "respondent",
    "申请执行人": "enforcement_applicant",
    "被执行人": "enforcement_respondent",
    "出借人": "lender",
    "贷款人": "lender",
    "借款人": "borrower",
    "担保人": "guarantor",
    "保证人": "guarantor",
    "买方": "buyer",
    "买受人": "buyer",
    "卖方": "seller",
    "出卖人": "seller",
    "出租人": "lessor",
    "出租方": "lessor",
    "承租人": "lessee",
    "承租方": "lessee",
    "用人单位": "employer",
    "劳动者": "employee",
    "委托人": "principal",
    "委托方": "principal",
    "受托人": "agent",
    "受托方": "agent",
}
_EN_ROLES = {
    "party a": "party_a",
    "party b": "party_b",
    "party c": "party_c",
    "plaintiff": "plaintiff",
    "plaintiffs": "plaintiff",
    "defendant": "defendant",
    "defendants": "defendant",
    "third party": "third_party",
    "appellant": "appellant",
    "appellee": "appellee",
    "respondent": "respondent",
    "petitioner": "applicant",
    "applicant": "applicant",
    "lender": "lender",
    "borrower": "borrower",
    "guarantor": "guarantor",
    "buyer": "buyer",
    "purchaser": "buyer",
    "seller": "seller",
    "vendor": "seller",
    "landlord": "lessor",
    "lessor": "lessor",
    "tenant": "lessee",
    "lessee": "lessee",
    "employer": "employer",
    "employee": "employee",
    "licensor": "licensor",
    "licensee": "licensee",
    "company": "company",
    "client": "client",
    "contractor": "contractor",
}


def _alternation(words: Iterable[str]) -> str:
    """Return a regex alternation trying longer words first, so 被上诉人 beats 上诉人."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _name_pattern(stops: str, tail: str = "") -> str:
    """Return a ``name`` group running up to a stop character or a run of two spaces.

    Two spaces end a name because signature lines put two labels on one line:
    ``甲方：张三    乙方：李四``.
    """
    char = f"[^{re.escape(stops)} \\t\u3000]"
    return rf"(?P<name>{char}(?:{char}|[ \t\u3000](?![ \t\u3000]))*{tail})"


_CN_PARTY = re.compile(
    rf"(?<![\u4e00-\u9fff])(?P<label>{_alternation(_CN_ROLES)})[ \t\u3000]*"
    r"(?:[（(][^）)\n]{1,12}[）)][ \t\u3000]*)?[：:][ \t\u3000]*"
    + _name_pattern("\n\r，,；;。：:"),
)
_EN_LABELS = _alternation([*map(str.title, _EN_ROLES), *map(str.upper, _EN_ROLES)])
_EN_PARTY = re.compile(
    rf"(?<![\w\"“])(?P<label>{_EN_LABELS})[ \t]*:[ \t]*"
    + _name_pattern("\n\r;(,", r"(?:,[ \t]*(?:Inc|LLC|L\.L\.C|Ltd|Co|Corp|LLP|PLC|S\.A)\b\.?)*"),
    re.ASCII,
)
_ALIAS = r"\([ \t]*(?:the[ \t]+)?[\"“](?P<{0}>[^\"”\n]{{1,40}})[\"”][ \t]*\)"
_EN_BETWEEN = re.compile(
    r"\b[Bb]etween[ \t\n]+(?P<a>[^\"“(\n]{1,120}?)[ \t\n]*"
    + _ALIAS.format("ra")
    + r"[ \t\n]*,?[ \t\n]*and[ \t\n]+(?P<b>[^\"“(\n]{1,120}?)[ \t\n]*"
    + _ALIAS.format("rb"),
    re.ASCII,
)
_CN_ALIAS = re.compile(
    r"[（(]\s*以下(?:简)?称\s*[“\"「]?(?P<label>[^”\"」）)]{1,10})[”\"」]?\s*[）)]"
)
_CN_NAME_STOP = re.compile(r"[（(]\s*以下(?:简)?称|[ \t\u3000]{2,}")
_EN_NAME_STOP = re.compile(r",[ \t]+an?[ \t]+|[ \t]{2,}")


def find_parties(text: str) -> list[PartyMention]:
    """Return the parties named in ``text`` with their roles, in order.

    Chinese role labels followed by a colon (``甲方：``, ``原告：``, ``出借人：``, ``用人单位：``;
    a note such as ``甲方（出借人）：`` is allowed) and the name after them, up to the first
    comma, semicolon, full stop or line end. English ``Party A:``, ``Plaintiff:`` and the
    contract preamble ``between X ("Seller") and Y ("Buyer")``. A name followed by
    ``（以下简称“甲方”）`` is also found when no label precedes it on the line.
    """
    found: list[PartyMention] = []
    found.extend(_labelled_parties(text, _CN_PARTY, _CN_NAME_STOP, _CN_ROLES))
    found.extend(_labelled_parties(text, _EN_PARTY, _EN_NAME_STOP, _EN_ROLES))
    found.extend(_preamble_parties(text))
    found.extend(_aliased_chinese_parties(text))
    return _without_overlaps(found)


def _labelled_parties(
    text: str, pattern: re.Pattern[str], stop: re.Pattern[str], roles: dict[str, str]
) -> Iterator[PartyMention]:
    for match in pattern.finditer(text):
        start, end = match.span("name")
        cut = stop.search(text, start, end)
        if cut:
            end = cut.start()
        elif end < len(text) and text[end] in "：:":
            continue  # the "name" is the next label of an empty signature line: "甲方：  日期："
        mention = _party(text, start, end, match["label"], roles[match["label"].lower()])
        if mention:
            yield mention


def _preamble_parties(text: str) -> Iterator[PartyMention]:
    for match in _EN_BETWEEN.finditer(text):
        for name_group, role_group in (("a", "ra"), ("b", "rb")):
            start, end = match.span(name_group)
            cut = _EN_NAME_STOP.search(text, start, end)
            if cut:
                end = cut.start()
            label = match[role_group].strip()
            role = _EN_ROLES.get(label.lower(), re.sub(r"\W+", "_", label.lower()).strip("_"))
            mention = _party(text, start, end, label, role)
            if mention:
                yield mention


def _aliased_chinese_parties(text: str) -> Iterator[PartyMention]:
    for match in _CN_ALIAS.finditer(text):
        label = match["label"].strip()
        if label not in _CN_ROLES:
            continue
        mention = _party(
            text, _clause_start(text, match.start()), match.start(), label, _CN_ROLES[label]
        )
        if mention:
            yield mention


def _clause_start(text: str, end: int) -> int:
    """Return where the name ending at ``end`` begins: after the previous clause or party.

    In ``甲公司（以下简称“甲方”）与李四（以下简称“乙方”）`` the second name starts after
    ``）与``; a leading ``由`` (``本合同由甲公司…``) is not part of a name either.
    """
    start = max(text.rfind(sep, 0, end) for sep in "\n，,；;。：:）)") + 1
    if (
        start > 0
        and text[start - 1] in "）)"
        and text[start : start + 1] in ("与", "和", "及", "、")
    ):
        start += 1
    if text.startswith("本合同由", start):
        start += len("本合同由")
    return start


_NAME_TRIM = " \t\u3000.,:;，。：；\"“”'"


def _party(text: str, start: int, end: int, label: str, role: str) -> PartyMention | None:
    """Build a mention over ``text[start:end]`` trimmed of spaces and punctuation, or None."""
    while start < end and text[start] in _NAME_TRIM:
        start += 1
    while (
        end > start and text[end - 1] in _NAME_TRIM and not _is_abbreviation_dot(text, start, end)
    ):
        end -= 1
    if start == end:
        return None
    name = text[start:end]
    return PartyMention(name, start, end, " ".join(name.split()), role, label)


def _is_abbreviation_dot(text: str, start: int, end: int) -> bool:
    """Return True if the name ends in a company abbreviation whose dot belongs to it."""
    return (
        text[end - 1] == "."
        and re.search(r"\b(?:Inc|Ltd|Co|Corp|L\.L\.C|S\.A)\.$", text[start:end], re.ASCII)
        is not None
    )
