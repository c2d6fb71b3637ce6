from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from burki import api, auth_api, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("calls.root_urls")),
    path("telephony/", include("calls.webhook_urls")),
    path("api/v1/auth/token", auth_api.TokenObtainApi.as_view(), name="auth-token"),
    path("api/v1/auth/token/refresh", auth_api.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("api/v1/auth/logout", auth_api.LogoutApi.as_view(), name="auth-logout"),
    path("api/v1/auth/password", auth_api.PasswordChangeApi.as_view(), name="auth-password"),
    path("api/v1/organization", api.OrganizationApi.as_view(), name="organization"),
    # Burki's historical path for the same thing; listed before the assistants' {id} routes.
    path("api/v1/assistants/me/organization", api.OrganizationAliasApi.as_view(), name="organization-alias"),
    path("api/v1/api-keys", api.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api/v1/api-keys/<int:key_id>", api.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api/v1/", include("calls.urls")),
    path("api/v1/", include("telephony.urls")),
    path("api/v1/", include("assistants.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("campaigns.urls")),
]

handler400 = "burki.errors.json_bad_request"
handler403 = "burki.errors.json_permission_denied"
handler404 = "burki.errors.json_not_found"
handler500 = "burki.errors.json_server_error"
