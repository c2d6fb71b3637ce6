from __future__ import annotations

from django.urls import path

from assistants import views

urlpatterns = [
    path("phone-numbers", views.PhoneNumberListApi.as_view(), name="phone-number-list"),
    path("phone-numbers/<int:number_id>", views.PhoneNumberDetailApi.as_view(), name="phone-number-detail"),
]
