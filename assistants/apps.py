from __future__ import annotations

from django.apps import AppConfig


class AssistantsConfig(AppConfig):
    """Who answers: assistants, conversation flows, and the phone numbers assigned to them."""

    name = "assistants"
    default_auto_field = "django.db.models.BigAutoField"
