"""Settings for the test suite: the real settings, with test-only secrets filled in from nowhere."""

from __future__ import annotations

import os

# The tests never read a .env (`make run` writes one for development, DEBUG on and its own base URL): they run with
# the same settings on every machine, whatever .env says.
os.environ["BURKI_ENV_FILE"] = ""
# The log as production writes it (JSON lines), even in a shell where DEBUG is on.
os.environ.setdefault("LOG_FORMAT", "json")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# Two keys, so every test also exercises decryption with a key list (rotation).
os.environ.setdefault(
    "CREDENTIALS_ENCRYPTION_KEYS",
    "dGVzdC1rZXktbnVtYmVyLW9uZS0zMi1ieXRlcyEhISE=,dGVzdC1rZXktbnVtYmVyLXR3by0zMi1ieXRlcyEhISE=",
)
# Tasks go to kombu's in-process memory broker, which nothing consumes: no test reaches a real broker by accident,
# whatever the shell or .env says (Celery reads CELERY_BROKER_URL from the environment before any setting). A test
# with a real worker (tests/fakes/worker.py) hands the worker its Redis URL as TEST_CELERY_BROKER_URL.
os.environ["CELERY_BROKER_URL"] = os.environ.get("TEST_CELERY_BROKER_URL", "memory://")

from burki.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never outside tests
# Tests clear the cache between tests: never a shared one that a CACHE_URL (or .env) might point at.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "config": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "burki-config"},
}
# No collectstatic before the tests: pages name the apps' own files (the hashed names need collectstatic's manifest,
# tests/test_static_files.py runs it under gunicorn), and WhiteNoise looks files up per request instead of indexing a
# STATIC_ROOT that does not exist.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
