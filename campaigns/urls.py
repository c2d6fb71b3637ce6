from __future__ import annotations

from django.urls import path

from campaigns import views

# Mounted under /api/v1/.
urlpatterns = [
    path("campaigns", views.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>", views.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:campaign_id>/contacts", views.CampaignContactsApi.as_view(), name="campaign-contacts"),
    path("campaigns/<int:campaign_id>/start", views.CampaignStartApi.as_view(), name="campaign-start"),
    path("campaigns/<int:campaign_id>/pause", views.CampaignPauseApi.as_view(), name="campaign-pause"),
    path("campaigns/<int:campaign_id>/resume", views.CampaignResumeApi.as_view(), name="campaign-resume"),
    path("campaigns/<int:campaign_id>/cancel", views.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("campaigns/<int:campaign_id>/results.csv", views.CampaignResultsApi.as_view(), name="campaign-results"),
]
