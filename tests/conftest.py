from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from telephony.backends import sandbox
from tests.factories import ApiKeyFactory, OrganizationFactory, PhoneNumberFactory
from tests.fakes.broker import task_queue  # noqa: F401  (the tasks a test published: see its module)
from tests.fakes.worker import celery_worker_process  # noqa: F401  (a real Celery worker: see its module)


@pytest.fixture(autouse=True)
def _empty_sandbox() -> Iterator[None]:
    sandbox.outbox.clear()
    sandbox.hangups.clear()
    yield
    sandbox.outbox.clear()
    sandbox.hangups.clear()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Login throttles count in the cache: no test inherits another's failed logins (nor its cached API keys and
    numbers: a rolled-back test's configuration versions are rolled back with it)."""
    for each in (cache, caches["config"]):
        each.clear()
    yield
    for each in (cache, caches["config"]):
        each.clear()


@pytest.fixture
def organization(db: Any) -> Any:
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def api_key(organization: Any) -> Any:
    return ApiKeyFactory(organization=organization)


@pytest.fixture
def client_for() -> Any:
    """`client_for(raw_key)`: an API client that sends `Authorization: Bearer <raw_key>`."""

    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def api(api_key: Any, client_for: Any) -> APIClient:
    return client_for(api_key.raw_key)


@pytest.fixture
def number(organization: Any) -> Any:
    """An active sandbox number of `organization`, assigned to an active assistant."""
    return PhoneNumberFactory(organization=organization, phone_number="+14155550100")
