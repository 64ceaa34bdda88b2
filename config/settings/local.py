"""The embedded default: one machine, SQLite in WAL mode, a local Redis."""

from .base import *  # noqa: F403
from .base import CASEWORK_METRICS_ALLOWED_IPS, CASEWORK_WEBHOOK_SECRET, SECRET_KEY, VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

if not SECRET_KEY:
    # A key generated once per checkout and kept beside the SQLite file, never a constant.
    import secrets

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()


def _generated_secret(name: str) -> str:
    """A secret generated once per checkout and kept under var/, never a constant."""
    import secrets

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


if not CASEWORK_WEBHOOK_SECRET:
    CASEWORK_WEBHOOK_SECRET = _generated_secret("webhook_secret")
# On one machine, /metrics answers the machine itself unless told otherwise.
CASEWORK_METRICS_ALLOWED_IPS = CASEWORK_METRICS_ALLOWED_IPS or ["127.0.0.1", "::1"]

WHITENOISE_USE_FINDERS = True
