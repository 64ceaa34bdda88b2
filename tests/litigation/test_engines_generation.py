"""Generation: contracts from data templates and a civil complaint from a case analysis."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import docx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from documents.engines.entities import parse_chinese_numeral
from litigation.engines.assessment import analyze_case
from litigation.engines.contract_review import review_contract
from litigation.engines.generation import (
    GenerationError,
    MissingVariables,
    TemplateNotFound,
    draft_complaint,
    generate_contract,
    list_templates,
    rmb_upper,
    validate_template,
)
from tests.fixtures.litigation import load_loan_case

LOAN_VARIABLES = {
    "lender_name": "张伟",
    "lender_id_number": "110105198203154311",
    "borrower_name": "李强",
    "borrower_id_number": "110108198507226617",
    "amount": "500000",
    "start_date": "2022年3月1日",
    "end_date": "2023年2月28日",
    "borrower_bank_account": "中国工商银行 6222 0210 0112 3456 789",
    "signing_date": date(2022, 2, 25),
}
SALES_VARIABLES = {
    "seller_name": "上海恒远机械有限公司",
    "buyer_name": "杭州青禾食品有限公司",
    "goods_name": "全自动灌装生产线",
    "quantity": "一套",
    "total_price": "1,000,000",
    "delivery_date": "2024年8月31日",
    "delivery_place": "杭州市余杭区青禾食品厂区",
    "payment_days": "十五",
    "arbitration_commission": "上海国际仲裁中心",
    "signing_date": "2024年6月1日",
}


def _docx_text(data: bytes) -> list[str]:
    return [paragraph.text for paragraph in docx.Document(io.BytesIO(data)).paragraphs]


def test_two_templates_are_shipped():
    assert [template["key"] for template in list_templates()] == [
        "loan_agreement",
        "sales_contract",
    ]


def test_loan_agreement_docx_opens_and_contains_the_filled_values():
    data, markdown = generate_contract("loan_agreement", LOAN_VARIABLES)

    paragraphs = _docx_text(data)
    assert paragraphs[0] == "借款合同"
    assert "出借人（甲方）：张伟，身份证号码：110105198203154311" in paragraphs
    assert "乙方向甲方借款人民币伍拾万元整（¥500,000.00）。" in paragraphs
    assert "签订日期：2022年2月25日" in paragraphs
    assert "## 第一条 借款金额" in markdown
    assert "{{" not in markdown


def test_defaults_fill_optional_variables_and_conditional_clauses_are_left_out():
    _, markdown = generate_contract("loan_agreement", LOAN_VARIABLES)

    assert "借款年利率为0%" in markdown
    assert "保证" not in markdown
    assert "## 第八条 其他" in markdown


def test_a_conditional_clause_appears_when_its_variable_is_given_and_numbering_follows():
    _, markdown = generate_contract("loan_agreement", {**LOAN_VARIABLES, "guarantor_name": "王芳"})

    assert "## 第六条 保证" in markdown
    assert "王芳自愿为乙方在本合同项下的全部债务提供连带责任保证" in markdown
    assert "## 第九条 其他" in markdown


def test_generated_contracts_pass_contract_review():
    for key, variables in (("loan_agreement", LOAN_VARIABLES), ("sales_contract", SALES_VARIABLES)):
        _, markdown = generate_contract(key, variables)
        text = markdown.replace("## ", "").replace("# ", "")

        assert review_contract({"id": key, "title": key, "text": text})["findings"] == []


def test_sales_contract_writes_the_price_in_figures_and_in_words():
    data, _ = generate_contract("sales_contract", SALES_VARIABLES)

    assert (
        "甲方向乙方出售全自动灌装生产线，数量一套。合同总价款为人民币壹佰万元整（¥1,000,000.00），"
        "含税及运输费用。"
    ) in _docx_text(data)


def test_missing_variables_are_all_named():
    variables = {**SALES_VARIABLES, "buyer_name": "  "}
    del variables["delivery_date"]

    with pytest.raises(MissingVariables) as error:
        generate_contract("sales_contract", variables)

    assert error.value.missing == ["buyer_name", "delivery_date"]
    assert str(error.value) == "missing required variables: buyer_name, delivery_date"


def test_a_money_variable_must_be_a_number():
    with pytest.raises(GenerationError, match="'amount' must be a number"):
        generate_contract("loan_agreement", {**LOAN_VARIABLES, "amount": "五十万"})


def test_templates_may_only_use_declared_variables_and_known_filters():
    template = {
        "key": "t",
        "title": "T",
        "variables": [{"name": "a", "required": True}],
        "clauses": [{"title": "One", "text": "{{ a }} and {{ b }}"}],
    }

    with pytest.raises(GenerationError, match="'{{ b }}' names no declared variable"):
        validate_template(template)
    template["clauses"][0]["text"] = "{{ a | shout }}"
    with pytest.raises(GenerationError, match="unknown filter"):
        validate_template(template)


def test_an_inline_english_template_is_numbered_in_english():
    template = {
        "key": "nda",
        "title": "Mutual NDA",
        "language": "en",
        "variables": [{"name": "party", "required": True}],
        "clauses": [{"title": "Confidentiality", "text": "{{ party }} keeps secrets."}],
    }

    _, markdown = generate_contract(template, {"party": "Acme Ltd."})

    assert "## 1. Confidentiality\n\nAcme Ltd. keeps secrets." in markdown


@pytest.mark.parametrize("key", ["nonexistent", "../packages/loan_dispute_default"])
def test_unknown_templates_are_not_found(key):
    with pytest.raises(TemplateNotFound):
        generate_contract(key, {})


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("500000", "伍拾万元整"),
        ("100500", "壹拾万零伍佰元整"),
        ("100000001", "壹亿零壹元整"),
        ("1234567.89", "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分"),
        ("1.05", "壹元零伍分"),
        ("0.5", "伍角"),
        ("0", "零元整"),
    ],
)
def test_rmb_upper_writes_financial_numerals(amount, words):
    assert rmb_upper(Decimal(amount)) == words


@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_rmb_upper_reads_back_to_the_same_integer(amount):
    words = rmb_upper(Decimal(amount))

    assert parse_chinese_numeral(words.removesuffix("元整")) == amount


def test_complaint_has_the_parts_a_court_expects():
    analysis = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=date(2026, 11, 22)
    )

    data, markdown = draft_complaint(
        analysis,
        {
            "plaintiff_name": "张伟",
            "plaintiff_info": "男，1982年3月15日生，汉族，住北京市朝阳区",
            "defendant_name": "李强",
            "court": "北京市朝阳区人民法院",
            "claims": "判令被告偿还借款本金人民币450,000元\n判令被告承担本案诉讼费用",
            "filing_date": "2026-11-22",
        },
    )

    paragraphs = _docx_text(data)
    assert paragraphs[0] == "民事起诉状"
    assert paragraphs[1] == "原告：张伟，男，1982年3月15日生，汉族，住北京市朝阳区"
    assert paragraphs[2] == "被告：李强"
    assert "1. 判令被告偿还借款本金人民币450,000元" in paragraphs
    assert "2. 判令被告承担本案诉讼费用" in paragraphs
    assert paragraphs.index("诉讼请求") < paragraphs.index("事实与理由") < paragraphs.index("此致")
    assert paragraphs[paragraphs.index("此致") + 1 :][:3] == [
        "北京市朝阳区人民法院",
        "具状人：张伟",
        "2026年11月22日",
    ]
    assert (
        "2024年1月10日，张伟 2024-01-10 09:15 剩下的45万什么时候还？（见03_微信聊天记录）"
        in markdown
    )
    assert "本案诉讼时效自2024年1月10日起算，至2027年1月10日届满" in markdown
    assert "4. 04_借条（借条欠条收据 / Receipt or IOU）" in markdown


def test_complaint_requires_its_variables_and_an_analysis():
    analysis = analyze_case(
        load_loan_case(), "loan_dispute_default", position="plaintiff", today=date(2026, 11, 22)
    )

    with pytest.raises(MissingVariables) as error:
        draft_complaint(analysis, {"plaintiff_name": "张伟", "claims": []})
    assert error.value.missing == ["defendant_name", "court", "claims", "filing_date"]
    with pytest.raises(GenerationError, match="case analysis"):
        draft_complaint({"kind": "contract_review"}, {})
