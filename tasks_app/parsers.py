"""Request parsers that refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with a 413.

Django enforces that limit only when a view reads `request.body` or `request.POST`; DRF's
JSON and form parsers read the raw stream, so without these a huge body is read whole.
"""

import io

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser


class _BoundedParserMixin:
    def parse(self, stream, media_type=None, parser_context=None):
        # Imported here: the parsers are DRF's defaults, loaded while api_errors imports DRF.
        from .api_errors import RequestTooLarge

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


MAX_JSON_DEPTH = 32


class BoundedJSONParser(_BoundedParserMixin, JSONParser):
    """JSON no larger than the upload limit and nested at most MAX_JSON_DEPTH deep.

    Python's decoder raises RecursionError (not a ValueError) near a thousand levels, which
    would surface as a 500; nothing the API takes is nested more than a few levels.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        if _depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        return data


def _depth(value) -> int:
    """Nesting depth of decoded JSON, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


class BoundedFormParser(_BoundedParserMixin, FormParser):
    pass
