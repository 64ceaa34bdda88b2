"""An upload handler that refuses a file once it passes DOCUMENTS_MAX_UPLOAD_BYTES.

Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE) leave file parts unbounded; this handler
streams the file to a temporary file and stops the request with a 413 as soon as the bytes
received pass the cap (or at once when the declared length already does), so an oversized
upload is never read whole and never reaches a row.
"""

from __future__ import annotations

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework import status

from tasks_app.api_errors import RequestTooLarge

# Room for the multipart envelope and the small form fields around the file.
ENVELOPE_BYTES = 64 * 1024


class UploadTooLarge(RequestTooLarge):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Write uploaded files to temporary files, at most ``limit`` bytes in all."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + ENVELOPE_BYTES:
            raise self._too_large()
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            if getattr(self, "file", None) is not None:
                self.file.close()  # removes the temporary file
            raise self._too_large()
        return super().receive_data_chunk(raw_data, start)

    def _too_large(self) -> UploadTooLarge:
        return UploadTooLarge(
            f"The file is larger than the {self.limit} bytes a document may have.",
        )
