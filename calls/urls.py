from __future__ import annotations

from django.urls import path

from calls import views

# Mounted under /api/v1/. Literal paths come before the {id} ones so they are never shadowed.
urlpatterns = [
    path("calls/initiate", views.CallInitiateApi.as_view(), name="call-initiate"),
    path("calls/initiate/", views.CallInitiateSlashApi.as_view()),
    path("calls/validate", views.CallValidateApi.as_view(), name="call-validate"),
    path("calls", views.CallListApi.as_view(), name="call-list"),
    path("calls/export", views.CallExportApi.as_view(), name="call-export"),
    path("calls/sid/<str:call_sid>", views.CallBySidApi.as_view(), name="call-by-sid"),
    path("calls/<int:call_id>", views.CallDetailApi.as_view(), name="call-detail"),
    path("calls/<int:call_id>/context", views.CallContextApi.as_view(), name="call-context"),
    path("calls/<int:call_id>/events", views.CallEventListApi.as_view(), name="call-events"),
    path("calls/<int:call_id>/cancel", views.CallCancelApi.as_view(), name="call-cancel"),
    path("calls/<str:call_sid>/terminate", views.CallTerminateApi.as_view(), name="call-terminate"),
]

# The do-not-call list; bulk before the {id} route.
urlpatterns += [
    path("suppressions", views.SuppressionListApi.as_view(), name="suppression-list"),
    path("suppressions/bulk", views.SuppressionBulkApi.as_view(), name="suppression-bulk"),
    path("suppressions/<int:suppression_id>", views.SuppressionDetailApi.as_view(), name="suppression-detail"),
    path("calls/<int:call_id>/opt-out", views.CallOptOutApi.as_view(), name="call-opt-out"),
]
