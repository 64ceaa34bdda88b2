"""The SSRF list, hostile server paths and hostile archives, through the public API."""

import io
import socket
import zipfile

import pytest
from rest_framework.test import APIClient

from documents.models import Document
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

PROCESS = "/api/v1/documents/async/process"

SSRF = [
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://user:pw@example.com/",
    "http://example.com@127.0.0.1/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
]


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("source", SSRF)
def test_every_ssrf_target_is_refused_before_any_row_is_written(api, source):
    response = api.post(PROCESS, {"source": source}, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["source"]
    assert Task.objects.count() == Document.objects.count() == 0


@pytest.mark.parametrize("source", ["http://localhost/", "http://localhost:8080/doc.txt"])
def test_a_name_for_this_machine_fails_the_task_with_a_clear_error(api, source):
    """Names are resolved when fetching (no DNS at submit): the task fails, nothing is read."""
    from tasks_app import runner

    response = api.post(PROCESS, {"source": source}, format="json")
    assert response.status_code == 201
    task_id = response.json()["task_id"]

    assert runner.execute(task_id) == "failed"
    task = Task.objects.get(pk=task_id)
    assert task.attempts == 1
    assert "blocked address (127.0.0.1)" in task.error_message
    assert Document.objects.filter(status="ready").count() == 0


def test_a_name_resolving_public_then_private_is_pinned_to_the_first_answer(monkeypatch):
    """DNS rebinding: the guard resolves once, checks, and connects to that address only."""
    from documents import fetch

    answers = iter(["93.184.216.34", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80))]
        return real(host, *args, **kwargs)

    connected = []
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(
        socket.socket,
        "connect",
        lambda self, address: connected.append(address) or (_ for _ in ()).throw(OSError("x")),
    )
    with pytest.raises((fetch.UnsafeUrl, fetch.FetchFailed, fetch.FetchUnavailable)):
        fetch.fetch_url("http://rebind.example/doc.txt")
    assert all(address[0] != "127.0.0.1" for address in connected)


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "imports/../../../etc/shadow", "a\x00b.txt"],
)
def test_hostile_server_paths_are_refused(api, path, settings, tmp_path):
    settings.DOCUMENTS_IMPORT_ROOTS = [str(tmp_path)]

    response = api.post(PROCESS, {"source": path}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["source"]
    assert Task.objects.count() == 0


def test_a_symlink_out_of_the_import_root_is_refused(api, settings, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape.txt").symlink_to("/etc/hostname")
    settings.DOCUMENTS_IMPORT_ROOTS = [str(root)]

    response = api.post(PROCESS, {"source": str(root / "escape.txt")}, format="json")

    assert response.status_code == 400
    assert Task.objects.count() == 0


def hostile_zip(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if kind == "slip":
            archive.writestr("../../evil.txt", "x")
        elif kind == "symlink":
            info = zipfile.ZipInfo("link")
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
        elif kind == "many":
            for i in range(10_000):
                archive.writestr(f"f{i}.txt", "")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "kind, message",
    [
        ("slip", "climbs out of the archive"),
        ("symlink", "link"),
        ("many", "entries"),
    ],
)
def test_hostile_archives_are_refused(kind, message):
    from documents.engines.archive import safe_zip_members
    from documents.engines.errors import UnsafeArchive

    with pytest.raises(UnsafeArchive) as refused:
        safe_zip_members(io.BytesIO(hostile_zip(kind)))
    assert message in str(refused.value).lower()
