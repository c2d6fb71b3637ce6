"""The do-not-call list in the admin: added by hand (source admin), removed by the organization's admins, imported
from a CSV file all or nothing; another organization's entries do not exist there (tests/test_admin_scoping.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from calls.models import Suppression
from tests.factories import OrganizationFactory
from tests.test_admin_scoping import logged_in, staff_user

pytestmark = pytest.mark.django_db

TO = "+14155550199"
ADD = reverse("admin:calls_suppression_add")
IMPORT = reverse("admin:calls_suppression_import")


@pytest.fixture
def organization_admin(organization: Any) -> Client:
    return logged_in(staff_user("org-admin", admin=organization))


def test_an_entry_added_in_the_admin_is_normalized_and_has_source_admin(
    organization_admin: Client, organization: Any
) -> None:
    response = organization_admin.post(
        ADD, {"organization": organization.pk, "phone_number": "+1 (415) 555-0199", "reason": "Called the office."}
    )

    assert response.status_code == 302, response.content
    row = Suppression.objects.get()
    assert (row.organization, row.phone_number, row.source, row.reason) == (
        organization,
        TO,
        "admin",
        "Called the office.",
    )


@pytest.mark.parametrize(
    ("phone_number", "error"),
    [
        ("4155550199", "Must start with + and the country code"),
        ("+1 415 555 0199", "already exists"),
    ],
)
def test_the_admin_refuses_an_invalid_number_and_one_on_the_list_already(
    organization_admin: Client, organization: Any, phone_number: str, error: str
) -> None:
    Suppression.objects.create(organization=organization, phone_number=TO, reason="first")

    response = organization_admin.post(ADD, {"organization": organization.pk, "phone_number": phone_number})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert Suppression.objects.get().reason == "first"


def test_an_entrys_number_cannot_be_changed_only_its_reason(organization_admin: Client, organization: Any) -> None:
    row = Suppression.objects.create(organization=organization, phone_number=TO, source="opt-out")
    url = reverse("admin:calls_suppression_change", args=[row.pk])

    response = organization_admin.post(url, {"phone_number": "+14155550198", "reason": "noted"})

    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.phone_number, row.source, row.reason) == (TO, "opt-out", "noted")


def test_the_organizations_admin_removes_an_entry(organization_admin: Client, organization: Any) -> None:
    row = Suppression.objects.create(organization=organization, phone_number=TO)

    response = organization_admin.post(reverse("admin:calls_suppression_delete", args=[row.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Suppression.objects.exists()


def test_a_staff_member_who_is_only_a_member_sees_no_entry(organization: Any) -> None:
    Suppression.objects.create(organization=organization, phone_number=TO)
    client = logged_in(staff_user("just-a-member", member=organization))

    listing = client.get(reverse("admin:calls_suppression_changelist"))

    assert list(listing.context["cl"].result_list) == []
    assert client.get(IMPORT).status_code == 403


def upload(text: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("dnc.csv", text, content_type="text/csv")


def test_a_csv_import_adds_its_numbers_with_source_csv(organization_admin: Client, organization: Any) -> None:
    Suppression.objects.create(organization=organization, phone_number="+14155550198", reason="kept")
    text = b"phone_number,reason\n+14155550199,asked\n+14155550198,again\n+1 415 555 0197,\n"

    response = organization_admin.post(
        IMPORT, {"organization": organization.pk, "file": upload(text), "reason": "Imported"}, follow=True
    )

    assert response.status_code == 200
    assert "2 numbers added" in response.content.decode()
    rows = {row.phone_number: (row.reason, row.source) for row in Suppression.objects.all()}
    assert rows == {TO: ("asked", "csv"), "+14155550198": ("kept", "api"), "+14155550197": ("Imported", "csv")}


def test_a_csv_import_with_a_bad_row_adds_nothing_and_names_the_line(
    organization_admin: Client, organization: Any
) -> None:
    text = b"phone_number\n+14155550199\nnot a number\n"

    response = organization_admin.post(IMPORT, {"organization": organization.pk, "file": upload(text)})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was added." in page
    assert "Line 3 (not a number)" in page
    assert not Suppression.objects.exists()


def test_a_csv_import_into_another_organization_is_refused(organization_admin: Client) -> None:
    other = OrganizationFactory(name="Other Org")

    response = organization_admin.post(
        IMPORT, {"organization": other.pk, "file": upload(b"phone_number\n" + TO.encode())}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Suppression.objects.exists()


def test_the_changelist_offers_the_csv_import(organization_admin: Client) -> None:
    response = organization_admin.get(reverse("admin:calls_suppression_changelist"))

    assert IMPORT in response.content.decode()
