"""Statuspage-style public ids: 12 characters of lowercase base-36, random."""

import secrets

from django.db import models

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LENGTH = 12
ID_REGEX = r"^[0-9a-z]{12}$"


def new_public_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def public_id_number(public_id: str) -> int:
    """A stable integer for an id (Atom entry ids want one); base-36 decoding is a bijection."""
    return int(public_id, 36)


def number_to_public_id(number: int) -> str:
    """The inverse of public_id_number: an integer as a 12-character id (for rows keyed by integers)."""
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(LENGTH, "0")


class PublicIdModel(models.Model):
    id = models.CharField(primary_key=True, max_length=LENGTH, default=new_public_id, editable=False)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(condition=models.Q(id__regex=ID_REGEX), name="%(app_label)s_%(class)s_id_format"),
        ]
