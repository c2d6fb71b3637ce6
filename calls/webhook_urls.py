from __future__ import annotations

from django.urls import path

from calls import webhooks

# Mounted under /telephony/. The token is the call's opaque token, never its id or a phone number.
urlpatterns = [
    path("<slug:provider>/answer/<str:token>", webhooks.answer, name="telephony-answer"),
    path("<slug:provider>/status/<str:token>", webhooks.status, name="telephony-status"),
]
