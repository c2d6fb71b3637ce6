"""The destination policy's defaults: emergency numbers and short codes never, satellite networks not by default."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from calls.models import Call
from calls.policy import EMERGENCY_REFUSAL, SHORT_CODE_REFUSAL
from telephony.backends import sandbox
from telephony.numbers import EMERGENCY, SHORT_CODE, special_number_kind

pytestmark = pytest.mark.django_db

FROM = "+14155550100"
EMERGENCY_NUMBERS = ["+1911", "+1 911", "+19111", "911", "+112", "112", "+44999", "+44 999", "+000", "+61000", "+110"]
EMERGENCY_NUMBERS += ["+49110", "+33112", "+119"]
SHORT_CODES = ["+1411", "+112345", "+44 118 118", "+86 10086"]
# One valid number of each range (libphonenumber's own examples).
SATELLITE_NUMBERS = ["+870301234567", "+881612345678", "+8823421234", "+883510012345"]


def initiate(api: Any, to_number: str, path: str = "/calls/initiate") -> Any:
    return api.post(path, {"from_phone_number": FROM, "to_phone_number": to_number}, format="json")


def lift_every_organization_rule(organization: Any) -> None:
    organization.block_premium_destinations = False
    organization.allowed_destination_countries = []
    organization.save()


@pytest.mark.parametrize("destination", EMERGENCY_NUMBERS)
def test_an_emergency_number_is_refused_by_name_whatever_the_organizations_policy(
    api: Any, number: Any, destination: str
) -> None:
    lift_every_organization_rule(number.organization)

    response = initiate(api, destination)

    assert response.status_code == 403, response.content
    assert response.json() == {"detail": EMERGENCY_REFUSAL}
    assert not Call.objects.exists()
    assert sandbox.outbox == []


@pytest.mark.parametrize("destination", SHORT_CODES)
def test_a_short_code_is_refused_by_name_whatever_the_organizations_policy(
    api: Any, number: Any, destination: str
) -> None:
    lift_every_organization_rule(number.organization)

    response = initiate(api, destination)

    assert response.status_code == 403, response.content
    assert response.json() == {"detail": SHORT_CODE_REFUSAL}
    assert not Call.objects.exists()
    assert sandbox.outbox == []


def test_an_emergency_destination_is_refused_even_when_the_rest_of_the_request_is_invalid(
    api: Any, number: Any
) -> None:
    response = api.post("/calls/initiate", {"from_phone_number": "12", "to_phone_number": "+1 911"}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == EMERGENCY_REFUSAL


def test_validate_refuses_an_emergency_number_as_initiate_does(api: Any, number: Any) -> None:
    response = initiate(api, "+44999", path="/api/v1/calls/validate")

    assert response.status_code == 403
    assert response.json()["detail"] == EMERGENCY_REFUSAL


def test_the_refusal_of_an_emergency_number_is_logged(api: Any, number: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)

    initiate(api, "+1 911")

    assert "refused: emergency" in caplog.text


def test_place_test_call_says_an_emergency_number_cannot_be_called(number: Any) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("place_test_call", "--from", FROM, "--to", "+112")

    assert str(refused.value) == EMERGENCY_REFUSAL
    assert sandbox.outbox == []


@pytest.mark.parametrize("destination", ["12345", "+1 415 CALL", "+99912345", "+1 415 555 010"])
def test_what_is_neither_valid_nor_special_is_still_400_not_a_valid_number(
    api: Any, number: Any, destination: str
) -> None:
    response = initiate(api, destination)

    assert response.status_code == 400
    assert "to_phone_number" in response.json()["errors"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        *[(raw, EMERGENCY) for raw in EMERGENCY_NUMBERS],
        *[(raw, SHORT_CODE) for raw in SHORT_CODES],
        ("+14155550100", None),  # a valid full number is never a special one
        ("+4915112345678", None),
        ("12345", None),  # a short code somewhere, but written without a country code: not a number at all
        ("+1 415 CALL", None),
        (None, None),
        ("+" + "1" * 40, None),
    ],
)
def test_special_number_kind_classifies_what_would_be_dialled(raw: Any, kind: str | None) -> None:
    assert special_number_kind(raw) == kind


@pytest.mark.parametrize("destination", SATELLITE_NUMBERS)
def test_satellite_and_international_network_numbers_are_refused_by_default(
    api: Any, number: Any, destination: str
) -> None:
    response = initiate(api, destination)

    assert response.status_code == 403, response.content
    detail = response.json()["detail"]
    assert "satellite and international-network numbers" in detail
    assert f"+{destination[1:4]}" in detail
    assert not Call.objects.exists()
    assert sandbox.outbox == []


@pytest.mark.parametrize("destination", SATELLITE_NUMBERS)
def test_an_organization_that_lifts_the_premium_block_may_call_satellite_numbers(
    api: Any, number: Any, destination: str
) -> None:
    number.organization.block_premium_destinations = False
    number.organization.save()

    response = initiate(api, destination)

    assert response.status_code == 200, response.content
    assert [sent.request.to_number for sent in sandbox.outbox] == [destination]


@pytest.mark.parametrize(("destination", "kind"), [("+979123456789", "premium-rate"), ("+80812345678", "shared-cost")])
def test_international_premium_and_shared_cost_ranges_are_refused_by_default(
    api: Any, number: Any, destination: str, kind: str
) -> None:
    response = initiate(api, destination)

    assert response.status_code == 403
    assert kind in response.json()["detail"]
