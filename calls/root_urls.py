from __future__ import annotations

from django.urls import path

from calls import views

# Burki serves initiate at the root as well as under /api/v1 (compatibility contract).
urlpatterns = [
    path("calls/initiate", views.CallInitiateRootApi.as_view(), name="call-initiate-root"),
    path("calls/initiate/", views.CallInitiateSlashApi.as_view()),
]
