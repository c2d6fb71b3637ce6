from __future__ import annotations

from django.urls import re_path

from calls import views

# Burki serves initiate at the root as well as under /api/v1 (compatibility contract).
urlpatterns = [re_path(r"^calls/initiate/?$", views.CallInitiateApi.as_view(), name="call-initiate-root")]
