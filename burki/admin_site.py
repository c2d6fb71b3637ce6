"""The admin site: Burki's name on every page, models grouped where people look for them, and a dashboard.

It is Django's default site (BurkiAdminConfig, in INSTALLED_APPS for django.contrib.admin), so every app registers
on `admin.site` as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

# Renders a panel of the index page for this request, or None to show nothing.
IndexPanel = Callable[[HttpRequest], SafeString | None]


class BurkiAdminSite(admin.AdminSite):
    site_header = "Burki administration"
    site_title = "Burki admin"
    index_title = "Dashboard"
    index_template = "admin/burki/index.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.index_panels: list[IndexPanel] = []

    def register_index_panel(self, panel: IndexPanel) -> None:
        """Apps add their panels to the index page here (the calls app: today's calls), above the models."""
        self.index_panels.append(panel)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        panels = [html for html in (panel(request) for panel in self.index_panels) if html]
        return super().index(request, {"index_panels": panels, **(extra_context or {})})

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """Each model under the section its ModelAdmin names (`admin_section`, an app label), else its own app's:
        phone numbers belong with telephony in people's minds, and in the assistants app in the code."""
        apps = super().get_app_list(request)
        by_label = {app["app_label"]: app for app in apps}
        for app in apps:
            for model in list(app["models"]):
                section = getattr(self._registry.get(model["model"]), "admin_section", None)
                if section and section != app["app_label"] and section in by_label:
                    app["models"].remove(model)
                    by_label[section]["models"].append(model)
        for app in apps:
            app["models"].sort(key=lambda model: str(model["name"]))
        apps = [app for app in apps if app["models"]]
        return [app for app in apps if app["app_label"] == app_label] if app_label else apps


class BurkiAdminConfig(AdminConfig):
    """django.contrib.admin, with BurkiAdminSite as `admin.site`."""

    default_site = "burki.admin_site.BurkiAdminSite"
