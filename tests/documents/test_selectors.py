"""Search: ranked chunks with highlights, owner-scoped, on PostgreSQL and on SQLite FTS5."""

import pytest
from django.db import connection

from documents import selectors, services
from documents.models import POSTGRES_SEARCH_INDEX, Document, DocumentSource, DocumentStatus
from tests.conftest import run_on_sqlite
from tests.documents import samples

pytestmark = pytest.mark.django_db


def ingest(owner, text: str, name: str = "doc.txt", **options) -> Document:
    return services.document_ingest(
        owner_id=owner.pk,
        data=text.encode(),
        filename=name,
        options=services.ProcessOptions(**options),
        source=DocumentSource.UPLOAD,
    )


def test_chunks_holding_more_matches_rank_first(user):
    once = ingest(user, "The guarantor is liable. Nothing else here at all.", "once.txt")
    often = ingest(user, "Guarantor, guarantor: the guarantor signs as guarantor.", "often.txt")
    hits = selectors.chunk_search(user=user, query="guarantor")
    assert [hit.chunk.document_id for hit in hits] == [often.pk, once.pk]
    assert hits[0].score > hits[1].score > 0
    assert hits[1].highlight == "The <mark>guarantor</mark> is liable. Nothing else here at all."


def test_every_query_word_must_match(user):
    ingest(user, "借款合同约定了违约责任。")
    ingest(user, "买卖合同没有约定。")
    hits = selectors.chunk_search(user=user, query="合同 违约责任")
    assert [hit.chunk.text for hit in hits] == ["借款合同约定了违约责任。"]
    assert hits[0].highlight == "借款<mark>合同</mark>约定了<mark>违约责任</mark>。"


def test_case_numbers_and_parties_are_found_exactly(user):
    document = ingest(user, samples.CONTRACT_ZH, chunk_size=60, chunk_overlap=0)
    hits = selectors.chunk_search(user=user, query="京01民初123号")
    assert [(h.chunk.document_id, h.chunk.index) for h in hits] == [(document.pk, 2)]
    assert (
        "<mark>京</mark><mark>01</mark>" in hits[0].highlight
        or "<mark>01</mark>" in hits[0].highlight
    )
    hits = selectors.chunk_search(user=user, query="北京某某科技有限公司")
    assert [h.chunk.index for h in hits] == [0]


def test_search_is_scoped_to_the_owner_and_ready_documents(user, other_user, staff_user):
    mine = ingest(user, "arbitration clause")
    theirs = ingest(other_user, "arbitration clause")
    pending = ingest(user, "arbitration pending")
    Document.objects.filter(pk=pending.pk).update(status=DocumentStatus.PROCESSING)

    assert [
        h.chunk.document_id for h in selectors.chunk_search(user=user, query="arbitration")
    ] == [mine.pk]
    staff_hits = selectors.chunk_search(user=staff_user, query="Arbitration")
    assert {h.chunk.document_id for h in staff_hits} == {mine.pk, theirs.pk}


def test_a_query_of_only_punctuation_finds_nothing(user):
    ingest(user, "text")
    assert selectors.chunk_search(user=user, query="？！…") == []


def test_limit_and_offset_page_through_results(user):
    for number in range(5):
        ingest(user, f"evidence item {number}", f"{number}.txt")
    first = selectors.chunk_search(user=user, query="evidence", limit=2)
    rest = selectors.chunk_search(user=user, query="evidence", limit=10, offset=2)
    assert len(first) == 2 and len(rest) == 3
    assert not {h.chunk.pk for h in first} & {h.chunk.pk for h in rest}


def test_postgres_search_uses_the_gin_index(user):
    ingest(user, "index me")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM documents_chunk WHERE "
            "to_tsvector('simple'::regconfig, search_tokens) @@ plainto_tsquery('simple', 'index')"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert POSTGRES_SEARCH_INDEX in plan


def test_sqlite_fts5_search_migrates_indexes_and_ranks(tmp_path):
    """The SQLite path end to end in a process of its own: migrations create the FTS5 table,
    ingestion fills it, search ranks with bm25 and scopes by owner, deletion unindexes."""
    script = r"""
import json
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.db import connection
from documents import selectors, services
from tests.documents import samples

call_command("migrate", verbosity=0)
users = get_user_model().objects
a, b = users.create(username="a"), users.create(username="b")
options = services.ProcessOptions(chunk_size=60, chunk_overlap=0)
def ingest(owner, text, name):
    return services.document_ingest(owner_id=owner.pk, data=text.encode(), filename=name,
                                    options=options, source="upload")
contract = ingest(a, samples.CONTRACT_ZH, "c.txt")
ingest(b, samples.CONTRACT_ZH, "c.txt")
once = ingest(a, "The guarantor is liable.", "once.txt")
often = ingest(a, "Guarantor, guarantor: the guarantor signs as guarantor.", "often.txt")
def found(user, query):
    return [[h.chunk.document_id, h.chunk.index, h.highlight]
            for h in selectors.chunk_search(user=user, query=query)]
out = {
    "vendor": connection.vendor,
    "contract": contract.pk, "once": once.pk, "often": often.pk,
    "breach": found(a, "违约责任"),
    "case": found(a, "京01民初123号"),
    "ranked": [row[0] for row in found(a, "guarantor")],
    "quotes": found(a, 'guarantor" OR "x'),
}
services.document_delete(document=contract)
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM documents_chunk_fts")
    out["fts_rows"] = cursor.fetchone()[0]
out["after_delete"] = found(a, "违约责任")
print(json.dumps(out, ensure_ascii=False))
"""
    out = run_on_sqlite(script, tmp_path, DOCUMENTS_IMPORT_ROOTS=str(tmp_path))
    assert out["vendor"] == "sqlite"
    assert [row[:2] for row in out["breach"]] == [[out["contract"], 2]]
    assert "<mark>违约责任</mark>" in out["breach"][0][2]
    assert [row[:2] for row in out["case"]] == [[out["contract"], 2]]
    assert out["ranked"] == [out["often"], out["once"]]
    assert out["quotes"] == []
    assert out["after_delete"] == []
    # Left indexed: b's copy of the contract (3 chunks) and a's two one-chunk documents.
    assert out["fts_rows"] == 3 + 2


def test_the_orm_search_expression_is_the_indexed_one(user):
    """The expression the selector filters on is the GIN index's, so the planner can use it."""
    from django.contrib.postgres.search import SearchQuery

    from documents.models import Chunk

    ingest(user, "index me")
    query = (
        Chunk.objects.annotate(vector=selectors._SimpleTsVector("search_tokens"))
        .filter(vector=SearchQuery("index", config="simple"))
        .order_by()
        .values("id")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert POSTGRES_SEARCH_INDEX in query.explain()
