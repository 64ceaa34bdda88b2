"""Reads of the documents app, every one scoped to its caller (staff see all).

Search ranks chunks of ready documents by full-text relevance over ``Chunk.search_tokens``,
the chunk text segmented by jieba (``documents.engines.search``): on PostgreSQL with
``ts_rank`` over ``to_tsvector('simple', search_tokens)`` (the GIN index of migration 0002),
on SQLite with FTS5's ``bm25``. A query matches a chunk holding all of its words.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import Func, QuerySet
from django.http import Http404

from documents.engines.search import highlight, tokenize_query
from documents.models import SQLITE_FTS_TABLE, Chunk, Document, DocumentStatus, Export

__all__ = [
    "SearchHit",
    "SearchUnavailable",
    "chunk_search",
    "document_get",
    "document_list",
    "export_for_task",
]


class SearchUnavailable(Exception):
    """The database has no full-text index this app knows how to query."""


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float
    highlight: str


def document_list(*, user) -> QuerySet[Document]:
    """The documents ``user`` may see, newest first, without their (large) text."""
    return (
        Document.objects.visible_to(user)
        .select_related("owner")
        .defer("text", "metadata", "analysis")
        .order_by("-created_at", "-id")
    )


def document_get(*, user, document_id, with_chunks: bool = False) -> Document:
    """The document if ``user`` may see it; else Http404, whether or not it exists."""
    rows = Document.objects.visible_to(user).select_related("owner")
    if with_chunks:
        rows = rows.prefetch_related("chunks")
    document = rows.filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    return document


def document_get_owned(*, user, document_id) -> Document:
    """The document if ``user`` owns it (downloads of originals are for their owner only)."""
    document = Document.objects.filter(pk=document_id, owner=user).first()
    if document is None:
        raise Http404("No such document.")
    return document


def export_for_task(*, user, task_id) -> Export | None:
    """The export a task of ``user`` made, or None if it has none (yet)."""
    return Export.objects.filter(task_id=task_id, owner=user).first()


def chunk_search(*, user, query: str, limit: int = 20, offset: int = 0) -> list[SearchHit]:
    """Return the chunks of ready documents ``user`` may see that hold every word of ``query``,
    best first, each with an HTML snippet of its text around the words marked.
    """
    terms = tokenize_query(query)
    if not terms:
        return []
    if connection.vendor == "postgresql":
        ranked = _postgres_ranked(user, terms, limit, offset)
    elif connection.vendor == "sqlite":
        ranked = _sqlite_ranked(user, terms, limit, offset)
    else:
        raise SearchUnavailable(f"Search is not available on {connection.vendor}.")
    return [SearchHit(chunk, score, highlight(chunk.text, terms)) for chunk, score in ranked]


class _SimpleTsVector(Func):
    """``to_tsvector('simple', column)``: the exact expression of the GIN index."""

    function = "to_tsvector"
    template = "%(function)s('simple'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


def _visible_ready_chunks(user) -> QuerySet[Chunk]:
    chunks = Chunk.objects.filter(document__status=DocumentStatus.READY)
    if not user.is_staff:
        chunks = chunks.filter(document__owner=user)
    return chunks


def _postgres_ranked(user, terms: list[str], limit: int, offset: int) -> list[tuple[Chunk, float]]:
    vector = _SimpleTsVector("search_tokens")
    # plainto_tsquery: the words ANDed, each one a lexeme; no operator syntax to escape.
    query = SearchQuery(" ".join(terms), config="simple", search_type="plain")
    rows = (
        _visible_ready_chunks(user)
        .annotate(vector=vector, rank=SearchRank(vector, query))
        .filter(vector=query)
        .select_related("document")
        .defer("search_tokens", "document__text", "document__metadata", "document__analysis")
        .order_by("-rank", "document_id", "index")[offset : offset + limit]
    )
    return [(chunk, float(chunk.rank)) for chunk in rows]


def _sqlite_ranked(user, terms: list[str], limit: int, offset: int) -> list[tuple[Chunk, float]]:
    # Each word a quoted FTS5 string (quotes doubled): no query syntax gets through.
    match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    owner_clause = "" if user.is_staff else "AND d.owner_id = %s"
    params: list = [match, DocumentStatus.READY]
    if not user.is_staff:
        params.append(user.pk)
    params += [limit, offset]
    sql = (
        f"SELECT c.id, bm25({SQLITE_FTS_TABLE}) AS score "
        f"FROM {SQLITE_FTS_TABLE} "
        f"JOIN documents_chunk c ON c.id = {SQLITE_FTS_TABLE}.rowid "
        "JOIN documents_document d ON d.id = c.document_id "
        f"WHERE {SQLITE_FTS_TABLE} MATCH %s AND d.status = %s {owner_clause} "
        'ORDER BY score, c.document_id, c."index" LIMIT %s OFFSET %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        scored = cursor.fetchall()
    chunks = (
        Chunk.objects.select_related("document")
        .defer("search_tokens", "document__text", "document__metadata", "document__analysis")
        .in_bulk([chunk_id for chunk_id, _ in scored])
    )
    # bm25 is lower for better matches; negate it so a higher score is better, as on PostgreSQL.
    return [(chunks[chunk_id], -score) for chunk_id, score in scored if chunk_id in chunks]
