"""Tests for documents.engines.entities: dates, money, case numbers and parties."""

from datetime import date
from decimal import Decimal

import pytest

from documents.engines.entities import (
    CaseNumberMention,
    DateMention,
    MoneyMention,
    PartyMention,
    find_case_numbers,
    find_dates,
    find_money,
    find_parties,
    parse_chinese_numeral,
)


def _values(mentions):
    return [(m.text, m.value) for m in mentions]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2024年3月1日", date(2024, 3, 1)),
        ("2024 年 12 月 31 日", date(2024, 12, 31)),
        ("２０２４年３月１日", date(2024, 3, 1)),
        ("二〇二四年三月一日", date(2024, 3, 1)),
        ("二〇二三年十二月三十一日", date(2023, 12, 31)),
        ("二〇二四年十月二十日", date(2024, 10, 20)),
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("2024.3.1", date(2024, 3, 1)),
        ("March 1, 2024", date(2024, 3, 1)),
        ("Mar. 1, 2024", date(2024, 3, 1)),
        ("Sept. 30, 2023", date(2023, 9, 30)),
        ("1 March 2024", date(2024, 3, 1)),
        ("1st of March, 2024", date(2024, 3, 1)),
    ],
)
def test_find_dates_reads_each_written_form_as_the_same_calendar_date(written, expected):
    text = f"签订于{written}。"
    assert find_dates(text) == [DateMention(written, 3, 3 + len(written), expected)]


def test_find_dates_returns_every_date_in_text_order_with_exact_spans():
    text = "合同于2024年3月1日签订，2025-02-28到期。Signed on March 1, 2024."
    assert find_dates(text) == [
        DateMention("2024年3月1日", 3, 12, date(2024, 3, 1)),
        DateMention("2025-02-28", 15, 25, date(2025, 2, 28)),
        DateMention("March 1, 2024", 38, 51, date(2024, 3, 1)),
    ]


def test_find_dates_skips_impossible_ambiguous_and_verb_like_dates():
    text = "2023年2月30日；03/01/2024；we may 1, 2024 decide; 20240301"
    assert find_dates(text) == []


@pytest.mark.parametrize(
    ("written", "amount", "currency"),
    [
        ("¥1,000,000", Decimal(1000000), "CNY"),
        ("￥3,500.50", Decimal("3500.50"), "CNY"),
        ("人民币100万元", Decimal(1000000), "CNY"),
        ("1000000元", Decimal(1000000), "CNY"),
        ("1.5亿元", Decimal(150000000), "CNY"),
        ("人民币壹佰万元整", Decimal(1000000), "CNY"),
        ("人民币（大写）：贰万零伍佰元整", Decimal(20500), "CNY"),
        ("伍仟元伍角叁分", Decimal("5000.53"), "CNY"),
        ("壹亿贰仟万元", Decimal(120000000), "CNY"),
        ("两万元", Decimal(20000), "CNY"),
        ("$5,000.00", Decimal("5000.00"), "USD"),
        ("US$ 12", Decimal(12), "USD"),
        ("USD 5,000", Decimal(5000), "USD"),
        ("RMB 5,000", Decimal(5000), "CNY"),
        ("EUR 2 million", Decimal(2000000), "EUR"),
        ("€75", Decimal(75), "EUR"),
        ("300美元", Decimal(300), "USD"),
        ("HK$1,200", Decimal(1200), "HKD"),
        ("1,500 dollars", Decimal(1500), "USD"),
    ],
)
def test_find_money_reads_amount_and_currency(written, amount, currency):
    text = f"金额为{written}，"
    assert find_money(text) == [MoneyMention(written, 3, 3 + len(written), amount, currency)]


def test_find_money_finds_capital_and_figure_forms_side_by_side():
    text = "借款本金人民币壹佰万元整（¥1,000,000.00）。"
    assert _values(find_money(text)) == [
        ("人民币壹佰万元整", Decimal(1000000)),
        ("¥1,000,000.00", Decimal(1000000)),
    ]


def test_find_money_ignores_bare_numbers_and_vague_or_accidental_numerals():
    text = "第3条 共12页，2024年；统一元数据；损失数十万元；编号 1,000"
    assert find_money(text) == []


@pytest.mark.parametrize(
    ("numerals", "value"),
    [
        ("壹佰万", 1_000_000),
        ("贰万零伍佰", 20_500),
        ("拾万", 100_000),
        ("壹亿贰仟万", 120_000_000),
        ("叁仟伍佰万壹仟", 35_001_000),
        ("一百零八", 108),
        ("零", 0),
    ],
)
def test_parse_chinese_numeral(numerals, value):
    assert parse_chinese_numeral(numerals) == value


def test_parse_chinese_numeral_rejects_other_characters():
    with pytest.raises(ValueError, match="not a Chinese numeral"):
        parse_chinese_numeral("壹佰元")


def test_find_case_numbers_normalises_chinese_brackets_and_widths():
    text = (
        "(2023)京01民初123号；（２０２３）沪0105民初4567号；"
        "〔2022〕最高法民终9号；(2015)朝民初字第12345号"
    )
    assert [(m.text, m.value, m.year) for m in find_case_numbers(text)] == [
        ("(2023)京01民初123号", "（2023）京01民初123号", 2023),
        ("（２０２３）沪0105民初4567号", "（2023）沪0105民初4567号", 2023),
        ("〔2022〕最高法民终9号", "（2022）最高法民终9号", 2022),
        ("(2015)朝民初字第12345号", "（2015）朝民初字第12345号", 2015),
    ]


def test_find_case_numbers_ignores_government_document_numbers():
    assert find_case_numbers("依据国发〔2023〕1号文件") == []


def test_find_case_numbers_reads_english_dockets_labelled_or_bare():
    text = "Case No. 1:23-cv-01234 (consolidated with 2:19-cr-00042-JAM); Appeal No. 22-1567."
    assert find_case_numbers(text) == [
        CaseNumberMention("1:23-cv-01234", 9, 22, "1:23-cv-01234", 2023),
        CaseNumberMention("2:19-cr-00042-JAM", 42, 59, "2:19-cr-00042-JAM", 2019),
        CaseNumberMention("22-1567", 73, 80, "22-1567", None),
    ]


def _roles(text):
    return [(m.role, m.label, m.value) for m in find_parties(text)]


def test_find_parties_reads_contract_role_labels():
    text = "借款合同\n甲方（出借人）：北京某某科技有限公司\n乙方：张三，男，汉族\n"
    parties = find_parties(text)
    assert parties == [
        PartyMention("北京某某科技有限公司", 13, 23, "北京某某科技有限公司", "party_a", "甲方"),
        PartyMention("张三", 27, 29, "张三", "party_b", "乙方"),
    ]
    assert all(text[p.start : p.end] == p.text for p in parties)


def test_find_parties_reads_pleading_roles_and_keeps_parentheses_in_names():
    text = (
        "原告：李四，女。被告：上海某某（集团）有限公司，住所地上海市。第三人：王五\n被上诉人：赵六"
    )
    assert _roles(text) == [
        ("plaintiff", "原告", "李四"),
        ("defendant", "被告", "上海某某（集团）有限公司"),
        ("third_party", "第三人", "王五"),
        ("appellee", "被上诉人", "赵六"),
    ]


def test_find_parties_reads_loan_sale_and_employment_roles():
    text = "出借人：王五\n借款人：赵六\n买方：甲公司\n卖方：乙公司\n用人单位：丙公司\n劳动者：孙七"
    assert _roles(text) == [
        ("lender", "出借人", "王五"),
        ("borrower", "借款人", "赵六"),
        ("buyer", "买方", "甲公司"),
        ("seller", "卖方", "乙公司"),
        ("employer", "用人单位", "丙公司"),
        ("employee", "劳动者", "孙七"),
    ]


def test_find_parties_splits_two_labels_on_one_line_and_skips_empty_signature_lines():
    text = "甲方：张三    乙方：李四\n甲方（盖章）：            日期：\n"
    assert _roles(text) == [("party_a", "甲方", "张三"), ("party_b", "乙方", "李四")]


def test_find_parties_ignores_role_words_inside_sentences():
    assert find_parties("被告辩称：原告的请求无据。本合同甲方应付款") == []


def test_find_parties_reads_defined_terms_after_a_chinese_name():
    text = "北京某某有限公司（以下简称“甲方”）与李四（以下简称“乙方”）"
    assert _roles(text) == [("party_a", "甲方", "北京某某有限公司"), ("party_b", "乙方", "李四")]


def test_find_parties_reads_english_labels_and_contract_preamble():
    text = (
        "This Agreement is made by and between Acme Corp., a Delaware corporation "
        '(\u201cSeller\u201d), and Beta LLC (the "Buyer").\n'
        "Plaintiff: John Smith\nDefendant: Widgets, Inc., a corporation\n"
        "Party A: Shenzhen Foo Co., Ltd.\n"
    )
    assert _roles(text) == [
        ("seller", "Seller", "Acme Corp."),
        ("buyer", "Buyer", "Beta LLC"),
        ("plaintiff", "Plaintiff", "John Smith"),
        ("defendant", "Defendant", "Widgets, Inc."),
        ("party_a", "Party A", "Shenzhen Foo Co., Ltd."),
    ]


def test_mentions_serialise_to_json_safe_dicts():
    [money] = find_money("¥1,000.50")
    [day] = find_dates("2024年3月1日")
    assert money.as_dict() == {
        "text": "¥1,000.50",
        "start": 0,
        "end": 9,
        "value": "1000.50",
        "currency": "CNY",
    }
    assert day.as_dict() == {"text": "2024年3月1日", "start": 0, "end": 9, "value": "2024-03-01"}
