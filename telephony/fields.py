from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from telephony.numbers import MAX_INPUT_LENGTH, InvalidPhoneNumber, normalize_e164


class E164Field(models.CharField):
    """A phone number, normalized to E.164 when cleaned, so forms accept "+1 (415) 555-0100" as typed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return normalize_e164(value)
        except InvalidPhoneNumber as exc:
            raise ValidationError(str(exc), code="invalid_phone_number") from None

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        # Room for the separators people type; the model field validates the normalized length.
        kwargs.setdefault("max_length", MAX_INPUT_LENGTH)
        return super().formfield(form_class=form_class, choices_form_class=choices_form_class, **kwargs)
