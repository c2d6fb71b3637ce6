"""Static files in production: under gunicorn with DEBUG=0 (the Procfile's `web`), after collectstatic, the admin's
CSS and Swagger UI's JavaScript load, by hashed names, cached for ever, compressed when the client accepts it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.fakes.production import Fetched, ProductionServer

pytest_plugins = ["tests.fakes.fixtures"]

# collectstatic's names: the file's own name, a dot, 12 hex digits of its content's hash, its extension.
HASHED = re.compile(r"\.[0-9a-f]{12}\.(css|js)$")
FOREVER = "max-age=315360000, public, immutable"


class _Assets(HTMLParser):
    """The stylesheets and scripts a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "link" and named.get("rel") == "stylesheet" and named.get("href"):
            self.urls.append(str(named["href"]))
        if tag == "script" and named.get("src"):
            self.urls.append(str(named["src"]))


def assets_of(page: Fetched) -> list[str]:
    parser = _Assets()
    parser.feed(page.text())
    return parser.urls


def assert_served_for_ever_and_compressed(server: ProductionServer, url: str, content_type: str) -> None:
    plain = server.get(url)
    gzipped = server.get(url, {"Accept-Encoding": "gzip"})
    brotli = server.get(url, {"Accept-Encoding": "gzip, deflate, br"})

    for fetched in (plain, gzipped, brotli):
        assert fetched.status == 200, url
        assert fetched.header("Content-Type").startswith(content_type), (url, fetched.header("Content-Type"))
        assert fetched.header("Cache-Control") == FOREVER, url
        assert "Accept-Encoding" in fetched.header("Vary"), url
        assert fetched.decoded() == plain.body
    assert plain.header("Content-Encoding") == ""
    assert gzipped.header("Content-Encoding") == "gzip"
    assert brotli.header("Content-Encoding") == "br"
    assert len(brotli.body) < len(gzipped.body) < len(plain.body)


def test_the_admin_is_styled_under_gunicorn_without_debug(production_server: ProductionServer) -> None:
    page = production_server.get("/admin/login/")

    assert page.status == 200
    stylesheets = [url for url in assets_of(page) if url.endswith(".css")]
    assert "/static/admin/css/base." in " ".join(stylesheets)
    for url in stylesheets:
        assert url.startswith("/static/admin/css/"), url
        assert HASHED.search(url), url
        assert_served_for_ever_and_compressed(production_server, url, "text/css")


def test_swagger_ui_loads_its_javascript_under_gunicorn_without_debug(production_server: ProductionServer) -> None:
    page = production_server.get("/api/docs/")

    assert page.status == 200
    assets = assets_of(page)
    scripts = [url for url in assets if url.endswith(".js")]
    assert any("/swagger-ui-bundle." in url for url in scripts), assets
    assert any(url.endswith(".css") for url in assets), assets
    for url in assets:
        assert url.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/"), url
        assert HASHED.search(url), url
        content_type = "text/css" if url.endswith(".css") else "text/javascript"
        assert_served_for_ever_and_compressed(production_server, url, content_type)
    assert production_server.get("/api/schema/", {"Accept": "application/json"}).status == 200


def test_only_collected_files_are_served_and_unknown_ones_are_a_json_404(production_server: ProductionServer) -> None:
    unhashed = production_server.get("/static/admin/css/base.css")  # only the hashed copies are kept
    unknown = production_server.get("/static/nothing-here.js")
    source = production_server.get("/static/../manage.py")

    for fetched in (unhashed, unknown, source):
        assert fetched.status == 404
        assert fetched.header("Content-Type") == "application/json"


def test_a_missing_collectstatic_is_a_warning_of_manage_py_check() -> None:
    out = StringIO()
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STORAGES=storages, STATIC_ROOT="/nonexistent/burki-static", DEBUG=False):
        call_command("check", stdout=out, stderr=out)
        warned = out.getvalue()
    with override_settings(STORAGES=storages, STATIC_ROOT="/nonexistent/burki-static", DEBUG=True):
        quiet = StringIO()
        call_command("check", stdout=quiet, stderr=quiet)

    assert "burki.W002" in warned
    assert "collectstatic --noinput" in warned
    assert "burki.W002" not in quiet.getvalue()


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_without_debug_the_test_settings_render_pages_without_collectstatic(client: Any, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert b"/static/" in response.content
