"""The full-text index over Chunk.search_tokens, in the form each database supports.

PostgreSQL: a GIN index on to_tsvector('simple', search_tokens). The 'simple' configuration
lower-cases and never stems, which suits tokens jieba already segmented; the expression must
match the one ``documents.selectors`` queries with, so the planner uses the index.

SQLite: an FTS5 table mirroring search_tokens with rowid = chunk id, kept in step by
``documents.services`` whenever chunks are written or deleted.

Other databases get no index (search then reports it is unavailable). The model state does
not change, so ``makemigrations --check`` stays clean on every database.
"""

from django.db import migrations

from documents.models import POSTGRES_SEARCH_INDEX, SQLITE_FTS_TABLE


def create_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {POSTGRES_SEARCH_INDEX} ON documents_chunk "
            "USING gin (to_tsvector('simple'::regconfig, search_tokens))"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_FTS_TABLE} "
            "USING fts5(search_tokens, tokenize = 'unicode61 remove_diacritics 0')"
        )


def drop_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {POSTGRES_SEARCH_INDEX}")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {SQLITE_FTS_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]

    operations = [migrations.RunPython(create_search_index, drop_search_index, elidable=False)]
