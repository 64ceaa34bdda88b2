"""Create an API bearer token (django-rest-knox) for a user; the token is shown once."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import get_token_model
from knox.settings import knox_settings


class Command(BaseCommand):
    help = "Create an API token for USER (shown once; only its digest is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--hours", type=float, help="lifetime in hours (default API_TOKEN_TTL_HOURS)"
        )

    def handle(self, *args, username: str, hours, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is not active")
        ttl = timedelta(hours=hours) if hours else knox_settings.TOKEN_TTL
        instance, token = get_token_model().objects.create(user=user, expiry=ttl)
        self.stdout.write(token)
        expiry = instance.expiry.isoformat() if instance.expiry else "never"
        self.stderr.write(f"token for {username} expires {expiry}; it is not shown again")
