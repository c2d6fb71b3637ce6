"""The dispatcher: claims due contacts of running campaigns, dials them through calls' own initiate service, and
follows every attempt's call to its outcome.

Any number of dispatchers may run at once (the periodic task on every worker). What keeps them honest:

- Claiming: a contact is claimed under its campaign's row lock (so the campaign's cap counts right) with
  `SELECT ... FOR UPDATE SKIP LOCKED`, moved to `dialling` with a lease, and committed before anything is dialled.
- Pacing: an account's dials are spaced 1/calls-per-second apart (plus CAMPAIGN_PACE_MARGIN), by a slot taken in the
  same transaction as the claim from the account's DialPace row: no dispatcher dials before its slot, so the
  provider's rate is never exceeded because of us. Campaigns are served oldest-claimed first, so campaigns sharing an
  account take its slots in turn.
- Exactly once: an attempt's call carries the attempt's dispatch key (campaign:<contact>:<attempt>), unique among
  calls. Initiate records the call (committed) before asking the provider, so the call row is the attempt record:
  a second dispatcher with the same attempt gets DispatchKeyTaken and dials nothing. A contact whose dispatcher died
  is reclaimed once its lease has passed: if its attempt's call exists, it is followed (never redialled: a call
  still `queued` or `unknown` waits for the provider's webhook, or the stale-call expiry); if not, the attempt was
  never recorded, so never dialled, and the contact goes back to wait its turn with the attempt not consumed.
- Outcomes: a contact in `dialling` whose call has ended is settled here (calls know nothing of campaigns): completed,
  retried later, or failed.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from assistants.models import PhoneNumber
from burki.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError, TooManyRequests
from calls.models import Call
from calls.services import DispatchKeyTaken, call_initiate
from campaigns.events import CAMPAIGN_COMPLETED, campaign_event_emit
from campaigns.models import Campaign, CampaignContact, DialPace, dispatch_key
from campaigns.windows import InvalidTimezone, contact_zones, next_window_opening, window_open
from telephony.detection import END_REASON_VOICEMAIL, END_REASON_VOICEMAIL_MESSAGE_LEFT
from telephony.models import TelephonyAccount
from telephony.status import TERMINAL_STATUSES, CallStatus

logger = logging.getLogger(__name__)

State = CampaignContact.State
WAITING = (State.PENDING, State.RETRYING)
# Campaigns whose contacts in `dialling` are followed to their calls' ends.
FOLLOWED = (Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.CANCELED)
# The call options of POST /calls/initiate a campaign may set (call_options); the rest come from the campaign.
CALL_OPTIONS = ("machine_detection", "voicemail_message", "record", "max_duration_seconds", "ring_timeout_seconds")
# A call that ended like this was answered by a machine: the campaign counts it as completed (someone's voicemail
# took the call, and the message, if any, was left), not as a failure to retry.
VOICEMAIL_END_REASONS = frozenset({END_REASON_VOICEMAIL, END_REASON_VOICEMAIL_MESSAGE_LEFT})
# Contacts outside their window are given their next opening this many at a time, inside one claim.
DEFER_BATCH = 50
# Initiate's 429 on the account's rate (a call placed through the API meanwhile): the contact waits this long.
RATE_RETRY = timedelta(milliseconds=100)
# How far ahead of its time a dial slot is reserved (the reserving dispatcher then waits for it); a dispatcher claims
# about this long's worth of an account's dials at once.
SLOT_HORIZON = timedelta(milliseconds=250)
UNPACED_BATCH = 10  # contacts claimed at once for an account without a rate limit
# Another dispatcher holds the campaign's claim (a few milliseconds): look again this soon.
LOCKED_RETRY = timedelta(milliseconds=20)


@dataclass
class DispatchReport:
    dialled: int = 0
    put_back: int = 0  # initiate said 429: no attempt consumed
    skipped: int = 0
    reclaimed: int = 0
    settled: int = 0
    expired: int = 0
    completed_campaigns: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Claim:
    contact: CampaignContact
    campaign: Campaign
    from_number: str
    account: TelephonyAccount | None


@dataclass(frozen=True)
class _Wait:
    until: datetime  # when to look again: the account's next slot, or another dispatcher's claim is over


def campaigns_dispatch(
    *, run_seconds: float | None = None, sleep: Callable[[float], None] = clock.sleep
) -> DispatchReport:
    """Settle what there is to settle, then dial due contacts, paced, for up to `run_seconds`
    (CAMPAIGN_DISPATCH_RUN_SECONDS) or until nothing is due. Safe to run any number of times at once."""
    run_seconds = settings.CAMPAIGN_DISPATCH_RUN_SECONDS if run_seconds is None else run_seconds
    report = DispatchReport()
    deadline = clock.monotonic() + run_seconds
    campaigns_reconcile(report=report)
    reconciled_at = clock.monotonic()
    accounts: dict[tuple[int, str], TelephonyAccount | None] = {}
    # Organizations at their live-call limit, until when: their campaigns wait rather than claim for nothing.
    full: dict[int, datetime] = {}
    while True:
        progressed = False
        waits: list[datetime] = []
        for campaign in _dispatchable():
            if campaign.organization_id in full and full[campaign.organization_id] > timezone.now():
                waits.append(full[campaign.organization_id])
                continue
            outcome = _claim(campaign, accounts=accounts, report=report)
            if isinstance(outcome, list):
                blocked_until = _dial_batch(outcome, sleep=sleep, report=report)
                if blocked_until is not None:
                    full[campaign.organization_id] = blocked_until
                progressed = True
                break  # the campaigns' order has changed: this one goes to the back
            if isinstance(outcome, _Wait):
                waits.append(outcome.until)
        now_mono = clock.monotonic()
        if now_mono >= deadline:
            break
        if now_mono - reconciled_at >= 1.0:
            campaigns_reconcile(report=report)
            reconciled_at = now_mono
        if not progressed:
            if not waits:
                break
            pause = (min(waits) - timezone.now()).total_seconds()
            sleep(min(max(pause, 0.0), deadline - now_mono))
    # What this run dialled last may be over already (and its campaign with it).
    campaigns_reconcile(report=report)
    return report


def _dispatchable() -> list[Campaign]:
    now = timezone.now()
    return list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .select_related("organization", "assistant")
        # Never served first (NULL), then the longest unserved: in turn.
        .order_by(F("dispatched_at").asc(nulls_first=True), "pk")
    )


def _contact_from_number(campaign: Campaign, contact: CampaignContact) -> str:
    numbers = campaign.from_numbers or []
    return str(numbers[(contact.line - 1) % len(numbers)]) if numbers else ""


def _account_of(
    campaign: Campaign, number: str, accounts: dict[tuple[int, str], TelephonyAccount | None]
) -> TelephonyAccount | None:
    key = (campaign.organization_id, number)
    if key not in accounts:
        phone = (
            PhoneNumber.objects.filter(organization_id=campaign.organization_id, phone_number=number)
            .select_related("telephony_account")
            .first()
        )
        accounts[key] = phone.telephony_account if phone is not None else None
        if phone is not None:
            # Its pace's row, once: from then on, every slot is taken under that row's lock.
            DialPace.objects.get_or_create(
                telephony_account_id=phone.telephony_account_id, defaults={"next_slot_at": timezone.now()}
            )
    return accounts[key]


def _due(campaign: Campaign, now: datetime, limit: int) -> list[CampaignContact]:
    """The next due contacts nobody else holds: retries and deferred ones first, when due, then pending ones in
    order (two index scans rather than one sort of the whole campaign)."""
    base = CampaignContact.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        campaign=campaign, state__in=WAITING
    )
    contacts = list(base.filter(next_attempt_at__lte=now).order_by("next_attempt_at", "line")[:limit])
    if len(contacts) < limit:
        contacts += list(base.filter(next_attempt_at__isnull=True).order_by("line")[: limit - len(contacts)])
    return contacts


def _batch_size(account: TelephonyAccount | None) -> int:
    # About SLOT_HORIZON's worth of the account's dials: claimed together, dialled one slot at a time.
    per_second = account.effective_calls_per_second if account is not None else 0
    if not per_second:
        return UNPACED_BATCH
    return max(1, int(per_second * SLOT_HORIZON.total_seconds()))


def _claim(
    campaign: Campaign, *, accounts: dict[tuple[int, str], TelephonyAccount | None], report: DispatchReport
) -> list[_Claim] | _Wait | None:
    """Claim a few due contacts of the campaign (moved to `dialling` with a lease, committed), or say when to look
    again (_Wait), or None: nothing to claim now (none due, or the campaign is at its cap)."""
    now = timezone.now()
    numbers = campaign.from_numbers or []
    first_account = _account_of(campaign, str(numbers[0]), accounts) if numbers else None
    if first_account is not None and first_account.effective_calls_per_second:
        # Its account has no slot coming soon: claim nothing yet (contacts held for long would wait for nothing).
        next_slot = (
            DialPace.objects.filter(telephony_account_id=first_account.pk)
            .values_list("next_slot_at", flat=True)
            .first()
        )
        if next_slot is not None and next_slot - now > SLOT_HORIZON:
            return _Wait(next_slot - SLOT_HORIZON)
    with transaction.atomic():
        # Under the campaign's row lock: its cap is counted by one dispatcher at a time. Another dispatcher claiming
        # for it right now: look again in a moment.
        locked = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign.pk, status=Campaign.Status.RUNNING)
            .first()
        )
        if locked is None:
            return _Wait(now + LOCKED_RETRY)
        room = max(campaign.max_concurrent_calls, 1)
        room -= CampaignContact.objects.filter(campaign=campaign, state=State.DIALLING).count()
        if room <= 0:
            return None
        claimed: list[_Claim] = []
        for contact in _due(campaign, now, min(room, _batch_size(first_account))):
            if not _in_window(campaign, contact, now, report=report):
                continue
            from_number = _contact_from_number(campaign, contact)
            contact.state = State.DIALLING
            contact.attempts += 1
            contact.lease_expires_at = now + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
            contact.last_call = None
            contact.reason = ""
            claimed.append(
                _Claim(
                    contact=contact,
                    campaign=campaign,
                    from_number=from_number,
                    account=_account_of(campaign, from_number, accounts),
                )
            )
        if not claimed:
            return None
        CampaignContact.objects.filter(pk__in=[claim.contact.pk for claim in claimed]).update(
            state=State.DIALLING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS),
            last_call=None,
            reason="",
            updated_at=now,
        )
        Campaign.objects.filter(pk=campaign.pk).update(dispatched_at=now)
    for claim in claimed:
        logger.info(
            "campaign %s: claimed contact %s, attempt %s", campaign.pk, claim.contact.pk, claim.contact.attempts
        )
    return claimed


def _dial_batch(claims: list[_Claim], *, sleep: Callable[[float], None], report: DispatchReport) -> datetime | None:
    """Dial each claimed contact at a slot of its account's pace. Should the organization be at its live-call limit,
    the rest go back in line too, and the answer is until when (else None)."""
    for index, claim in enumerate(claims):
        while claim.account is not None:
            slot, wait = _take_slot(claim.account)
            if slot is not None:
                sleep(max((slot - timezone.now()).total_seconds(), 0.0))
                break
            if wait is None:
                break  # no rate limit
            sleep(max((wait - timezone.now()).total_seconds(), 0.0))
        blocked = _dial(claim, report=report)
        if blocked is not None:
            for rest in claims[index + 1 :]:
                _put_back(rest.contact, delay=blocked)
                report.put_back += 1
            return timezone.now() + blocked
    return None


def _in_window(campaign: Campaign, contact: CampaignContact, now: datetime, *, report: DispatchReport) -> bool:
    """Whether the contact may be called now; if not, it is given its next opening (or expired, or skipped)."""
    try:
        zones = contact_zones(contact.phone_number, contact.timezone)
    except InvalidTimezone as exc:
        _finish(contact, State.SKIPPED, str(exc))
        report.skipped += 1
        return False
    if window_open(campaign, zones, now):
        return True
    opening = next_window_opening(campaign, zones, now, before=campaign.ends_at)
    if opening is None:
        _finish(contact, State.EXPIRED, "No calling window opens before the campaign ends.")
        report.expired += 1
        return False
    contact.next_attempt_at = opening
    contact.save(update_fields=["next_attempt_at", "updated_at"])
    return False


def _take_slot(account: TelephonyAccount) -> tuple[datetime | None, datetime | None]:
    """Reserve the account's next dial slot when it comes within SLOT_HORIZON: (the slot, None); else (None, when to
    look again). Slots are 1/calls_per_second apart (stretched by CAMPAIGN_PACE_MARGIN), each at the earliest when it
    is reserved, so dials never come closer together than that, whichever dispatchers take them; reserving ahead
    means a dispatcher is waiting at the slot when it comes, so the rate is not lost to wake-ups. (None, None): the
    account has no rate limit."""
    per_second = account.effective_calls_per_second
    if not per_second:
        return None, None
    interval = timedelta(seconds=(1 + settings.CAMPAIGN_PACE_MARGIN) / per_second)
    with transaction.atomic():
        pace = DialPace.objects.select_for_update().get(telephony_account_id=account.pk)
        now = timezone.now()
        if pace.next_slot_at - now > SLOT_HORIZON:
            return None, pace.next_slot_at - SLOT_HORIZON
        slot = max(pace.next_slot_at, now)
        pace.next_slot_at = slot + interval
        pace.save(update_fields=["next_slot_at"])
    return slot, None


def _call_request(claim: _Claim) -> dict[str, Any]:
    campaign, contact = claim.campaign, claim.contact
    options = campaign.call_options if isinstance(campaign.call_options, dict) else {}
    request: dict[str, Any] = {name: options[name] for name in CALL_OPTIONS if name in options}
    request.update(
        from_number=claim.from_number,
        to_number=contact.phone_number,
        assistant_id=campaign.assistant_id,
        welcome_message=campaign.welcome_message or None,
        agenda=campaign.agenda or None,
        variables=contact.variables or {},
        metadata=contact.metadata or {},
    )
    return request


def _dial(claim: _Claim, *, report: DispatchReport) -> timedelta | None:
    """Place the claimed attempt through initiate, and record what became of it. Returns how long to wait when the
    organization is at its live-call limit (None otherwise)."""
    contact, campaign = claim.contact, claim.campaign
    key = dispatch_key(contact.pk, contact.attempts)
    try:
        call = call_initiate(
            organization=campaign.organization, campaign_id=campaign.pk, dispatch_key=key, **_call_request(claim)
        )
    except DispatchKeyTaken as exc:
        # Another dispatcher recorded this very attempt (this one's lease had passed): follow its call.
        _link(contact, call_id=exc.extra["call_id"])
        return None
    except TooManyRequests as exc:
        # A limit of the organization (live calls) or the account (a call placed through the API took the slot):
        # nothing was recorded, so the attempt is not consumed.
        limit = exc.extra.get("limit")
        delay = RATE_RETRY if limit == "calls_per_second" else timedelta(seconds=exc.retry_after or 1)
        _put_back(contact, delay=delay)
        report.put_back += 1
        return delay if limit == "max_concurrent_calls" else None
    except (Forbidden, InvalidInput) as exc:
        # This contact can never be called as it is (suppressed, refused by policy, a template variable missing).
        _finish(contact, State.SKIPPED, exc.detail, attempts=contact.attempts - 1, only_dialling=True)
        report.skipped += 1
        return None
    except (NotFound, Conflict) as exc:
        # The campaign's own setup is broken (a number or assistant gone or inactive): pause it for a person to fix.
        _put_back(contact, delay=timedelta(0))
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.PAUSED, paused_reason=exc.detail[:500], updated_at=timezone.now()
        )
        logger.warning("campaign %s paused: %s", campaign.pk, exc.detail)
        return None
    except ServiceError as exc:
        # The call is recorded (the provider refused it, or did not answer: its webhook will tell): follow it.
        call_id = exc.extra.get("call_id") or Call.objects.filter(dispatch_key=key).values_list("pk", flat=True).first()
        if call_id is not None:
            _link(contact, call_id=call_id)
            report.dialled += 1
        else:
            logger.warning("campaign %s contact %s: %s", campaign.pk, contact.pk, exc.detail)
        return None
    _link(contact, call_id=call.pk)
    report.dialled += 1
    return None


def _link(contact: CampaignContact, *, call_id: int) -> None:
    # Only while the contact is still at this attempt: a reclaim may have settled it meanwhile.
    CampaignContact.objects.filter(pk=contact.pk, state=State.DIALLING, attempts=contact.attempts).update(
        last_call_id=call_id, lease_expires_at=None, updated_at=timezone.now()
    )


def _put_back(contact: CampaignContact, *, delay: timedelta) -> None:
    """The claimed attempt was not recorded: the contact waits again, the attempt not consumed. Unless its call exists
    after all (another dispatcher recorded the same attempt meanwhile): then it is followed."""
    with transaction.atomic():
        locked = (
            CampaignContact.objects.select_for_update()
            .filter(pk=contact.pk, state=State.DIALLING, attempts=contact.attempts, last_call__isnull=True)
            .first()
        )
        if locked is None:
            return
        existing = Call.objects.filter(dispatch_key=locked.dispatch_key).values_list("pk", flat=True).first()
        if existing is not None:
            locked.last_call_id = existing
            locked.lease_expires_at = None
            locked.save(update_fields=["last_call", "lease_expires_at", "updated_at"])
            return
        locked.attempts -= 1
        locked.state = State.RETRYING if locked.attempts else State.PENDING
        locked.next_attempt_at = timezone.now() + delay if delay else None
        locked.lease_expires_at = None
        locked.save(update_fields=["attempts", "state", "next_attempt_at", "lease_expires_at", "updated_at"])


def _finish(
    contact: CampaignContact, state: str, reason: str, *, attempts: int | None = None, only_dialling: bool = False
) -> None:
    contact.state = state
    contact.reason = reason[:500]
    contact.lease_expires_at = None
    fields = ["state", "reason", "lease_expires_at", "updated_at"]
    if attempts is not None:
        contact.attempts = attempts
        fields.append("attempts")
    if only_dialling:
        CampaignContact.objects.filter(pk=contact.pk, state=State.DIALLING, last_call__isnull=True).update(
            **{name: getattr(contact, name) for name in fields if name != "updated_at"}, updated_at=timezone.now()
        )
    else:
        contact.save(update_fields=fields)


# --- Following attempts ---


def campaigns_reconcile(*, report: DispatchReport | None = None) -> DispatchReport:
    """Reclaim contacts whose dispatcher died, settle those whose call has ended, expire what an ended campaign left,
    and complete every campaign that has nothing left. Safe to run at any frequency, by any number at once."""
    report = report or DispatchReport()
    now = timezone.now()
    # Campaign by campaign: each query is a range of the (campaign, state) index, however many contacts are done.
    following = Campaign.objects.filter(status__in=FOLLOWED).order_by().values_list("pk", "status", "ends_at")
    for campaign_id, status, ends_at in list(following):
        _reclaim(campaign_id, now, report)
        _settle(campaign_id, now, report)
        if status == Campaign.Status.RUNNING:
            if ends_at is not None and ends_at <= now:
                report.expired += CampaignContact.objects.filter(campaign_id=campaign_id, state__in=WAITING).update(
                    state=State.EXPIRED, reason="The campaign ended first.", lease_expires_at=None, updated_at=now
                )
            _complete(campaign_id, now, report)
    return report


def _reclaim(campaign_id: int, now: datetime, report: DispatchReport) -> None:
    stale = CampaignContact.objects.filter(
        campaign_id=campaign_id, state=State.DIALLING, last_call__isnull=True, lease_expires_at__lt=now
    )
    for contact_id in list(stale.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            contact = stale.select_for_update(skip_locked=True).filter(pk=contact_id).first()
            if contact is None:
                continue
            existing = Call.objects.filter(dispatch_key=contact.dispatch_key).values_list("pk", flat=True).first()
            if existing is not None:
                # Recorded, so maybe dialled: never again. Its call's end settles the contact.
                contact.last_call_id = existing
                contact.lease_expires_at = None
                contact.save(update_fields=["last_call", "lease_expires_at", "updated_at"])
            else:
                # Never recorded, so never dialled (initiate records before it dials): back in line.
                contact.attempts -= 1
                contact.state = State.RETRYING if contact.attempts else State.PENDING
                contact.next_attempt_at = now if contact.attempts else None
                contact.lease_expires_at = None
                contact.save(update_fields=["attempts", "state", "next_attempt_at", "lease_expires_at", "updated_at"])
        report.reclaimed += 1
        logger.info("campaign contact %s reclaimed after its lease (call %s)", contact_id, existing)


def _settle(campaign_id: int, now: datetime, report: DispatchReport) -> None:
    ended = CampaignContact.objects.filter(
        campaign_id=campaign_id, state=State.DIALLING, last_call__status__in=TERMINAL_STATUSES
    )
    for contact_id in list(ended.values_list("pk", flat=True)[:2000]):
        with transaction.atomic():
            contact = (
                ended.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=contact_id)
                .select_related("campaign", "last_call")
                .first()
            )
            if contact is None or contact.last_call is None:
                continue
            campaign = contact.campaign
            contact.state, contact.reason = _outcome(campaign, contact, contact.last_call)
            retrying = contact.state == State.RETRYING
            contact.next_attempt_at = now + timedelta(seconds=campaign.retry_delay_seconds) if retrying else None
            contact.lease_expires_at = None
            contact.save(update_fields=["state", "reason", "next_attempt_at", "lease_expires_at", "updated_at"])
        report.settled += 1


def _outcome(campaign: Campaign, contact: CampaignContact, call: Call) -> tuple[str, str]:
    """A completed call completes the contact, a machine's answer included (VOICEMAIL_END_REASONS); busy, no-answer
    and failed are retried when the campaign says so and attempts are left; anything else fails it."""
    if call.status == CallStatus.COMPLETED:
        if call.end_reason in VOICEMAIL_END_REASONS:
            return State.COMPLETED, f"Answered by a machine ({call.end_reason})."
        return State.COMPLETED, ""
    reason = call.status if call.end_reason in ("", call.status) else f"{call.status}: {call.end_reason}"
    retry_on = campaign.retry_on if isinstance(campaign.retry_on, list) else []
    if call.status in retry_on and contact.attempts < campaign.max_attempts:
        return State.RETRYING, reason
    return State.FAILED, reason


def _complete(campaign_id: int, now: datetime, report: DispatchReport) -> None:
    unfinished = CampaignContact.objects.filter(campaign_id=campaign_id, state__in=(*WAITING, State.DIALLING))
    if unfinished.exists():
        return
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign_id, status=Campaign.Status.RUNNING)
            .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
            .first()
        )
        # Checked again under the lock: a contact added meanwhile (while it was running) keeps it running.
        if campaign is None or unfinished.exists():
            return
        campaign.status = Campaign.Status.COMPLETED
        campaign.completed_at = now
        campaign.save(update_fields=["status", "completed_at", "updated_at"])
        campaign_event_emit(campaign=campaign, type=CAMPAIGN_COMPLETED)
    report.completed_campaigns.append(campaign_id)
    logger.info("campaign %s completed", campaign_id)
