"""The documents task bodies, called directly on claimed rows (no Celery, no eager mode)."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services
from documents.models import Chunk, Document, DocumentSource, DocumentStatus, Export
from tasks_app.registry import PermanentError, TransientError
from tests.documents import samples
from tests.documents.conftest import running_context

pytestmark = pytest.mark.django_db

OPTIONS = {"split": True, "chunk_size": 40, "chunk_overlap": 10}


def uploaded(owner, name: str, data: bytes, **options) -> Document:
    upload = SimpleUploadedFile(name, data)
    document, _task = services.document_upload(
        owner=owner, upload=upload, options=services.ProcessOptions(**options)
    )
    return document


def test_process_of_an_uploaded_gbk_text_writes_exact_chunks_and_result(user, run_body):
    document = uploaded(user, "合同.txt", samples.gbk_text(), **OPTIONS)

    ctx, result = run_body(user, "documents.process", {"document_id": document.pk, **OPTIONS})

    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    assert document.text == samples.CONTRACT_ZH
    assert document.kind == "txt"
    assert document.metadata["encoding"] == "gb18030"
    assert document.language == "zh"
    assert document.title == "借款合同"
    assert document.ingest_task_id == ctx.task_id
    spans = list(document.chunks.order_by("index").values_list("index", "start", "end"))
    assert spans == [(0, 0, 25), (1, 19, 43), (2, 43, 72), (3, 71, 92), (4, 84, 109), (5, 109, 128)]
    for chunk in document.chunks.all():
        assert chunk.text == document.text[chunk.start : chunk.end]
        assert chunk.search_tokens  # indexed
    assert result["status"] == "success"
    assert result["filename"] == "合同.txt"
    assert result["document_count"] == 6
    assert result["chunk_count"] == 6
    assert [item["index"] for item in result["documents"]] == [0, 1, 2, 3, 4, 5]
    assert result["documents"][0]["preview"] == samples.CONTRACT_ZH[:25]
    assert [s.status for s in ctx.steps] == ["succeeded"] * 4


def test_process_without_split_reports_one_document_but_still_indexes_chunks(user, run_body):
    document = uploaded(user, "lease.txt", samples.LEASE_EN.encode())
    _, result = run_body(user, "documents.process", {"document_id": document.pk})

    assert result["document_count"] == 1
    assert result["chunk_count"] == 1  # 177 characters, one default-sized chunk
    assert result["documents"][0]["document_id"] == document.pk
    assert result["documents"][0]["language"] == "en"


def test_pdf_chunks_keep_their_page_numbers(user, run_body):
    document = uploaded(user, "loan.pdf", samples.pdf_two_pages(), **OPTIONS)
    run_body(user, "documents.process", {"document_id": document.pk, **OPTIONS})

    document.refresh_from_db()
    assert document.page_count == 2
    pages = list(document.chunks.values_list("start", "end", "page_start", "page_end"))
    assert pages == [(0, 15, 1, 1), (5, 44, 1, 1), (35, 75, 1, 2)]


def test_a_scanned_pdf_fails_permanently_and_marks_the_document_failed(user, run_body):
    document = uploaded(user, "scan.pdf", samples.scanned_pdf())

    with pytest.raises(PermanentError, match=r"no text layer.*\[no_text_layer\]"):
        run_body(user, "documents.process", {"document_id": document.pk})

    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.error_code == "no_text_layer"
    assert document.chunks.count() == 0


def test_another_users_document_is_not_processed(user, other_user, run_body):
    document = uploaded(other_user, "a.txt", b"secret text")
    with pytest.raises(PermanentError, match="No such document"):
        run_body(user, "documents.process", {"document_id": document.pk})
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING


def test_process_of_a_server_path_stores_a_copy_of_the_file(user, run_body, import_root):
    (import_root / "cases").mkdir()
    (import_root / "cases" / "page.html").write_text(samples.HTML_PAGE, encoding="utf-8")

    _, result = run_body(user, "documents.process", {"source": "cases/page.html"})

    document = Document.objects.get(pk=result["document_id"])
    assert document.source == DocumentSource.PATH
    assert document.source_path == str((import_root / "cases" / "page.html").resolve())
    assert document.kind == "html"
    assert document.text.startswith("张三诉李四借款合同纠纷案\n原告张三诉称")
    assert "首页" not in document.text and "版权所有" not in document.text
    assert document.file.read() == samples.HTML_PAGE.encode()
    assert document.owner == user


def test_process_of_a_path_outside_the_roots_fails_without_a_row(user, run_body, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    with pytest.raises(PermanentError, match=r"outside the allowed import directories"):
        run_body(user, "documents.process", {"source": str(outside)})
    assert Document.objects.count() == 0


def test_a_retried_process_of_a_source_rewrites_its_document(user, run_body, import_root):
    (import_root / "a.txt").write_text("First version of the text.")
    ctx, first = run_body(user, "documents.process", {"source": "a.txt"})
    ctx.steps = []
    _, second = run_body(user, "documents.process", {"source": "a.txt"}, ctx=ctx)

    assert first["document_id"] == second["document_id"]
    assert Document.objects.count() == 1
    assert Chunk.objects.count() == 1


def test_an_unreachable_url_is_a_transient_error(user, run_body, settings, httpserver):
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    httpserver.expect_request("/busy").respond_with_data("later", status=503)
    with pytest.raises(TransientError, match="503"):
        run_body(user, "documents.process", {"source": httpserver.url_for("/busy")})
    assert Document.objects.count() == 0


def test_process_of_a_url_fetches_and_records_it(user, run_body, settings, httpserver):
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    httpserver.expect_request("/judgment").respond_with_data(
        samples.HTML_PAGE, content_type="text/html; charset=utf-8"
    )
    url = httpserver.url_for("/judgment")
    _, result = run_body(user, "documents.process", {"source": url, "split": True})

    document = Document.objects.get(pk=result["document_id"])
    assert (document.source, document.source_url) == (DocumentSource.URL, url)
    assert document.title == "张三诉李四借款合同纠纷案"
    assert result["filename"] == "judgment"
    assert result["document_count"] == document.chunks.count() == 1


def test_analyze_stores_and_returns_the_findings(user, run_body):
    document = uploaded(user, "合同.txt", samples.gbk_text())
    run_body(user, "documents.process", {"document_id": document.pk})

    _, result = run_body(user, "documents.analyze", {"document_id": document.pk})

    analysis = result["analysis"]
    assert analysis["language"] == "zh"
    assert [d["value"] for d in analysis["dates"]] == ["2024-03-01", "2025-02-28"]
    assert [(m["value"], m["currency"]) for m in analysis["money"]] == [("100000", "CNY")]
    assert [c["value"] for c in analysis["case_numbers"]] == ["（2023）京01民初123号"]
    assert {p["role"] for p in analysis["parties"]} >= {"party_a", "party_b"}
    document.refresh_from_db()
    assert document.analysis == analysis


def test_analyze_refuses_a_document_that_is_not_ready(user, run_body):
    document = uploaded(user, "a.txt", b"some text")
    with pytest.raises(PermanentError, match="only ready documents"):
        run_body(user, "documents.analyze", {"document_id": document.pk})


def test_export_writes_originals_texts_chunks_and_a_manifest(user, run_body, media_root):
    first = uploaded(user, "合同.txt", samples.gbk_text())
    second = uploaded(user, "lease.txt", samples.LEASE_EN.encode())
    for document in (first, second):
        run_body(user, "documents.process", {"document_id": document.pk})

    ctx, result = run_body(user, "documents.export", {"document_ids": [second.pk, first.pk]})

    export = Export.objects.get(task_id=ctx.task_id)
    assert result["document_ids"] == [second.pk, first.pk]
    assert result["size"] == export.size == (media_root / export.file.name).stat().st_size
    assert result["download_url"] == f"/api/v1/documents/export/{ctx.task_id}/download"
    with zipfile.ZipFile(media_root / export.file.name) as archive:
        names = archive.namelist()
        first_folder = f"{first.pk:06d}-"
        assert f"{second.pk:06d}-lease/original.txt" in names
        folder = next(n.split("/")[0] for n in names if n.startswith(first_folder))
        assert archive.read(f"{folder}/original.txt") == samples.gbk_text()
        assert archive.read(f"{folder}/text.txt").decode() == samples.CONTRACT_ZH
        chunks = json.loads(archive.read(f"{folder}/chunks.json"))
        assert [c["text"] for c in chunks] == [samples.CONTRACT_ZH]
        manifest = json.loads(archive.read("manifest.json"))
    assert [d["id"] for d in manifest["documents"]] == [second.pk, first.pk]
    assert manifest["documents"][1]["sha256"] == first.sha256


def test_export_of_a_foreign_document_fails_without_an_archive(user, other_user, run_body):
    mine = uploaded(user, "a.txt", b"mine")
    theirs = uploaded(other_user, "b.txt", b"theirs")
    with pytest.raises(PermanentError, match=f"not yours\\): {theirs.pk}"):
        run_body(user, "documents.export", {"document_ids": [mine.pk, theirs.pk]})
    assert Export.objects.count() == 0


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_bulk_import_records_each_file_and_skips_bad_ones(user, run_body, import_root, tmp_path):
    folder = import_root / "batch"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(samples.gbk_text())
    (folder / "b.png").write_bytes(samples.PNG)
    (folder / "sub" / "c.docx").write_bytes(samples.docx_with_table())
    (folder / "d.zip").write_bytes(_zip({"x.txt": b"inside the archive", "y/z.md": b"# Z\n\ntext"}))
    (tmp_path / "outside.txt").write_text("secret")
    (folder / "link.txt").symlink_to(tmp_path / "outside.txt")

    _, result = run_body(user, "documents.bulk_import", {"path": "batch"})

    outcomes = [(f["file"], f["status"], f["code"]) for f in result["files"]]
    assert outcomes == [
        ("a.txt", "imported", ""),
        ("b.png", "failed", "unsupported_type"),
        ("d.zip!x.txt", "imported", ""),
        ("d.zip!y/z.md", "imported", ""),
        ("link.txt", "skipped", "unsafe_path"),
        ("sub/c.docx", "imported", ""),
    ]
    assert (result["imported"], result["failed"], result["skipped"]) == (4, 1, 1)
    assert result["document_count"] == 4
    assert Document.objects.filter(owner=user, status=DocumentStatus.READY).count() == 4
    docx = Document.objects.get(pk=result["documents"][-1])
    assert docx.text.endswith("Item | Purpose\nLoan contract | Proves the loan")
    assert "secret" not in "".join(Document.objects.values_list("text", flat=True))


def test_bulk_import_resumes_from_its_checkpoint(user, run_body, import_root):
    folder = import_root / "batch"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"Text of {name}.")
    ctx = running_context(user, "documents.bulk_import", {"path": "batch"})
    # As if an earlier attempt imported a.txt, checkpointed, then its worker died.
    first = services.document_ingest(
        owner_id=user.pk,
        data=b"Text of a.txt.",
        filename="a.txt",
        options=services.ProcessOptions(),
        source=DocumentSource.PATH,
        source_path=str((folder / "a.txt").resolve()),
        task_id=ctx.task_id,
    )
    ctx.checkpoint = {
        "outcomes": {
            "a.txt": [
                {
                    "file": "a.txt",
                    "status": "imported",
                    "document_id": first.pk,
                    "error": "",
                    "code": "",
                }
            ]
        }
    }

    _, result = run_body(user, "documents.bulk_import", {"path": "batch"}, ctx=ctx)

    assert result["resumed_after"] == 1
    assert [f["file"] for f in result["files"]] == ["a.txt", "b.txt", "c.txt"]
    assert result["documents"][0] == first.pk
    assert Document.objects.count() == 3
    assert set(ctx.checkpoint["outcomes"]) == {"a.txt", "b.txt", "c.txt"}


def test_bulk_import_of_a_directory_outside_the_roots_fails(user, run_body, tmp_path):
    with pytest.raises(PermanentError, match=r"\[unsafe_path\]"):
        run_body(user, "documents.bulk_import", {"path": str(tmp_path)})
