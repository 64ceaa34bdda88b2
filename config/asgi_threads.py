"""Django's ASGI handler, run on a fixed set of long-lived request threads.

Django's own ASGIHandler runs each request's synchronous code (middleware, sync views, the
request signals) on a thread made for that request and dropped after it (asgiref's
ThreadSensitiveContext, Django ticket #32889). Django's database connections belong to a thread,
so under Daphne every request opened a new PostgreSQL connection, and with CONN_MAX_AGE > 0 left
it open until the garbage collector found the dead thread: at 16 concurrent clients PostgreSQL
ran out of connections ("sorry, too many clients already") and requests failed with 500 (Django
ticket #33497 answers it by turning persistent connections off under ASGI).

This handler keeps Django's request handling and changes only where it runs: a request takes
one of `threads` long-lived single-thread executors (asgiref's ThreadSensitiveContext with an
executor) and gives it back when its response is sent, as a threaded WSGI server does. A thread
keeps its connection between requests, so CONN_MAX_AGE and CONN_HEALTH_CHECKS mean what they
mean under gunicorn; request_started and request_finished run on that same thread, so
close_old_connections closes the connection it should; a web process never holds more than
`threads` request connections. A request that finds every thread busy waits for one.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler


class ThreadPoolASGIHandler(ASGIHandler):
    def __init__(self, threads: int):
        if threads < 1:
            raise ImproperlyConfigured("CASEWORK_ASGI_THREADS must be at least 1")
        super().__init__()
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"asgi-request-{n}")
            for n in range(threads)
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: asyncio.Queue[ThreadPoolExecutor] | None = None

    def _idle_executors(self) -> asyncio.Queue[ThreadPoolExecutor]:
        # A server runs one event loop; a queue is bound to the loop that first waits on it,
        # so another loop (one per test, say) starts from a full queue of its own.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._idle = loop, asyncio.Queue()
            for executor in self.executors:
                self._idle.put_nowait(executor)
        return self._idle

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._idle_executors()
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)


def get_asgi_application() -> ThreadPoolASGIHandler:
    """django.core.asgi.get_asgi_application, with the request threads kept."""
    django.setup(set_prefix=False)
    from django.conf import settings

    return ThreadPoolASGIHandler(settings.CASEWORK_ASGI_THREADS)
