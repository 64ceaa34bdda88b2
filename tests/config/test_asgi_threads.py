"""HTTP under ASGI runs on a fixed set of request threads that keep their database connections.

Django's own ASGI handler made a thread per request, and with it a PostgreSQL connection per
request that outlived the thread: at 16 concurrent clients Daphne ran out of connections.
"""

import asyncio
import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from channels.testing import HttpCommunicator
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path
from knox.models import AuthToken

from config.asgi_threads import ThreadPoolASGIHandler
from tests.conftest import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)


def where(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return JsonResponse({"thread": threading.current_thread().name, "pid": pid})


urlpatterns = [path("where", where)]


def other_backends() -> set[int]:
    """Client backends on the test database other than this test's own connection
    (autovacuum workers are not clients)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_requests_run_on_the_fixed_threads_each_keeping_one_connection():
    handler = ThreadPoolASGIHandler(2)

    async def requests(n):
        communicators = [
            HttpCommunicator(handler, "GET", "/where", headers=[(b"host", b"testserver")])
            for _ in range(n)
        ]
        return await asyncio.gather(*(c.get_response(timeout=20) for c in communicators))

    try:
        responses = asyncio.run(requests(12)) + asyncio.run(requests(12))
        assert [r["status"] for r in responses] == [200] * 24
        seen = [json.loads(r["body"]) for r in responses]
        pids_by_thread = defaultdict(set)
        for row in seen:
            pids_by_thread[row["thread"]].add(row["pid"])
        assert set(pids_by_thread) == {"asgi-request-0_0", "asgi-request-1_0"}
        assert all(len(pids) == 1 for pids in pids_by_thread.values())
    finally:
        for executor in handler.executors:
            executor.submit(connections.close_all).result()
            executor.shutdown()


def test_a_handler_needs_a_thread():
    with pytest.raises(ImproperlyConfigured, match="CASEWORK_ASGI_THREADS"):
        ThreadPoolASGIHandler(0)


def test_daphne_under_concurrent_clients_holds_at_most_its_threads_connections(user, tmp_path):
    """The real server and settings (CONN_MAX_AGE 60): 200 API requests from 16 clients at
    once are all answered, over no more database connections than the server has threads."""
    _, token = AuthToken.objects.create(user)
    before = other_backends()
    with daphne_server(tmp_path / "daphne.log", CASEWORK_ASGI_THREADS="3") as (base_url, _):

        def get(_):
            with requests.Session() as client:
                client.headers["Authorization"] = f"Bearer {token}"
                return [client.get(f"{base_url}/api/v1/tasks/", timeout=30) for _ in range(10)]

        with ThreadPoolExecutor(16) as pool:
            responses = [r for batch in pool.map(get, range(20)) for r in batch]
        during = other_backends() - before
    assert [r.status_code for r in responses] == [200] * 200, responses[0].text
    assert 1 <= len(during) <= 3


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_a_request_crosses_to_its_thread_once_for_middleware_and_view(monkeypatch):
    """The project's middleware (WhiteNoise among them, which is synchronous only) and the view
    run as one synchronous call on the request's thread: in Django's async chain each
    middleware handed its request and response to the thread and back: 15 hand-offs here."""
    from asgiref import sync

    handler = ThreadPoolASGIHandler(1)
    handoffs = []
    original = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        handoffs.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    communicator = HttpCommunicator(handler, "GET", "/where", headers=[(b"host", b"testserver")])
    try:
        response = asyncio.run(communicator.get_response(timeout=20))
    finally:
        handler.executors[0].submit(connections.close_all).result()
        handler.executors[0].shutdown()

    assert response["status"] == 200
    # request_started's receivers, the whole get_response, and response.close (which sends
    # request_finished): three, whatever the number of middlewares.
    assert len(handoffs) == 3, handoffs
    assert any("get_response" in name for name in handoffs), handoffs


def test_the_asgi_application_freezes_what_loading_made():
    """A full garbage collection in a web process walks only what requests made since start."""
    import subprocess
    import sys

    from tests.conftest import REPO, worker_env

    script = "import gc, config.asgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=worker_env(CELERY_ENABLED="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    frozen, tracked = map(int, done.stdout.split())
    assert frozen > 50_000
    assert tracked < frozen / 10
