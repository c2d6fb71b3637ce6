"""Campaigns in the admin: scoped to the organizations one administers, checked like the API, driven by actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign, CampaignContact
from tests.factories import MembershipFactory, OrganizationFactory, PhoneNumberFactory, UserFactory

pytestmark = pytest.mark.django_db

FROM = "+14155550100"


@pytest.fixture
def staff(organization: Any) -> Client:
    user = UserFactory(username="campaigner", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["campaigns", "calls"]))
    MembershipFactory(user=user, organization=organization, role="admin")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def campaign(organization: Any, number: Any) -> Campaign:
    campaign = Campaign.objects.create(organization=organization, name="Ours", from_numbers=[FROM])
    for line in range(1, 5):
        CampaignContact.objects.create(campaign=campaign, line=line, phone_number=f"+1415555019{line}")
    return campaign


def url(view: str, *args: Any) -> str:
    return reverse(f"admin:campaigns_campaign_{view}", args=args)


def test_the_changelist_shows_a_progress_bar_of_ours_only(staff: Client, campaign: Campaign) -> None:
    CampaignContact.objects.filter(line__in=[1, 2]).update(state="completed")
    CampaignContact.objects.filter(line=3).update(state="skipped")
    theirs = Campaign.objects.create(organization=OrganizationFactory(), name="Zebediah", from_numbers=[FROM])

    page = staff.get(url("changelist"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "3 / 4 (75%)" in text
    assert "Zebediah" not in text
    assert staff.get(url("change", theirs.pk)).status_code == 404


def test_the_change_page_shows_counts_and_links_the_contacts(staff: Client, campaign: Campaign) -> None:
    page = staff.get(url("change", campaign.pk)).content.decode()
    contacts = staff.get(reverse("admin:campaigns_campaigncontact_changelist") + f"?campaign__id__exact={campaign.pk}")

    assert "pending 4" in page
    assert f"campaign__id__exact={campaign.pk}" in page
    assert contacts.status_code == 200
    assert "+14155550191" in contacts.content.decode()


def test_actions_start_pause_resume_cancel_through_the_services(staff: Client, campaign: Campaign) -> None:
    def act(action: str) -> str:
        response = staff.post(url("changelist"), {"action": action, "_selected_action": [campaign.pk]}, follow=True)
        return response.content.decode()

    assert "Ours: started." in act("start")
    assert Campaign.objects.get(pk=campaign.pk).status == "running"
    assert "not started" in act("start")  # running already: the service's 409, as a message
    act("pause")
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    act("resume")
    act("cancel")
    assert Campaign.objects.get(pk=campaign.pk).status == "canceled"
    assert set(CampaignContact.objects.values_list("state", "reason")) == {("skipped", "canceled")}


def test_the_add_form_refuses_another_organizations_number(staff: Client, organization: Any, number: Any) -> None:
    PhoneNumberFactory(phone_number="+14155550188")
    form = {
        "organization": organization.pk,
        "name": "New",
        "from_numbers": '["+14155550188"]',
        "welcome_message": "",
        "agenda": "",
        "call_options": "{}",
        "window_days": "[0, 1, 2, 3, 4]",
        "window_start": "09:00",
        "window_end": "20:00",
        "max_concurrent_calls": 1,
        "retry_on": '["busy"]',
        "max_attempts": 2,
        "retry_delay_seconds": 3600,
    }

    refused = staff.post(url("add"), form)
    accepted = staff.post(url("add"), {**form, "from_numbers": f'["{FROM}"]'})

    assert refused.status_code == 200
    assert "No phone number +14155550188 in your organization." in refused.content.decode()
    assert accepted.status_code == 302, accepted.content.decode()[:3000]
    assert list(Campaign.objects.values_list("name", "from_numbers")) == [("New", [FROM])]


def test_a_running_campaigns_settings_are_read_only(staff: Client, campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(status="running")

    page = staff.get(url("change", campaign.pk))

    assert 'name="name"' not in page.content.decode()
