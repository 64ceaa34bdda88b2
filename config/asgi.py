"""ASGI entry point served by Daphne: HTTP through Django, WebSockets through Channels.

HTTP runs on a fixed set of long-lived request threads (config/asgi_threads.py), so a web
process keeps its database connections instead of opening one per request.

What loading made (modules, URL patterns, settings, the registry: ~200,000 objects) lives as
long as the process, so it is frozen out of the garbage collector's reach (config/gc_freeze.py):
a full collection walked all of it, a 100-250 ms pause every thousand or so API requests on the
2-core benchmark machine, and ~4 ms once frozen.

Autobahn (Daphne's WebSocket protocol) builds the arguments of a debug log line on every frame
it sends, coloured with click when click is importable (Celery installs it): four click.style
calls a frame, 8% of Daphne's CPU fanning progress out to 100 watchers (py-spy --gil,
bench/ws_latency.py). Casework never shows autobahn's debug lines in colour, so its colouring
is turned off.
"""

import os

import autobahn.util

from config.asgi_threads import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
autobahn.util._HAS_CLICK = False
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.gc_freeze import freeze_loaded  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from tasks_app.ws_auth import TokenOrSessionAuthMiddleware  # noqa: E402

if not settings.CELERY_ENABLED:
    # No beat without Celery: this process recovers what an earlier one left behind.
    from tasks_app.runner import start_inline_sweeper

    start_inline_sweeper()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin is checked in the middleware: bearer-token clients may omit it.
        "websocket": TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)

freeze_loaded()
