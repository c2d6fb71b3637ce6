"""The do-not-call list: a suppressed number is never dialled, by any path."""

from __future__ import annotations

from typing import Any

import pytest

from burki.models import Organization
from calls.models import Call, Suppression
from telephony.backends import sandbox

pytestmark = pytest.mark.django_db

FROM = "+14155550100"
TO = "+14155550123"


def initiate(api: Any, to_number: str = TO, path: str = "/calls/initiate") -> Any:
    return api.post(path, {"from_phone_number": FROM, "to_phone_number": to_number}, format="json")


def test_initiate_to_a_suppressed_number_is_403_naming_the_rule_and_records_nothing(api: Any, number: Any) -> None:
    Suppression.objects.create(organization=number.organization, phone_number=TO, reason="asked", source="api")

    response = initiate(api)

    assert response.status_code == 403, response.content
    body = response.json()
    assert body["limit"] == "suppressed"
    assert TO in body["detail"]
    assert "do-not-call" in body["detail"]
    assert not Call.objects.exists()
    assert sandbox.outbox == []


def test_the_number_is_suppressed_whatever_way_it_was_written(api: Any, number: Any) -> None:
    Suppression.objects.create(organization=number.organization, phone_number=TO)

    response = initiate(api, "+1 (415) 555-0123")

    assert response.status_code == 403, response.content
    assert response.json()["limit"] == "suppressed"


def test_another_organizations_suppression_does_not_apply(api: Any, number: Any) -> None:
    other = Organization.objects.create(name="Other")
    Suppression.objects.create(organization=other, phone_number=TO)

    response = initiate(api)

    assert response.status_code == 200, response.content
    assert Call.objects.get().to_number == TO


def test_validate_reports_a_suppressed_destination_too(api: Any, number: Any) -> None:
    Suppression.objects.create(organization=number.organization, phone_number=TO)

    response = initiate(api, path="/api/v1/calls/validate")

    assert response.status_code == 403, response.content
    assert response.json()["limit"] == "suppressed"
