"""Tests for documents.engines.search: index/query tokens and highlighted snippets."""

import sqlite3

import pytest

from documents.engines.search import highlight, tokenize_for_index, tokenize_query

JUDGMENT = "出借人与借款人签订借款合同。中华人民共和国民法典。"


def test_index_tokens_hold_long_words_and_the_words_inside_them():
    assert tokenize_for_index(JUDGMENT).split() == [
        "出借",
        "借人",
        "出借人",
        "与",
        "借款",
        "借款人",
        "签订",
        "借款",
        "合同",
        "借款合同",
        "中华",
        "华人",
        "人民",
        "共和",
        "共和国",
        "中华人民共和国",
        "民法",
        "法典",
        "民法典",
    ]


def test_english_and_full_width_tokens_are_case_folded_and_normalised():
    assert tokenize_for_index("The LOAN, Ｌｏａｎ and loan's; 2024！") == (
        "the loan loan and loan s 2024"
    )


def test_query_tokens_are_precise_distinct_and_without_function_words():
    assert tokenize_query("借款合同 的 纠纷 Borrower borrower") == ["借款合同", "纠纷", "borrower"]
    assert tokenize_query("中华人民共和国民法典") == ["中华人民共和国", "民法典"]


def test_a_query_of_only_function_words_keeps_them():
    assert tokenize_query("the") == ["the"]


def test_query_of_only_punctuation_has_no_tokens():
    assert tokenize_query("，。!? ") == []


@pytest.mark.parametrize("query", ["借款合同", "民法典", "借款", "合同", "人民", "出借人"])
def test_every_query_token_is_in_the_index_of_the_text_it_came_from(query):
    assert set(tokenize_query(query)) <= set(tokenize_for_index(JUDGMENT).split())


def test_sqlite_fts5_matches_chinese_words_through_the_tokens():
    documents = {
        1: JUDGMENT,
        2: "用人单位与劳动者签订劳动合同。",
        3: "The borrower shall repay the loan on March 1, 2024.",
    }
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE doc USING fts5(tokens)")
    db.executemany(
        "INSERT INTO doc(rowid, tokens) VALUES (?, ?)",
        [(pk, tokenize_for_index(text)) for pk, text in documents.items()],
    )

    def search(query):
        match = " AND ".join(f'"{token}"' for token in tokenize_query(query))
        rows = db.execute("SELECT rowid FROM doc WHERE tokens MATCH ? ORDER BY rowid", (match,))
        return [row[0] for row in rows]

    assert search("借款合同") == [1]
    assert search("合同") == [1, 2]
    assert search("劳动者 合同") == [2]
    assert search("民法典") == [1]
    assert search("Loan") == [3]
    assert search("民法") == [1]
    assert search("租赁") == []


def test_highlight_centres_on_the_first_match_and_marks_every_match():
    text = "本合同由甲方起草。" + "条款" * 30 + "借款合同约定借款合同的还款日。" + "附则" * 30
    snippet = highlight(text, ["借款合同"], max_len=20)
    assert snippet == "…条款条款条款条款<mark>借款合同</mark>约定<mark>借款合同</mark>的还…"


def test_highlight_escapes_html_and_matches_case_insensitively():
    text = "The <b>Loan</b> & the LOAN\n\nare due."
    assert highlight(text, ["loan"]) == (
        "The &lt;b&gt;<mark>Loan</mark>&lt;/b&gt; &amp; the <mark>LOAN</mark> are due."
    )


def test_highlight_prefers_the_longest_overlapping_term():
    assert highlight("借款合同纠纷", ["借款", "借款合同"]) == "<mark>借款合同</mark>纠纷"


def test_highlight_without_a_match_shows_the_start():
    assert highlight("原告张三诉称被告李四借款未还", ["仲裁", " "], max_len=6) == "原告张三诉称…"


def test_highlight_at_the_end_of_a_long_text_fills_the_window_backwards():
    text = "甲" * 50 + "违约金"
    assert highlight(text, ["违约金"], max_len=7) == "…甲甲甲甲<mark>违约金</mark>"


def test_highlight_refuses_a_window_of_nothing():
    with pytest.raises(ValueError, match="max_len must be at least 1, got 0"):
        highlight("text", ["t"], max_len=0)
