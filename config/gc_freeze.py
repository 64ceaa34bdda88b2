"""Keep what a long-lived process loaded at startup out of the garbage collector's full passes.

A web or worker process loads ~200,000 objects (modules, URL patterns, serializers, settings,
the task registry) that live as long as it does. Each full collection walked all of them: a
100-250 ms pause every thousand or so requests or tasks on the 2-core benchmark machine. Frozen
(`gc.freeze()`), they are never walked again; in a prefork Celery child, never writing their
GC headers also keeps the pages it shares with its parent shared.
"""

from __future__ import annotations

import gc


def freeze_loaded(*, load_urls: bool = True) -> None:
    """Load the URLconf (every view, serializer and filter module it imports), collect what
    loading left as garbage, then freeze everything alive."""
    if load_urls:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (imports the URLconf and every view module)
    gc.collect()
    gc.freeze()
