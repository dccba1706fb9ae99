"""Secrets we must read back (to sign or verify with them) are encrypted at rest with Fernet.

FIELD_ENCRYPTION_KEYS is a list of Fernet keys: the first encrypts, every one decrypts, so a key
is rotated by putting a new one first and re-saving (`manage.py secrets_reencrypt`) before the
old one is dropped. Embedded mode derives one key from SECRET_KEY; production must set its own
(system check levqor.E004), so a leaked database alone does not give the secrets away."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

_fernet: tuple[tuple[str, ...], MultiFernet] | None = None


class SecretUnreadable(Exception):
    """A stored secret that none of FIELD_ENCRYPTION_KEYS decrypts (a key was dropped too early)."""


def _keys() -> tuple[str, ...]:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if keys:
        return keys
    derived = hashlib.sha256(b"levqor-field-encryption:" + settings.SECRET_KEY.encode()).digest()
    return (base64.urlsafe_b64encode(derived).decode(),)


def _multi() -> MultiFernet:
    global _fernet
    keys = _keys()
    if _fernet is None or _fernet[0] != keys:
        _fernet = (keys, MultiFernet([Fernet(key) for key in keys]))
    return _fernet[1]


def secret_encrypt(plain: str) -> str:
    """The Fernet token (text) of `plain`, made with the first key."""
    return _multi().encrypt(plain.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The plain text of a token made by secret_encrypt with any of the configured keys."""
    try:
        return _multi().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("No configured FIELD_ENCRYPTION_KEYS key decrypts this secret.") from exc


def secret_reencrypt(token: str) -> str:
    """The same secret encrypted with the current first key (key rotation)."""
    return _multi().rotate(token.encode()).decode()


class EncryptedSecretField(models.TextField):
    """A text column holding a Fernet token; Python code only ever sees the plain secret.
    "" stays "" (no secret), so a blank optional secret is not an encrypted empty string."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return secret_decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return secret_encrypt(value)


def encrypted_fields():
    """(model, [field names]) of every installed model with EncryptedSecretField columns."""
    from django.apps import apps

    for model in apps.get_models():
        names = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedSecretField)]
        if names:
            yield model, names


def secrets_reencrypt_all(*, progress=None) -> dict[str, int]:
    """Re-encrypt every stored secret with the first of FIELD_ENCRYPTION_KEYS (after a new key was put
    first), row by row in its own transaction: label -> rows rewritten. `progress(label, done, total)`
    is told along the way. A row no configured key decrypts raises SecretUnreadable naming it."""
    from django.db import transaction

    done_by_model = {}
    for model, names in encrypted_fields():
        label = model._meta.label
        rows = model.objects.only("pk", *names).order_by("pk")
        total, done = rows.count(), 0
        try:
            for row in rows.iterator(chunk_size=500):  # each secret decrypted as it is loaded
                with transaction.atomic():  # get_prep_value encrypts with the first key
                    model.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
                done += 1
                if progress and (done % 500 == 0 or done == total):
                    progress(label, done, total)
        except SecretUnreadable as exc:
            raise SecretUnreadable(f"{label}, after {done} of {total} rows: {exc}") from exc
        done_by_model[label] = done
    return done_by_model
