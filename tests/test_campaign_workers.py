"""The dispatcher on real Celery workers (PostgreSQL, Redis): several dispatching one campaign at once, one of them
killed mid-dispatch, and every contact dialled exactly once, as the fake Twilio it dials tells."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

import pytest

from assistants.models import PhoneNumber
from burki.celery import app as celery_app
from calls.models import Call
from campaigns.models import Campaign, CampaignContact, dispatch_key
from tests.factories import AssistantFactory, TelephonyAccountFactory
from tests.fakes.server import FakeProvider, RecordedRequest

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ACCOUNT_SID = "AC" + "d1" * 16
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CONTACTS = 60
PER_SECOND = 10


def sliding_max(moments: list[datetime]) -> int:
    moments = sorted(moments)
    best, start = 0, 0
    for index, moment in enumerate(moments):
        while moments[start] <= moment - timedelta(seconds=1):
            start += 1
        best = max(best, index - start + 1)
    return best


def test_workers_dispatch_a_campaign_exactly_once_though_one_is_killed_mid_dispatch(
    celery_worker_process: Any, organization: Any
) -> None:
    sequence = iter(range(1, 10**6))

    def created(request: RecordedRequest) -> dict[str, str]:
        return {"sid": f"CA{next(sequence):032x}", "status": "queued", "to": request.form("To")}

    # The fake Twilio never reports an end: every call stays live.
    organization.max_concurrent_calls = 1000
    organization.save()
    with FakeProvider() as twilio:
        # A slow answer: each dispatcher spends most of its time between its claim and its call's write-back.
        twilio.on("POST", CALLS, status=201, json=created, delay=0.3)
        account = TelephonyAccountFactory(
            organization=organization,
            provider="twilio",
            credentials={"account_sid": ACCOUNT_SID, "auth_token": "t" * 32},
            calls_per_second=PER_SECOND,
        )
        number = PhoneNumber.objects.create(
            organization=organization,
            phone_number="+14155550100",
            telephony_account=account,
            assistant=AssistantFactory(organization=organization),
        )
        campaign = Campaign.objects.create(
            organization=organization,
            name="Exactly once",
            status=Campaign.Status.RUNNING,
            from_numbers=[number.phone_number],
            window_days=list(range(7)),
            window_start=day_time(0, 0),
            window_end=day_time(23, 59, 59, 999999),
            max_concurrent_calls=1000,
        )
        CampaignContact.objects.bulk_create(
            CampaignContact(campaign=campaign, line=n, phone_number=f"+1415200{n:04d}", timezone="UTC")
            for n in range(1, CONTACTS + 1)
        )
        env = {
            "TWILIO_API_BASE_URL": twilio.url,
            "CAMPAIGN_LEASE_SECONDS": "3",
            "CAMPAIGN_DISPATCH_RUN_SECONDS": "2",
        }
        doomed = celery_worker_process(concurrency=2, env=env)
        survivor = celery_worker_process(concurrency=2, env=env)

        held: list[int] = []  # contacts the doomed worker had claimed and not yet seen through when it was killed
        deadline = time.monotonic() + 120
        sent = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - sent > 0.3:
                # As beat does, only more often: dispatchers overlap on both workers.
                celery_app.send_task("campaigns.dispatch")
                sent = time.monotonic()
            if not held and Call.objects.count() >= CONTACTS // 3:
                claimed = [int(pk) for pk in re.findall(r"claimed contact (\d+)", doomed.log())]
                held = list(
                    CampaignContact.objects.filter(
                        pk__in=claimed, state=CampaignContact.State.DIALLING, last_call__isnull=True
                    ).values_list("pk", flat=True)
                )
                if held:
                    doomed.kill()  # SIGKILL, mid-dispatch: between its claim and the write-back of its call
            linked = CampaignContact.objects.filter(campaign=campaign, last_call__isnull=False).count()
            if linked == CONTACTS:
                break
            time.sleep(0.02)

        dials = twilio.received("POST", CALLS)
    assert held, "the worker was never caught mid-dispatch"
    assert not doomed.running()
    # What it held was taken back by the other worker once its lease had passed (and dialled once, below).
    reclaimed = {int(pk) for pk in re.findall(r"campaign contact (\d+) reclaimed", survivor.log())}
    assert reclaimed & set(held), (held, reclaimed)
    contacts = list(CampaignContact.objects.filter(campaign=campaign).select_related("last_call"))
    calls = list(Call.objects.filter(campaign_id=campaign.pk))
    dialled = Counter(request.form("To") for request in dials)
    # No lost contact: every one was dialled, and is followed through its call.
    assert {contact.state for contact in contacts} == {CampaignContact.State.DIALLING}
    assert all(contact.last_call is not None for contact in contacts)
    # Exactly once: one dial per contact at the provider, one call per attempt, each with its attempt's key.
    assert len(dials) == CONTACTS, f"{len(dials)} dials for {CONTACTS} contacts"
    assert set(dialled.values()) == {1}, [to for to, count in dialled.items() if count > 1]
    assert sorted(dialled) == sorted(contact.phone_number for contact in contacts)
    assert len(calls) == CONTACTS
    assert {contact.last_call.dispatch_key for contact in contacts if contact.last_call} == {
        dispatch_key(contact.pk, 1) for contact in contacts
    }
    assert {contact.attempts for contact in contacts} == {1}
    # Paced: never more than the account's rate in any one second.
    assert sliding_max([call.created_at for call in calls]) <= PER_SECOND
