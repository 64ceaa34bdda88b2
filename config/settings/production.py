"""Production: PostgreSQL and Redis from the environment; no secret has a default."""

from config.logging import logging_config

from .base import *  # noqa: F403
from .base import CASEWORK_WEBHOOK_SECRET, DATABASES, SECRET_KEY, env

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
LOGGING = logging_config(
    json=env.bool("LOG_JSON", default=True), level=env.str("LOG_LEVEL", default="INFO")
)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    raise RuntimeError("production settings need DATABASE_URL pointing at PostgreSQL")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
if not CASEWORK_WEBHOOK_SECRET:
    raise RuntimeError("CASEWORK_WEBHOOK_SECRET must be set in production (webhook signatures)")
