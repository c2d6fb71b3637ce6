from __future__ import annotations

from django.urls import path

from assistants import views

urlpatterns = [
    path("assistants", views.AssistantListApi.as_view(), name="assistant-list"),
    path("assistants/<int:assistant_id>", views.AssistantDetailApi.as_view(), name="assistant-detail"),
    path("flows", views.FlowListApi.as_view(), name="flow-list"),
    path("flows/<int:flow_id>", views.FlowDetailApi.as_view(), name="flow-detail"),
    path("phone-numbers", views.PhoneNumberListApi.as_view(), name="phone-number-list"),
    path("phone-numbers/<int:number_id>", views.PhoneNumberDetailApi.as_view(), name="phone-number-detail"),
    # Under the account they come from; served here, where phone numbers are registered.
    path(
        "telephony/accounts/<int:account_id>/numbers/available",
        views.AccountNumbersAvailableApi.as_view(),
        name="telephony-account-numbers-available",
    ),
    path(
        "telephony/accounts/<int:account_id>/numbers/import",
        views.AccountNumbersImportApi.as_view(),
        name="telephony-account-numbers-import",
    ),
]
