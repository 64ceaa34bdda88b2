"""Downloads stream through Daphne: the web process never holds the whole file.

Django's ASGI handler reads a FileResponse's synchronous iterator into a list before sending
it; tasks_app.downloads.DownloadResponse reads chunk by chunk instead.
"""

import hashlib
import os
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from knox.models import AuthToken

from documents import services
from tests.conftest import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)

SIZE = 64 * 1024 * 1024


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_a_large_download_streams_through_daphne(user, media_root, tmp_path):
    document, _ = services.document_upload(
        owner=user,
        upload=SimpleUploadedFile("卷宗.txt", "占位".encode("gbk")),
        options=services.ProcessOptions(),
    )
    data = os.urandom(1024 * 1024) * (SIZE // (1024 * 1024))
    (media_root / document.file.name).write_bytes(data)
    _, token = AuthToken.objects.create(user)
    auth = {"Authorization": f"Bearer {token}"}

    with daphne_server(tmp_path / "daphne.log", MEDIA_ROOT=str(media_root)) as (base_url, pid):
        warm = requests.get(f"{base_url}/api/v1/documents/", headers=auth, timeout=30)
        assert warm.status_code == 200
        before = peak_rss_kib(pid)
        digest, received = hashlib.sha256(), 0
        with requests.get(
            f"{base_url}/api/v1/documents/{document.pk}/download",
            headers=auth,
            stream=True,
            timeout=60,
        ) as response:
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == SIZE
            for chunk in response.iter_content(64 * 1024):
                digest.update(chunk)
                received += len(chunk)
        grown_kib = peak_rss_kib(pid) - before

    assert received == SIZE
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert grown_kib < 16 * 1024, f"Daphne's peak RSS grew {grown_kib} KiB for a 64 MiB file"
