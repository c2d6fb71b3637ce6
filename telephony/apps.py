from __future__ import annotations

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    """Provider accounts and the provider backends. Imports no other app of ours."""

    name = "telephony"
    default_auto_field = "django.db.models.BigAutoField"
