"""File downloads that stream under Daphne as they do under a WSGI server.

Django serves a FileResponse's file through a synchronous iterator. Under ASGI it cannot send
a synchronous iterator as it goes: it reads the whole thing into a list first (with a warning
each time), so downloading a 2 GB export held 2 GB in the web process. Under ASGI the response
here reads the file chunk by chunk, on the request's thread, as the server sends it.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse


class DownloadResponse(FileResponse):
    def __init__(self, request, filelike, *args, **kwargs):
        super().__init__(filelike, *args, **kwargs)  # headers, and the file closed at the end
        if isinstance(getattr(request, "_request", request), ASGIRequest):
            self.streaming_content = self._chunks(filelike)

    async def _chunks(self, filelike):
        read = sync_to_async(filelike.read)
        # block_size is read here, not captured: Django's ASGI handler raises it to 64 KiB
        # after the view returns.
        while chunk := await read(self.block_size):
            yield chunk
