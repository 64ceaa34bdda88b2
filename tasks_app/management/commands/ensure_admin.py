"""Create the admin account once: password from CASEWORK_ADMIN_PASSWORD, else generated."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin superuser if it does not exist (never with a default password)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CASEWORK_ADMIN_USER", "admin"))
        parser.add_argument("--email", default=os.environ.get("CASEWORK_ADMIN_EMAIL", ""))

    def handle(self, *args, username: str, email: str, **options):
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            self.stdout.write(f"admin account {username!r} exists")
            return
        password = os.environ.get("CASEWORK_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
        if os.environ.get("CASEWORK_ADMIN_PASSWORD"):
            self.stdout.write(f"created admin account {username!r} (password from the env)")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"created admin account {username!r} with password {password}\n"
                    "  (shown once; change it in the admin)"
                )
            )
