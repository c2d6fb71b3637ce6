from __future__ import annotations

from django.urls import path

from telephony import views

urlpatterns = [
    path("telephony/accounts", views.TelephonyAccountListApi.as_view(), name="telephony-account-list"),
    path(
        "telephony/accounts/<int:account_id>",
        views.TelephonyAccountDetailApi.as_view(),
        name="telephony-account-detail",
    ),
]
