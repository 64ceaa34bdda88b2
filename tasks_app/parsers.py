"""Request parsers that refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with a 413.

Django enforces that limit only when a view reads `request.body` or `request.POST`; DRF's
JSON and form parsers read the raw stream, so without these a huge body is read whole.
"""

import io

from django.conf import settings
from rest_framework.parsers import FormParser, JSONParser

from .api_errors import RequestTooLarge


class _BoundedParserMixin:
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            request = (parser_context or {}).get("request")
            declared = request.META.get("CONTENT_LENGTH") if request is not None else None
            if declared and declared.isdigit() and int(declared) > limit:
                raise RequestTooLarge()
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge()
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)


class BoundedJSONParser(_BoundedParserMixin, JSONParser):
    pass


class BoundedFormParser(_BoundedParserMixin, FormParser):
    pass
