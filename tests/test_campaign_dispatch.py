"""The campaigns' dispatcher: claims, paces, dials through initiate, follows outcomes (real DB, sandbox backend)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from burki.errors import Conflict
from calls.lifecycle import call_event_record
from calls.models import Call, Suppression
from calls.services import call_initiate
from campaigns.dispatch import DispatchReport, campaigns_dispatch, campaigns_reconcile
from campaigns.models import Campaign, CampaignContact, dispatch_key
from telephony.backends import sandbox
from telephony.backends.base import ProviderEvent
from tests.factories import AssistantFactory, PhoneNumberFactory
from webhooks.models import Event, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)

State = CampaignContact.State
ALL_DAY = {"window_days": [0, 1, 2, 3, 4, 5, 6], "window_start": time(0, 0), "window_end": time(23, 59, 59, 999999)}


def numbers(count: int, first: int = 120) -> list[str]:
    # The fictional +1 415 555 01xx range, clear of the sandbox's magic numbers (0191 to 0195).
    return [f"+1415555{first + n:04d}" for n in range(count)]


def make_campaign(number: Any, to: list[str], **values: Any) -> Campaign:
    campaign = Campaign.objects.create(
        organization=number.organization,
        name=values.pop("name", "Reminders"),
        status=values.pop("status", Campaign.Status.RUNNING),
        from_numbers=[number.phone_number],
        **{**ALL_DAY, "max_concurrent_calls": 100, **values},
    )
    CampaignContact.objects.bulk_create(
        CampaignContact(campaign=campaign, line=line, phone_number=phone, timezone="UTC", variables={"n": line})
        for line, phone in enumerate(to, start=1)
    )
    return campaign


def end(call: Call, status: str, end_reason: str = "") -> None:
    call_event_record(
        call=call, event=ProviderEvent(event_type=status, key=f"test:{status}", status=status, end_reason=end_reason)
    )


def dispatch() -> DispatchReport:
    # Until nothing is due: the sandbox account has no rate limit, so nothing is waited for.
    return campaigns_dispatch(run_seconds=10)


def contacts(campaign: Campaign) -> list[CampaignContact]:
    return list(CampaignContact.objects.filter(campaign=campaign).order_by("line"))


def test_each_due_contact_is_dialled_once_through_initiate_with_its_campaign(number: Any) -> None:
    campaign = make_campaign(number, numbers(3), welcome_message="Hi {{n}}")

    report = dispatch()
    again = dispatch()

    assert report.dialled == 3
    assert again.dialled == 0
    calls = list(Call.objects.order_by("to_number"))
    assert [call.to_number for call in calls] == numbers(3)
    assert {call.campaign_id for call in calls} == {campaign.pk}
    assert [call.welcome_message for call in calls] == ["Hi 1", "Hi 2", "Hi 3"]
    assert sorted(dialled.request.to_number for dialled in sandbox.outbox) == numbers(3)
    for contact, call in zip(contacts(campaign), calls, strict=True):
        assert (contact.state, contact.attempts, contact.last_call_id) == (State.DIALLING, 1, call.pk)
        assert call.dispatch_key == dispatch_key(contact.pk, 1)
        assert contact.lease_expires_at is None


def test_outcomes_complete_retry_and_fail_by_the_campaigns_policy(number: Any) -> None:
    campaign = make_campaign(
        number, numbers(4), retry_on=["busy", "no-answer"], max_attempts=2, retry_delay_seconds=600
    )
    dispatch()
    calls = {call.to_number: call for call in Call.objects.all()}
    first, second, third, fourth = numbers(4)
    end(calls[first], "completed")
    end(calls[second], "busy")
    end(calls[third], "failed")  # not in retry_on
    end(calls[fourth], "completed", "voicemail-message-left")  # answered by a machine: counts as reached

    before = timezone.now()
    campaigns_reconcile()

    states = {contact.phone_number: contact for contact in contacts(campaign)}
    assert states[first].state == State.COMPLETED
    assert states[second].state == State.RETRYING
    retry_at = states[second].next_attempt_at
    assert retry_at is not None
    assert retry_at >= before + timedelta(seconds=600)
    assert states[third].state == State.FAILED
    assert states[third].reason == "failed"
    assert (states[fourth].state, states[fourth].reason) == (
        State.COMPLETED,
        "Answered by a machine (voicemail-message-left).",
    )

    # Not due yet: nothing dialled. Once due, its second attempt is a call of its own.
    assert dispatch().dialled == 0
    CampaignContact.objects.filter(pk=states[second].pk).update(next_attempt_at=timezone.now())
    assert dispatch().dialled == 1
    retried = Call.objects.get(dispatch_key=dispatch_key(states[second].pk, 2))
    end(retried, "busy")
    campaigns_reconcile()
    contact = CampaignContact.objects.get(pk=states[second].pk)
    assert (contact.state, contact.attempts, contact.reason) == (State.FAILED, 2, "busy")
    assert Call.objects.filter(to_number=second).count() == 2


def test_the_campaign_completes_once_every_contact_is_final_and_says_so(number: Any) -> None:
    WebhookEndpoint.objects.create(organization=number.organization, url="https://example.com/hook")
    campaign = make_campaign(number, numbers(2))
    dispatch()
    calls = list(Call.objects.all())
    end(calls[0], "completed")
    campaigns_reconcile()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING

    end(calls[1], "no-answer")  # not retried (max_attempts 1)
    report = campaigns_reconcile()
    campaigns_reconcile()

    campaign.refresh_from_db()
    assert report.completed_campaigns == [campaign.pk]
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.completed_at is not None
    events = list(Event.objects.filter(type="campaign.completed"))
    assert len(events) == 1
    assert events[0].subject == f"campaign:{campaign.pk}"
    assert events[0].data["contacts"]["completed"] == 1
    assert events[0].data["contacts"]["failed"] == 1
    assert events[0].data["status"] == "completed"


def test_the_campaigns_cap_bounds_its_calls_in_flight(number: Any) -> None:
    campaign = make_campaign(number, numbers(5), max_concurrent_calls=2)

    assert dispatch().dialled == 2
    assert dispatch().dialled == 0
    end(Call.objects.order_by("pk").first(), "completed")
    assert dispatch().dialled == 1
    assert CampaignContact.objects.filter(campaign=campaign, state=State.DIALLING).count() == 2
    assert Call.objects.count() == 3


def test_the_organizations_live_call_limit_puts_the_contact_back_without_consuming_an_attempt(number: Any) -> None:
    number.organization.max_concurrent_calls = 1
    number.organization.save()
    campaign = make_campaign(number, numbers(3))

    # Its campaigns then wait for the organization (Retry-After), rather than claim again and again for nothing.
    report = campaigns_dispatch(run_seconds=1)

    assert report.dialled == 1
    assert report.put_back == 2  # the one refused, and the one claimed with it
    for waiting in contacts(campaign)[1:]:
        assert (waiting.state, waiting.attempts, waiting.last_call_id) == (State.PENDING, 0, None)
        assert waiting.next_attempt_at is not None
        assert waiting.next_attempt_at > timezone.now()
    assert Call.objects.count() == 1


def test_a_suppressed_contact_is_skipped_with_the_reason_and_never_dialled(number: Any) -> None:
    first, second = numbers(2)
    Suppression.objects.create(organization=number.organization, phone_number=second, reason="asked")
    campaign = make_campaign(number, [first, second])

    dispatch()

    skipped = CampaignContact.objects.get(campaign=campaign, phone_number=second)
    assert (skipped.state, skipped.attempts) == (State.SKIPPED, 0)
    assert "do-not-call" in skipped.reason
    assert [dialled.request.to_number for dialled in sandbox.outbox] == [first]


def test_a_missing_template_variable_skips_the_contact(number: Any) -> None:
    campaign = make_campaign(number, numbers(1), welcome_message="Hi {{first_name}}")

    dispatch()

    contact = contacts(campaign)[0]
    assert contact.state == State.SKIPPED
    assert "first_name" in contact.reason
    assert not Call.objects.exists()


def test_an_inactive_assistant_pauses_the_campaign_and_keeps_its_contacts(number: Any) -> None:
    assistant = AssistantFactory(organization=number.organization, is_active=False)
    campaign = make_campaign(number, numbers(2), assistant=assistant)

    dispatch()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "inactive" in campaign.paused_reason
    assert [(contact.state, contact.attempts) for contact in contacts(campaign)] == [(State.PENDING, 0)] * 2
    assert not Call.objects.exists()


def test_a_contact_outside_its_window_waits_for_the_next_opening(number: Any) -> None:
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    campaign = make_campaign(
        number, numbers(1), window_days=[tomorrow.weekday()], window_start=time(9, 0), window_end=time(17, 0)
    )

    report = dispatch()

    contact = contacts(campaign)[0]
    assert report.dialled == 0
    assert (contact.state, contact.attempts) == (State.PENDING, 0)
    assert contact.next_attempt_at == datetime.combine(tomorrow, time(9, 0), tzinfo=UTC)
    assert not Call.objects.exists()


def test_a_window_that_never_opens_before_the_end_expires_the_contact(number: Any) -> None:
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    campaign = make_campaign(
        number,
        numbers(1),
        window_days=[tomorrow.weekday()],
        window_start=time(9, 0),
        window_end=time(17, 0),
        ends_at=timezone.now() + timedelta(hours=1),
    )

    dispatch()

    contact = contacts(campaign)[0]
    assert contact.state == State.EXPIRED
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_campaign_past_its_end_expires_what_is_left_and_completes_after_its_calls(number: Any) -> None:
    campaign = make_campaign(number, numbers(3), max_concurrent_calls=1)
    dispatch()
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    campaigns_reconcile()

    assert [contact.state for contact in contacts(campaign)] == [State.DIALLING, State.EXPIRED, State.EXPIRED]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING  # its call is still live
    end(Call.objects.get(), "completed")
    campaigns_reconcile()
    assert [contact.state for contact in contacts(campaign)] == [State.COMPLETED, State.EXPIRED, State.EXPIRED]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
    assert dispatch().dialled == 0


def test_campaigns_not_running_or_not_started_are_not_dialled(number: Any) -> None:
    make_campaign(number, numbers(1), status=Campaign.Status.PAUSED)
    make_campaign(number, numbers(1, 130), status=Campaign.Status.DRAFT)
    make_campaign(number, numbers(1, 140), starts_at=timezone.now() + timedelta(hours=1))

    assert dispatch().dialled == 0
    assert not Call.objects.exists()


def test_an_attempt_is_recorded_and_dialled_at_most_once_by_its_key(number: Any) -> None:
    key = "campaign:1:1"
    call_initiate(organization=number.organization, from_number=number.phone_number, to_number=numbers(1)[0],
                  dispatch_key=key)  # fmt: skip

    with pytest.raises(Conflict) as raised:
        call_initiate(organization=number.organization, from_number=number.phone_number, to_number=numbers(1)[0],
                      dispatch_key=key)  # fmt: skip

    assert raised.value.extra["call_id"] == Call.objects.get().pk
    assert len(sandbox.outbox) == 1


def test_a_contact_whose_dispatcher_died_before_recording_is_put_back_after_its_lease(number: Any) -> None:
    campaign = make_campaign(number, numbers(1))
    contact = contacts(campaign)[0]
    past = timezone.now() - timedelta(seconds=1)
    CampaignContact.objects.filter(pk=contact.pk).update(state=State.DIALLING, attempts=1, lease_expires_at=past)

    report = campaigns_reconcile()

    contact.refresh_from_db()
    assert report.reclaimed == 1
    assert (contact.state, contact.attempts, contact.lease_expires_at) == (State.PENDING, 0, None)
    assert dispatch().dialled == 1
    assert Call.objects.get().dispatch_key == dispatch_key(contact.pk, 1)


def test_a_contact_whose_dispatcher_died_after_recording_is_followed_never_redialled(number: Any) -> None:
    campaign = make_campaign(number, numbers(1))
    contact = contacts(campaign)[0]
    past = timezone.now() - timedelta(seconds=1)
    CampaignContact.objects.filter(pk=contact.pk).update(state=State.DIALLING, attempts=1, lease_expires_at=past)
    # What the dead dispatcher got done: its attempt recorded and dialled, nothing written back to the contact.
    call = call_initiate(
        organization=number.organization,
        from_number=number.phone_number,
        to_number=contact.phone_number,
        campaign_id=campaign.pk,
        dispatch_key=dispatch_key(contact.pk, 1),
    )

    campaigns_reconcile()
    dispatch()

    contact.refresh_from_db()
    assert (contact.state, contact.attempts, contact.last_call_id) == (State.DIALLING, 1, call.pk)
    assert len(sandbox.outbox) == 1
    end(call, "completed")
    campaigns_reconcile()
    assert CampaignContact.objects.get(pk=contact.pk).state == State.COMPLETED


def sliding_max(moments: list[datetime], width: timedelta = timedelta(seconds=1)) -> int:
    moments = sorted(moments)
    best, start = 0, 0
    for end_index, moment in enumerate(moments):
        while moments[start] <= moment - width:
            start += 1
        best = max(best, end_index - start + 1)
    return best


def test_campaigns_sharing_an_account_share_its_rate_in_turn_and_never_exceed_it(number: Any) -> None:
    account = number.telephony_account
    account.calls_per_second = 4
    account.save()
    second_number = PhoneNumberFactory(
        organization=number.organization, phone_number="+14155550101", telephony_account=account
    )
    first = make_campaign(number, numbers(30), name="First")
    second = make_campaign(second_number, numbers(30, 160), name="Second")

    report = campaigns_dispatch(run_seconds=2.6)

    calls = list(Call.objects.all())
    # Paced before initiate: refused for the rate at most when a dial came late enough to bunch up with the next
    # (initiate's own check then refuses it, and the contact waits without losing an attempt).
    assert report.put_back <= 2, report
    assert 9 <= len(calls) <= 12
    assert sliding_max([call.created_at for call in calls]) <= 4
    assert sliding_max([call.started_at for call in calls if call.started_at]) <= 4
    per_campaign = [sum(call.campaign_id == campaign.pk for call in calls) for campaign in (first, second)]
    assert abs(per_campaign[0] - per_campaign[1]) <= 1, per_campaign


def test_the_calls_api_shows_and_filters_by_campaign(api: Any, number: Any) -> None:
    campaign = make_campaign(number, numbers(2))
    dispatch()
    call_initiate(organization=number.organization, from_number=number.phone_number, to_number=numbers(1, 150)[0])

    everything = api.get("/api/v1/calls").json()
    filtered = api.get(f"/api/v1/calls?campaign_id={campaign.pk}").json()

    assert sorted(call["campaign_id"] or 0 for call in everything["items"]) == [0, campaign.pk, campaign.pk]
    assert sorted(call["to_number"] for call in filtered["items"]) == numbers(2)
