"""Placing outbound calls: every accepted request leaves exactly one Call row telling what happened."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, Required, TypedDict, Unpack
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from assistants.selectors import assistant_get, phone_number_get_active
from burki.celery import app as celery_app
from burki.errors import (
    BadGateway,
    Conflict,
    Forbidden,
    GatewayTimeout,
    InvalidInput,
    NotFound,
    limit_reached,
    rule_refusal,
)
from burki.models import Organization
from calls.events import CALL_INITIATED, call_event_emit, call_status_event_emit
from calls.lifecycle import (
    API_END_REASONS,
    END_REASON_CANCELED,
    END_REASON_TERMINATED,
    EventRecorded,
    call_event_record,
    calls_expire_stale,
)
from calls.models import Call
from calls.options import MAX_DURATION_RANGE, RING_TIMEOUT_RANGE
from calls.placement import call_insert_within_limits, supports_single_statement_insert
from calls.policy import SUPPRESSED_REFUSAL, destination_refusal, is_suppressed, special_destination_refusal
from calls.streams import stream_parameters
from calls.templating import MAX_AGENDA, MAX_VOICEMAIL_MESSAGE, MAX_WELCOME_MESSAGE, render, variables_errors
from telephony.backends import get_backend
from telephony.backends.base import CallState, DialRequest, ProviderAccount, ProviderEvent, TelephonyError
from telephony.backends.sandbox import RECORDING, SandboxBackend, Step
from telephony.detection import ENDS_ON_MACHINE, AnsweredBy, MachineDetection
from telephony.models import TelephonyAccount
from telephony.numbers import InvalidPhoneNumber, mask_number, normalize_e164
from telephony.status import LIVE_STATUSES, CallStatus

logger = logging.getLogger(__name__)

# Queued by name: calls.tasks defines it and imports this module, not the other way round.
SANDBOX_PLAY_TASK = "calls.sandbox_play"

MAX_METADATA_BYTES = 16 * 1024  # as compact JSON (UTF-8)
MAX_METADATA_DEPTH = 8


class CallRequest(TypedDict, total=False):
    """What a client asks for: the initiate body, before any check (numbers may still be unnormalized)."""

    from_number: Required[object]
    to_number: Required[object]
    assistant_id: int | None
    welcome_message: str | None
    agenda: str | None
    variables: Mapping[str, Any] | None
    metadata: Mapping[str, Any] | None
    machine_detection: str | None
    voicemail_message: str | None
    record: bool | None
    max_duration_seconds: int | None
    ring_timeout_seconds: int | None


@dataclass(frozen=True)
class CallPlan:
    """Everything decided before anything is recorded or dialled."""

    number: PhoneNumber
    assistant: Assistant
    flow: ConversationFlow | None
    from_number: str
    to_number: str
    welcome_message: str
    agenda: str
    variables: dict[str, Any]
    metadata: dict[str, Any]
    # Effective values: the request's, else the assistant's (else the server's ring timeout).
    machine_detection: str
    voicemail_message: str  # rendered; empty unless machine_detection is leave_message
    record: bool
    max_duration_seconds: int
    ring_timeout_seconds: int


def _normalized_numbers(from_number: object, to_number: object) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    numbers: dict[str, str] = {}
    for field, raw in (("from_phone_number", from_number), ("to_phone_number", to_number)):
        try:
            numbers[field] = normalize_e164(raw)
        except InvalidPhoneNumber as exc:
            # Never callable, whatever else is wrong with the request: say so, rather than "not a valid number".
            refusal = special_destination_refusal(raw) if field == "to_phone_number" else None
            if refusal:
                raise Forbidden(refusal) from None
            errors[field] = [str(exc)]
    if not errors and numbers["from_phone_number"] == numbers["to_phone_number"]:
        errors["to_phone_number"] = ["The destination must differ from the number calling it."]
    if errors:
        raise InvalidInput("Invalid request.", errors=errors)
    return numbers["from_phone_number"], numbers["to_phone_number"]


def metadata_errors(metadata: Any) -> list[str]:
    """Problems with a call's `metadata`: a JSON object of at most 16 KB, nested at most a few levels."""
    if not isinstance(metadata, Mapping):
        return ["Must be a JSON object."]
    # Walked without recursion, before anything serializes it: the depth must be known to be small first.
    pending: list[tuple[Any, int]] = [(metadata, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, Mapping | list) and depth > MAX_METADATA_DEPTH:
            return [f"Nested more than {MAX_METADATA_DEPTH} levels deep."]
        if isinstance(value, Mapping):
            if any(not isinstance(key, str) or "\x00" in key for key in value):
                return ["Keys must be strings without NUL characters."]
            pending += [(inner, depth + 1) for inner in value.values()]
        elif isinstance(value, list):
            pending += [(inner, depth + 1) for inner in value]
        elif isinstance(value, str):
            if "\x00" in value:
                return ["Strings must not contain NUL characters."]  # PostgreSQL's jsonb cannot store them
        elif value is not None and not isinstance(value, bool | int | float):
            return ["Values must be JSON: objects, arrays, strings, numbers, booleans or null."]
    try:
        size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except ValueError:
        return ["Numbers must be finite."]
    if size > MAX_METADATA_BYTES:
        return [f"At most {MAX_METADATA_BYTES} bytes as compact JSON (got {size})."]
    return []


def _render_texts(*, templates: Mapping[str, tuple[str, int]], variables: Mapping[str, Any]) -> dict[str, str]:
    """Each (template, limit) of `templates` rendered with `variables`, by field; InvalidInput naming every missing
    variable, and every other problem per field."""
    errors: dict[str, list[str]] = {}
    missing: list[str] = []
    texts: dict[str, str] = {}
    for field, (template, limit) in templates.items():
        rendered = render(template, variables, limit=limit)
        texts[field] = rendered.text
        if rendered.invalid:
            errors[field] = [f"Unsupported template expression: {expr}" for expr in rendered.invalid]
        elif rendered.missing:
            errors[field] = [f"Missing variable: {name}" for name in rendered.missing]
            missing += [name for name in rendered.missing if name not in missing]
        elif rendered.length > limit:
            errors[field] = [f"At most {limit} characters after rendering (got {rendered.length})."]
    if missing:
        raise InvalidInput(
            f"Missing template variables: {', '.join(missing)}.",
            errors=errors,
            extra={"missing_variables": missing},
        )
    if errors:
        raise InvalidInput("Invalid request.", errors=errors)
    return texts


def _options_errors(request: CallRequest) -> dict[str, list[str]]:
    """The per-call options' own problems (the API's serializer says the same; the admin and commands come here)."""
    errors: dict[str, list[str]] = {}
    mode = request.get("machine_detection")
    if mode is not None and mode not in MachineDetection.values:
        errors["machine_detection"] = [f"Must be one of: {', '.join(MachineDetection.values)}."]
    record = request.get("record")
    if record is not None and not isinstance(record, bool):
        errors["record"] = ["Must be a boolean."]
    for field, (low, high) in (
        ("max_duration_seconds", MAX_DURATION_RANGE),
        ("ring_timeout_seconds", RING_TIMEOUT_RANGE),
    ):
        value = request.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            errors[field] = [f"Must be a whole number of seconds from {low} to {high}."]
    return errors


class _Checked(NamedTuple):
    """What call_plan has checked before the do-not-call list."""

    from_e164: str
    to_e164: str
    number: PhoneNumber
    variables: dict[str, Any]
    metadata: Mapping[str, Any]


def call_plan(
    *,
    organization: Organization,
    config_version: int | None = None,
    suppression_checked_later: bool = False,
    **request: Unpack[CallRequest],
) -> CallPlan:
    """Check everything a call needs (numbers, ownership, policy, the do-not-call list, assistant, templates) without
    recording or dialling.

    `config_version`: the organization's configuration version read at the start of the request (burki.config), when
    the caller knows it: the number's configuration may then come from the cache. `suppression_checked_later`: the
    caller checks the do-not-call list itself, in the statement that records the call (calls.placement); it is still
    checked here when a later check refuses the call, so that the answer is the same as without it.
    """
    checked = _request_checked(organization=organization, config_version=config_version, request=request)
    if not suppression_checked_later:
        _suppression_check(organization=organization, to_number=checked.to_e164)
        return _plan_completed(organization=organization, checked=checked, request=request)
    try:
        return _plan_completed(organization=organization, checked=checked, request=request)
    except Exception:
        _suppression_check(organization=organization, to_number=checked.to_e164)
        raise


def _suppression_check(*, organization: Organization, to_number: str) -> None:
    if is_suppressed(organization_id=organization.pk, to_number=to_number):
        raise rule_refusal(SUPPRESSED_REFUSAL.format(number=to_number), limit="suppressed")


def _request_checked(*, organization: Organization, config_version: int | None, request: CallRequest) -> _Checked:
    from_e164, to_e164 = _normalized_numbers(request["from_number"], request["to_number"])
    variables = dict(request.get("variables") or {})
    problems = variables_errors(variables)
    if problems:
        raise InvalidInput("Invalid request.", errors={"variables": problems})
    metadata = request.get("metadata")
    metadata = {} if metadata is None else metadata
    problems = metadata_errors(metadata)
    if problems:
        raise InvalidInput("Invalid request.", errors={"metadata": problems})
    option_errors = _options_errors(request)
    if option_errors:
        raise InvalidInput("Invalid request.", errors=option_errors)

    number = phone_number_get_active(organization=organization, number=from_e164, config_version=config_version)
    if number is None:
        raise NotFound(f"No phone number {from_e164} in your organization.")
    refusal = destination_refusal(organization=organization, to_number=to_e164)
    if refusal:
        raise Forbidden(refusal)
    return _Checked(from_e164, to_e164, number, variables, metadata)


def _plan_completed(*, organization: Organization, checked: _Checked, request: CallRequest) -> CallPlan:
    from_e164, to_e164, number, variables, metadata = checked
    assistant_id = request.get("assistant_id")
    welcome_message = request.get("welcome_message")
    # Resolution order from the published spec: explicit assistant, then the number's flow, then its assistant.
    flow = None
    if assistant_id is not None:
        assistant = assistant_get(organization=organization, assistant_id=assistant_id)
        if assistant is None:
            raise NotFound(f"No assistant {assistant_id} in your organization.")
    elif number.flow is not None:
        flow = number.flow
        if not flow.is_active:
            raise Conflict(f"Conversation flow '{flow.name}' (id {flow.pk}) is inactive.")
        assistant = flow.base_assistant
    elif number.assistant is not None:
        assistant = number.assistant
    else:
        raise NotFound(f"No assistant found for phone number {from_e164}.")
    if not assistant.is_active:
        raise Conflict(f"Assistant '{assistant.name}' (id {assistant.pk}) is inactive.")
    if not number.telephony_account.is_active:
        raise Conflict(f"The telephony account of {from_e164} is inactive.")

    machine_detection = request.get("machine_detection") or assistant.machine_detection
    templates = {
        "welcome_message": (
            assistant.welcome_message if welcome_message is None else welcome_message,
            MAX_WELCOME_MESSAGE,
        ),
        "agenda": (request.get("agenda") or "", MAX_AGENDA),
    }
    leaves_message = machine_detection == MachineDetection.LEAVE_MESSAGE
    if leaves_message:
        # Rendered (and checked) only where it will be said.
        voicemail_message = request.get("voicemail_message")
        template = assistant.voicemail_message if voicemail_message is None else voicemail_message
        templates["voicemail_message"] = (template, MAX_VOICEMAIL_MESSAGE)
    texts = _render_texts(templates=templates, variables=variables)
    if leaves_message and not texts["voicemail_message"].strip():
        raise InvalidInput(
            "Invalid request.",
            errors={
                "voicemail_message": ["Needed when machine_detection is leave_message (none here or on the assistant)."]
            },
        )
    record = request.get("record")
    max_duration = request.get("max_duration_seconds")
    ring_timeout = request.get("ring_timeout_seconds")
    return CallPlan(
        number=number,
        assistant=assistant,
        flow=flow,
        from_number=from_e164,
        to_number=to_e164,
        welcome_message=texts["welcome_message"],
        agenda=texts["agenda"],
        variables=variables,
        metadata=dict(metadata),
        machine_detection=machine_detection,
        voicemail_message=texts.get("voicemail_message", ""),
        record=assistant.record if record is None else record,
        max_duration_seconds=assistant.max_call_length if max_duration is None else max_duration,
        ring_timeout_seconds=settings.TELEPHONY_RING_TIMEOUT if ring_timeout is None else ring_timeout,
    )


def call_callback_urls(call: Call) -> tuple[str, str]:
    """The answer and status webhook URLs the provider calls back for this call (they carry only its token)."""
    base = f"{settings.PUBLIC_BASE_URL}/telephony/{call.provider}"
    return f"{base}/answer/{call.token}", f"{base}/status/{call.token}"


def _stream_url(call: Call) -> str | None:
    # For providers that start the media stream at dial time (Telnyx): the parameters travel in the query.
    if not settings.MEDIA_STREAM_URL:
        return None
    separator = "&" if "?" in settings.MEDIA_STREAM_URL else "?"
    return settings.MEDIA_STREAM_URL + separator + urlencode(stream_parameters(call))


class DispatchKeyTaken(Conflict):
    """Another call already holds this dispatch key: that attempt was recorded (and maybe dialled) already."""


def call_initiate(
    *,
    organization: Organization,
    sandbox_autoplay: bool = True,
    campaign_id: int | None = None,
    dispatch_key: str | None = None,
    config_version: int | None = None,
    **request: Unpack[CallRequest],
) -> Call:
    """Record the call, then ask its provider to dial. A sandbox call then plays its lifecycle by itself (through
    the worker) unless the backend's AUTOPLAY or `sandbox_autoplay` says otherwise (`place_test_call --simulate`
    plays it itself).

    A campaign's dispatcher passes `campaign_id` and the attempt's `dispatch_key`: the key is unique among calls, so
    that an attempt is recorded, and so dialled, at most once whoever tries (DispatchKeyTaken, and nothing dialled,
    when it is recorded already).
    """
    # On PostgreSQL the do-not-call list is checked in the statement that records the call (calls.placement).
    single_statement = supports_single_statement_insert()
    plan = call_plan(
        organization=organization, config_version=config_version, suppression_checked_later=single_statement, **request
    )
    account = plan.number.telephony_account
    call = Call(
        organization=organization,
        assistant=plan.assistant,
        flow=plan.flow,
        phone_number=plan.number,
        telephony_account=account,
        from_number=plan.from_number,
        to_number=plan.to_number,
        provider=account.provider,
        status=CallStatus.QUEUED,
        welcome_message=plan.welcome_message,
        agenda=plan.agenda,
        variables=plan.variables,
        metadata=plan.metadata,
        machine_detection=plan.machine_detection,
        voicemail_message=plan.voicemail_message,
        record=plan.record,
        max_duration_seconds=plan.max_duration_seconds,
        ring_timeout_seconds=plan.ring_timeout_seconds,
        campaign_id=campaign_id,
        dispatch_key=dispatch_key,
    )
    try:
        _call_record(call, organization=organization, account=account, single_statement=single_statement)
    except IntegrityError:
        taken = dispatch_key is not None and Call.objects.filter(dispatch_key=dispatch_key).values_list("pk").first()
        if not taken:
            raise
        raise DispatchKeyTaken(
            f"Attempt {dispatch_key} is recorded already, as call {taken[0]}.", extra={"call_id": taken[0]}
        ) from None
    _dial(call, account=ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials))
    if sandbox_autoplay:
        _sandbox_autoplay(call)
    return call


def _call_record(call: Call, *, organization: Organization, account: TelephonyAccount, single_statement: bool) -> None:
    # Committed before the provider is asked: whatever happens next, the call is on record. In one round trip when
    # nothing stands in the way (calls.placement); otherwise the same checks through the ORM, which say why.
    if call_insert_within_limits(call=call, organization=organization, account=account):
        return
    if single_statement:
        _suppression_check(organization=organization, to_number=call.to_number)
    with transaction.atomic():
        _check_capacity(organization=organization, account=account, lock=True)
        call.save(force_insert=True)
        call_event_emit(call=call, type=CALL_INITIATED)


def _sandbox_autoplay(call: Call) -> None:
    backend = get_backend(call.provider)
    if not isinstance(backend, SandboxBackend) or not backend.autoplay:
        return
    first = _script(backend, call)[0]
    play = celery_app.signature(SANDBOX_PLAY_TASK, args=(call.pk, 0))
    # Once the call is committed, or the worker would not find it. robust: with the broker down, the call is
    # placed all the same (and expired as stale later); the error is logged instead of failing the request.
    transaction.on_commit(lambda: play.apply_async(countdown=first.after), robust=True)


def call_validate(
    *, organization: Organization, config_version: int | None = None, **request: Unpack[CallRequest]
) -> CallPlan:
    """Every check initiate makes (ownership, assistant, templates, policy, limits); records and dials nothing."""
    plan = call_plan(organization=organization, config_version=config_version, **request)
    _check_capacity(organization=organization, account=plan.number.telephony_account, lock=False)
    return plan


def _check_capacity(*, organization: Organization, account: TelephonyAccount, lock: bool) -> None:
    """The organization's live-call limit and the account's calls-per-second, across every server process.

    With `lock`, the organization's row is locked until the caller's transaction ends, so concurrent initiates
    of one organization count and insert one at a time; the provider is asked only after that commits.
    """
    if lock:
        list(Organization.objects.select_for_update().filter(pk=organization.pk).order_by().values_list("pk"))
    limit = organization.effective_max_concurrent_calls
    # Counting stops at the limit: under the lock, an organization with thousands of live calls would otherwise pay
    # for counting them all on every initiate (1.8 ms at 8,400), one initiate at a time.
    live = Call.objects.filter(organization=organization, status__in=LIVE_STATUSES).order_by()[:limit]
    if live.count() >= limit:
        # A call that never reported its end must not hold its slot forever: expire stale ones, then recount.
        freed = lock and calls_expire_stale(organization=organization) > 0
        if not freed or live.count() >= limit:
            raise limit_reached(
                f"Concurrent call limit reached: your organization may have {limit} live calls at once.",
                limit="max_concurrent_calls",
                retry_after=5,
            )

    per_second = account.effective_calls_per_second
    if per_second:
        now = timezone.now()
        recent = list(
            Call.objects.filter(telephony_account=account, created_at__gt=now - timedelta(seconds=1))
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:per_second]
        )
        if len(recent) >= per_second:
            # The slot frees when the oldest of the last `per_second` calls leaves the one-second window.
            wait = (recent[-1] + timedelta(seconds=1) - now).total_seconds()
            raise limit_reached(
                f"Call rate limit reached: the {account.get_provider_display()} account '{account.name}' places at "
                f"most {per_second} call(s) per second.",
                limit="calls_per_second",
                retry_after=max(1, math.ceil(wait)),
            )


def _dial(call: Call, *, account: ProviderAccount) -> None:
    """Ask the provider to dial, outside any transaction, and record the outcome on the call."""
    answer_url, status_url = call_callback_urls(call)
    request = DialRequest(
        call_id=call.pk,
        token=call.token,
        from_number=call.from_number,
        to_number=call.to_number,
        answer_url=answer_url,
        status_url=status_url,
        ring_timeout=call.ring_timeout_seconds or settings.TELEPHONY_RING_TIMEOUT,
        time_limit=call.max_duration_seconds,
        stream_url=_stream_url(call),
        machine_detection=call.machine_detection,
        record=call.record,
    )
    try:
        result = get_backend(call.provider).dial(account, request)
    except TelephonyError as exc:
        _record_dial_failure(call, exc)
        raise _service_error(call, exc) from exc

    call.call_sid = result.call_sid
    call.status = result.status
    call.started_at = timezone.now()
    # One autocommitted UPDATE: no transaction of its own (two round trips saved on every call). Inside a caller's
    # transaction, a savepoint keeps a failure below from breaking it. The status is set only while still `queued`:
    # a provider's webhook may have come first (and moved it on, or ended it), and status never moves back.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            _record_dial(call)
    except IntegrityError:
        # The provider dialled but reused an id we hold for another call: keep this call honest (outcome
        # unknown, id not ours to claim) rather than fail the request with nothing recorded.
        call.call_sid = None
        call.status = CallStatus.UNKNOWN
        call.error_message = f"The provider returned call id {result.call_sid}, already recorded for another call."
        # Like the update above, `unknown` only over `queued`: status never moves back.
        Call.objects.filter(pk=call.pk).update(
            status=Case(When(status=CallStatus.QUEUED, then=Value(CallStatus.UNKNOWN)), default=F("status")),
            error_message=call.error_message,
            updated_at=timezone.now(),
        )
        logger.error("call %s: %s returned a duplicate call id", call.pk, call.provider)
        raise BadGateway(call.error_message, extra={"call_id": call.pk, "status": call.status}) from None
    logger.info(
        "call %s placed via %s to %s as %s",
        call.pk,
        call.provider,
        mask_number(call.to_number),
        call.call_sid,
    )


# The dial's outcome, as Call.objects.filter(pk=...).update(call_sid=..., status=Case(When(status="queued", ...)),
# started_at=Coalesce(...)) writes it, without compiling that expression tree on every initiate (1.5 ms of CPU).
_RECORD_DIAL = (
    'UPDATE "calls_call" SET "call_sid" = %s, "status" = CASE WHEN "status" = %s THEN %s ELSE "status" END, '
    '"started_at" = COALESCE("started_at", %s), "updated_at" = %s WHERE "id" = %s'
)


def _record_dial(call: Call) -> None:
    started_at = connection.ops.adapt_datetimefield_value(call.started_at)
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_DIAL, [call.call_sid, CallStatus.QUEUED, call.status, started_at, started_at, call.pk])


def _record_dial_failure(call: Call, exc: TelephonyError) -> None:
    with transaction.atomic():
        # Under the row lock, like every status change: a webhook that came first (the provider did dial, and the
        # answer to the create request was lost) keeps the status it set, and the call ends once.
        locked = Call.objects.select_for_update().get(pk=call.pk)
        locked.error_message = str(exc)[:2000]
        ended = False
        if locked.status == CallStatus.QUEUED and exc.kind == TelephonyError.UNAVAILABLE:
            # The create request may have reached the provider: only its webhooks can tell us whether it dialled.
            locked.status = CallStatus.UNKNOWN
        elif locked.status == CallStatus.QUEUED:
            locked.status = CallStatus.FAILED
            rate_limited = exc.kind == TelephonyError.RATE_LIMITED
            locked.end_reason = "provider-rate-limited" if rate_limited else "provider-rejected"
            locked.ended_at = timezone.now()
            ended = True
        locked.save(update_fields=["status", "error_message", "end_reason", "ended_at", "updated_at"])
        if ended:
            call_status_event_emit(call=locked)
    for field in ("status", "error_message", "end_reason", "ended_at", "updated_at"):
        setattr(call, field, getattr(locked, field))
    logger.warning("call %s: %s dial %s: %s", call.pk, call.provider, exc.kind, exc)


def _service_error(call: Call, exc: TelephonyError, *, refused: str = "refused the call") -> Exception:
    extra = {"call_id": call.pk, "status": call.status, "provider": call.provider, "provider_code": exc.code}
    if exc.kind == TelephonyError.RATE_LIMITED:
        return limit_reached(
            f"The telephony provider is rate limiting calls: {exc.message}",
            limit="provider",
            retry_after=exc.retry_after or 1,
            extra=extra,
        )
    if exc.kind == TelephonyError.UNAVAILABLE:
        return GatewayTimeout(
            f"The telephony provider did not answer: {exc.message}. The outcome is unknown until the "
            "provider reports it.",
            extra=extra,
        )
    return BadGateway(f"The telephony provider {refused}: {exc}", extra=extra)


def call_terminate(*, call: Call) -> Call:
    """Hang up a live call through its provider, and record the end right away.

    A call already over is a 400 here, as in Burki's published API (its SDK reads 400 as a validation error);
    call_cancel answers 409 for the same.
    """
    if call.is_over:
        raise InvalidInput(f"Call {call.pk} is already over (status {call.status}).")
    return _hang_up(call, event_type="terminated-by-api", key="burki:terminate", end_reason=END_REASON_TERMINATED)


def call_cancel(*, call: Call) -> Call:
    """Stop a call, whatever it has reached. A call the provider knows (it has the provider's call id) is hung up
    through the provider, as terminate does; one it does not (still `queued`, or `unknown` after a dial that timed
    out) is recorded as `canceled` at once, since there is nothing to hang up by. A call already over is a 409.

    Should the provider have placed a call it never told us about, its answer webhook finds the call over and hangs
    it up, and its events are kept without moving the call: status only moves forward.
    """
    with transaction.atomic():
        # Under the call's row lock, which every event takes too: a provider id that arrives meanwhile is seen here.
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.is_over:
            raise Conflict(
                f"Call {call.pk} is already over (status {locked.status}): there is nothing to cancel.",
                extra={"call_id": call.pk, "status": locked.status},
            )
        if not locked.call_sid:
            call_event_record(
                call=call,
                event=ProviderEvent(
                    event_type="canceled-by-api",
                    key="burki:cancel",
                    status=CallStatus.CANCELED,
                    end_reason=END_REASON_CANCELED,
                    payload={"requested_by": "api"},
                ),
            )
            logger.info("call %s canceled before the provider knew it (%s)", call.pk, locked.status)
            return call
    for field in ("call_sid", "status"):
        setattr(call, field, getattr(locked, field))
    return _hang_up(call, event_type="canceled-by-api", key="burki:cancel", end_reason=END_REASON_CANCELED)


def _hang_up(call: Call, *, event_type: str, key: str, end_reason: str) -> Call:
    account = call.telephony_account
    if account is None or not call.call_sid:
        raise Conflict(f"Call {call.pk} cannot be hung up: its telephony account no longer exists.")
    try:
        get_backend(call.provider).hangup(
            ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials), call.call_sid
        )
    except TelephonyError as exc:
        logger.warning("call %s: %s hang-up %s: %s", call.pk, call.provider, exc.kind, exc)
        raise _service_error(call, exc, refused="refused to hang up") from exc
    # The provider's own final event follows; recording the end now means the API answers with the truth
    # at once, and the later event (terminal already) changes nothing.
    answered = call.status == CallStatus.IN_PROGRESS
    call_event_record(
        call=call,
        event=ProviderEvent(
            event_type=event_type,
            key=key,
            status=CallStatus.COMPLETED if answered else CallStatus.CANCELED,
            end_reason=end_reason,
            payload={"requested_by": "api"},
        ),
    )
    return call


def call_event_follow_up(*, call: Call, recorded: EventRecorded, event: ProviderEvent) -> None:
    """What Burki asks the provider after an event it has just recorded (never inside a transaction).

    A machine that answered a call in hangup mode (or a fax, in leave_message mode too) is hung up on, unless the
    carrier does it itself; once a machine's greeting is over in leave_message mode, the voicemail message is said
    (the carrier hangs up after it); then the backend's own follow-ups (Telnyx's speak and hang-up commands).
    """
    account = call.telephony_account
    if account is None:
        return
    backend = get_backend(call.provider)
    ref = ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials)
    live = not call.is_over and bool(call.call_sid)
    try:
        if live and "answered_by" in recorded.changed and _hangs_up(call, carrier_does_it=backend.hangs_up_on_machine):
            logger.info("call %s: answered by %s; hanging up", call.pk, call.answered_by)
            backend.hangup(ref, str(call.call_sid))
        elif live and "voicemail_left_at" in recorded.changed:
            logger.info("call %s: the machine's greeting is over; leaving the voicemail message", call.pk)
            backend.leave_message(
                ref, str(call.call_sid), text=call.voicemail_message, streaming=bool(settings.MEDIA_STREAM_URL)
            )
    except TelephonyError as exc:
        logger.warning("call %s: %s follow-up to %s failed: %s", call.pk, call.provider, event.event_type, exc)
        if "voicemail_left_at" in recorded.changed:
            # Not left after all: the call ends as `voicemail`, not `voicemail-message-left`.
            Call.objects.filter(pk=call.pk, ended_at__isnull=True).update(voicemail_left_at=None)
            call.voicemail_left_at = None
    state = CallState(
        say=None if settings.MEDIA_STREAM_URL else (call.welcome_message or "Hello."),
        machine_detection=call.machine_detection,
        answered_by=call.answered_by,
        leaving_message=call.voicemail_left_at is not None,
    )
    try:
        backend.on_event(ref, event, state=state)
    except TelephonyError as exc:
        # The event is recorded; the provider retries nothing we could fix by failing its webhook.
        logger.warning("%s follow-up for call %s failed: %s", call.provider, call.pk, exc)


def _hangs_up(call: Call, *, carrier_does_it: bool) -> bool:
    """Whether Burki hangs up on who answered (the call's answered_by), by the call's machine_detection mode."""
    if call.answered_by == AnsweredBy.FAX:
        return call.machine_detection in ENDS_ON_MACHINE
    return (
        call.answered_by == AnsweredBy.MACHINE
        and call.machine_detection == MachineDetection.HANGUP
        and not carrier_does_it
    )


def call_simulate(*, call: Call) -> list[tuple[str, int]]:
    """Drive a sandbox call through its whole script at once, with real, signed requests to our own webhooks."""
    backend = get_backend(call.provider)
    if not isinstance(backend, SandboxBackend) or call.telephony_account is None or not call.call_sid:
        raise Conflict("Only a placed sandbox call can be simulated.")
    account = call.telephony_account
    answer_url, status_url = call_callback_urls(call)
    return backend.simulate(
        ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials),
        call_sid=call.call_sid,
        answer_url=answer_url,
        status_url=status_url,
        steps=_script(backend, call),
    )


def _script(backend: SandboxBackend, call: Call) -> tuple[Step, ...]:
    return backend.script(call.to_number, machine_detection=call.machine_detection, record=call.record)


def call_sandbox_play_start(*, call: Call) -> None:
    """Queue a live sandbox call's script on the worker, from its first step, as autoplay would (the admin's
    "Simulate"): what SANDBOX_AUTOPLAY=0 leaves to be done by hand. Steps it has played already are duplicates,
    which the lifecycle ignores."""
    backend = get_backend(call.provider)
    if not isinstance(backend, SandboxBackend) or call.telephony_account_id is None or not call.call_sid:
        raise Conflict("Only a placed sandbox call can be simulated.")
    if call.is_over:
        raise Conflict(f"Call {call.pk} is already over (status {call.status}).")
    play = celery_app.signature(SANDBOX_PLAY_TASK, args=(call.pk, 0))
    transaction.on_commit(lambda: play.apply_async(), robust=True)


class SandboxPlaybackError(Exception):
    """Our own webhooks could not take a sandbox step now (unreachable, or a 5xx): worth trying again."""


def call_sandbox_play(*, call_id: int, step: int) -> float | None:
    """Send step `step` of a sandbox call's script to our own webhooks, signed, as the provider would.

    Returns the seconds to wait before the next step, or None when there is none: the script is over, the call has
    ended (hung up through the API, expired), or our webhooks refused the step. Safe to repeat: a repeated step is a
    duplicate event, which the lifecycle ignores.
    """
    call = Call.objects.select_related("telephony_account").filter(pk=call_id).first()
    if call is None or call.telephony_account is None or not call.call_sid:
        return None
    backend = get_backend(call.provider)
    if not isinstance(backend, SandboxBackend):
        return None
    script = _script(backend, call)
    if not 0 <= step < len(script):
        return None
    # An ended call plays nothing more, but the recording of a call that ended as its script has it (not hung up
    # through the API, after which the sandbox plays no further step).
    ended_as_scripted = call.status == CallStatus.COMPLETED and call.end_reason not in API_END_REASONS
    if call.is_over and not (script[step].event == RECORDING and ended_as_scripted):
        return None
    account = call.telephony_account
    answer_url, status_url = call_callback_urls(call)
    try:
        results = backend.simulate(
            ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials),
            call_sid=call.call_sid,
            answer_url=answer_url,
            status_url=status_url,
            steps=[script[step]],
        )
    except OSError as exc:
        raise SandboxPlaybackError(f"sandbox call {call.pk}: {settings.PUBLIC_BASE_URL} unreachable: {exc}") from exc
    if any(code >= 500 for _, code in results):
        raise SandboxPlaybackError(f"sandbox call {call.pk}: our webhooks answered {results}")
    refused = [f"{what} got HTTP {code}" for what, code in results if code >= 300]
    if refused:
        # Not worth retrying: the worker's PUBLIC_BASE_URL or SECRET_KEY is not the web server's.
        logger.error(
            "sandbox call %s: the webhooks at PUBLIC_BASE_URL %s refused step %s (%s); is it this server, with the "
            "same SECRET_KEY?",
            call.pk,
            settings.PUBLIC_BASE_URL,
            script[step].event,
            ", ".join(refused),
        )
        return None
    return script[step + 1].after if step + 1 < len(script) else None
