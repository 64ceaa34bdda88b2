"""Tests for documents.engines.split: boundaries, overlap, pages and the chunk invariants."""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from documents.engines.split import Chunk, split_text


@dataclass(frozen=True)
class Page:
    number: int
    start: int
    end: int


CONTRACT = (
    "第一条 借款金额为人民币十万元。借款期限为一年。\n\n"
    "第二条 利率为年利率百分之六。逾期按日计息！\n"
    "第三条 本合同自签字之日起生效。"
)


def _texts(chunks):
    return [c.text for c in chunks]


def test_short_text_is_one_chunk():
    assert split_text("借款合同", chunk_size=10, chunk_overlap=2) == [
        Chunk(0, "借款合同", 0, 4, None, None)
    ]


def test_empty_text_has_no_chunks():
    assert split_text("", chunk_size=10, chunk_overlap=2) == []


def test_chunks_end_at_paragraph_then_sentence_and_overlap_starts_at_a_sentence():
    chunks = split_text(CONTRACT, chunk_size=30, chunk_overlap=10)
    assert [(c.start, c.end) for c in chunks] == [(0, 26), (16, 41), (41, 65)]
    assert _texts(chunks) == [
        "第一条 借款金额为人民币十万元。借款期限为一年。\n\n",
        "借款期限为一年。\n\n第二条 利率为年利率百分之六。",
        "逾期按日计息！\n第三条 本合同自签字之日起生效。",
    ]


def test_a_paragraph_break_is_preferred_to_a_later_line_break():
    chunks = split_text(CONTRACT, chunk_size=50, chunk_overlap=0)
    assert _texts(chunks) == [
        "第一条 借款金额为人民币十万元。借款期限为一年。\n\n",
        "第二条 利率为年利率百分之六。逾期按日计息！\n第三条 本合同自签字之日起生效。",
    ]


def test_whole_paragraphs_are_packed_into_one_chunk_while_they_fit():
    text = "甲方。\n\n乙方。\n\n丙方。\n\n丁方。"
    chunks = split_text(text, chunk_size=12, chunk_overlap=0)
    assert _texts(chunks) == ["甲方。\n\n乙方。\n\n", "丙方。\n\n丁方。"]


def test_without_a_paragraph_break_chunks_pack_whole_lines():
    text = "第一条 甲方付款。\n第二条 乙方交货。\n第三条 争议由法院管辖。"
    chunks = split_text(text, chunk_size=22, chunk_overlap=0)
    assert _texts(chunks) == ["第一条 甲方付款。\n第二条 乙方交货。\n", "第三条 争议由法院管辖。"]


def test_english_sentences_end_at_terminator_plus_space_not_at_decimal_points():
    text = "The rate is 3.5 per cent. Interest accrues daily! Is it late? Then a fee applies."
    chunks = split_text(text, chunk_size=40, chunk_overlap=0)
    assert _texts(chunks) == [
        "The rate is 3.5 per cent. ",
        "Interest accrues daily! Is it late? ",
        "Then a fee applies.",
    ]


def test_closing_quotes_stay_with_their_sentence():
    text = "他说：“我同意。”她说：“我不同意！”然后离开了。"
    chunks = split_text(text, chunk_size=12, chunk_overlap=0)
    assert _texts(chunks) == ["他说：“我同意。”", "她说：“我不同意！”", "然后离开了。"]


def test_overlong_sentence_is_cut_hard_and_keeps_its_overlap():
    text = "甲方应当于二零二四年三月一日前向乙方支付全部货款否则应承担违约责任"
    chunks = split_text(text, chunk_size=12, chunk_overlap=4)
    assert [(c.start, c.end) for c in chunks] == [(0, 12), (8, 20), (16, 28), (24, 33)]


def test_overlap_without_a_boundary_after_a_clean_cut_is_dropped():
    text = "第二条 利率为年利率百分之六。逾期按日计息！"
    chunks = split_text(text, chunk_size=16, chunk_overlap=5)
    assert _texts(chunks) == ["第二条 利率为年利率百分之六。", "逾期按日计息！"]


def test_pages_are_assigned_from_page_spans():
    text = "第一页内容。\n\n第二页内容。\n\n第三页内容。"
    pages = [Page(1, 0, 6), Page(2, 8, 14), Page(3, 16, 22)]
    chunks = split_text(text, chunk_size=10, chunk_overlap=0, pages=pages)
    assert [(c.text, c.page_start, c.page_end) for c in chunks] == [
        ("第一页内容。\n\n", 1, 1),
        ("第二页内容。\n\n", 2, 2),
        ("第三页内容。", 3, 3),
    ]
    spanning = split_text(text, chunk_size=16, chunk_overlap=0, pages=pages)
    assert [(c.page_start, c.page_end) for c in spanning] == [(1, 2), (3, 3)]


def test_empty_pages_are_never_assigned():
    text = "第一页。\n\n第三页。"
    pages = [Page(1, 0, 4), Page(2, 4, 4), Page(3, 6, 10)]
    chunks = split_text(text, chunk_size=6, chunk_overlap=0, pages=pages)
    assert [(c.text, c.page_start, c.page_end) for c in chunks] == [
        ("第一页。\n\n", 1, 1),
        ("第三页。", 3, 3),
    ]


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (0, 0, "chunk_size must be at least 1, got 0"),
        (10, -1, "chunk_overlap must not be negative, got -1"),
        (10, 10, r"chunk_overlap must be smaller than chunk_size \(10\), got 10"),
    ],
)
def test_invalid_sizes_are_refused_naming_the_parameter(size, overlap, message):
    with pytest.raises(ValueError, match=message):
        split_text("文本", chunk_size=size, chunk_overlap=overlap)


ALPHABET = "合同甲乙方款。，！？；：“”abc XYZ.!?,;:\"'\n\t　"


@st.composite
def split_cases(draw):
    text = draw(st.text(alphabet=ALPHABET, max_size=400))
    size = draw(st.integers(min_value=1, max_value=60))
    overlap = draw(st.integers(min_value=0, max_value=size - 1))
    return text, size, overlap


@settings(max_examples=400, deadline=None)
@given(split_cases())
def test_chunks_are_exact_ordered_bounded_covering_slices(case):
    text, size, overlap = case
    chunks = split_text(text, chunk_size=size, chunk_overlap=overlap)
    if not text:
        assert chunks == []
        return
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert chunk.text == text[chunk.start : chunk.end]
        assert 0 < chunk.end - chunk.start <= size
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.start < after.start
        assert before.end < after.end
        assert after.start <= before.end, "a gap would leave characters uncovered"
        assert before.end - after.start <= overlap


@settings(max_examples=200, deadline=None)
@given(split_cases())
def test_page_numbers_follow_offsets(case):
    text, size, overlap = case
    middle = max(len(text) // 2, 1)
    pages = [Page(1, 0, middle), Page(2, middle, len(text))]
    for chunk in split_text(text, chunk_size=size, chunk_overlap=overlap, pages=pages):
        assert chunk.page_start == (1 if chunk.start < middle else 2)
        assert chunk.page_end == (1 if chunk.end - 1 < middle else 2)
