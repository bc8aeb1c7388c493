"""`manage.py ensureadmin`: make sure a superuser exists, and print how to log in.

Used by `make run`. The password is random, made once and kept in `VAR_DIR/admin-password` (mode 0600),
so every run prints the same credentials and a database reset gets the same password back.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

PASSWORD_FILE = "admin-password"


class Command(BaseCommand):
    help = "Create the superuser 'admin' with a remembered random password if missing; print the credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/", help="Admin URL to print.")

    def handle(self, *args, username: str, url: str, **options):
        password = remembered_password(Path(settings.VAR_DIR) / PASSWORD_FILE)
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                **{User.USERNAME_FIELD: username},
                defaults={"is_staff": True, "is_superuser": True, "is_active": True},
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])

        if created or user.check_password(password):
            shown = password
        else:
            # Someone changed it in the admin since; theirs wins, and it is not ours to print.
            shown = f"(changed since it was created; not the one in {Path(settings.VAR_DIR) / PASSWORD_FILE})"
        self.stdout.write(f"Admin: {url}  user: {username}  password: {shown}")


def remembered_password(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(15)
    try:
        # O_EXCL: if another process wrote it first, use theirs.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password
