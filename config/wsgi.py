"""WSGI entry point (REST only; WebSockets need config.asgi).

What loading made is frozen out of the garbage collector's full passes (config/gc_freeze.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

from config.gc_freeze import freeze_loaded  # noqa: E402

freeze_loaded()
