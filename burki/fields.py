from __future__ import annotations

from typing import Any

from django.db import models

from burki.crypto import decrypt_json, encrypt_json


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token: the database and its backups never hold the plaintext."""

    # For django-stubs: the Python value is JSON, not the str a TextField would hold.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        return decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        return value if value is not None else {}

    def get_prep_value(self, value: Any) -> str:
        return encrypt_json(value if value is not None else {})

    def value_to_string(self, obj: models.Model) -> str:
        # Serialization (dumpdata) gets the ciphertext, never the secret.
        return self.get_prep_value(self.value_from_object(obj))
