"""Provider webhooks: /telephony/<provider>/answer/<token> and /telephony/<provider>/status/<token>.

The URL's token finds the call; the call's own telephony account (never a global secret) verifies the signature;
the provider's backend turns the request into a normalized event or an answer document.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from burki.errors import error_body
from burki.text import unstorable_paths
from calls.lifecycle import call_event_record
from calls.models import Call
from calls.streams import stream_parameters
from telephony.backends import get_backend
from telephony.backends.base import (
    AnswerInstructions,
    ProviderAccount,
    ProviderEvent,
    TelephonyBackend,
    TelephonyError,
    WebhookKind,
    WebhookRequest,
    WebhookResponse,
)

logger = logging.getLogger(__name__)


class WebhookRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _webhook_request(request: HttpRequest) -> WebhookRequest:
    body = request.body  # read first: the raw bytes are what Telnyx and Vonage sign
    form = request.content_type == "application/x-www-form-urlencoded" and request.method == "POST"
    params = request.POST.dict() if form else request.GET.dict()
    return WebhookRequest(
        method=request.method or "GET",
        url=request.build_absolute_uri(),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
        params=params,
    )


def _verified_call(
    request: HttpRequest, provider: str, token: str, kind: WebhookKind
) -> tuple[Call, TelephonyBackend, WebhookRequest]:
    # The token is unique: no ORDER BY, which .first() would add (the model's ordering) and compile on every event.
    call = next(
        iter(Call.objects.select_related("telephony_account").filter(token=token, provider=provider).order_by()[:1]),
        None,
    )
    if call is None:
        raise WebhookRefused(404, "Not found.")
    try:
        backend = get_backend(provider)
    except TelephonyError:
        raise WebhookRefused(404, "Not found.") from None
    webhook = _webhook_request(request)
    account = call.telephony_account
    verified = False
    if account is not None:
        ref = ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials)
        try:
            # Where the signature does not cover the URL, a request signed for another webhook or call verifies
            # too: what the signed content names must be this webhook of this call.
            verified = backend.verify_webhook(ref, webhook) and backend.signed_for(
                webhook, kind=kind, call_token=call.token, call_sid=call.call_sid
            )
        except Exception:  # a malformed signature must read as "not verified", never as a 500
            logger.warning("%s webhook for call %s: signature check raised", provider, call.pk, exc_info=True)
    if not verified:
        logger.warning(
            "%s webhook for call %s refused: missing, invalid or stale signature, or signed for another URL (from %s)",
            provider,
            call.pk,
            request.META.get("REMOTE_ADDR"),
        )
        raise WebhookRefused(403, "Invalid webhook signature.")
    return call, backend, webhook


def _check_storable(event: ProviderEvent) -> None:
    """Even a signed event must not carry text the database cannot store into it (see burki.text): a 500 then."""
    fields = {
        "event_type": event.event_type,
        "key": event.key,
        "call_sid": event.call_sid,
        "end_reason": event.end_reason,
        "payload": dict(event.payload),
    }
    paths = unstorable_paths(fields)
    if paths:
        raise WebhookRefused(400, f"Unreadable event: a NUL character or an invalid surrogate in {', '.join(paths)}.")


def _refusal(exc: WebhookRefused) -> JsonResponse:
    response = JsonResponse(error_body(exc.detail), status=exc.status)
    # We have logged the refusal already, without the path: it holds the call's token, which django.request
    # would otherwise write to the log.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _http(response: WebhookResponse) -> HttpResponse:
    return HttpResponse(response.content, content_type=response.content_type, status=response.status)


def answer_instructions(call: Call) -> AnswerInstructions:
    return AnswerInstructions(
        stream_url=settings.MEDIA_STREAM_URL or None,
        parameters=stream_parameters(call),
        say=call.welcome_message or "Hello.",
        from_number=call.from_number,
        to_number=call.to_number,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    try:
        call, backend, _ = _verified_call(request, provider, token, "answer")
    except WebhookRefused as exc:
        return _refusal(exc)
    if call.is_over:
        # A replay (a Twilio signature never expires), or an answer that comes after the call was hung up through
        # the API: a call that has ended gets no stream and no stream token, and is not moved.
        logger.warning("%s answer webhook for call %s, which is over (%s): hung up", provider, call.pk, call.status)
        return _http(backend.answer_hangup())
    return _http(backend.answer(answer_instructions(call)))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def status(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    try:
        call, backend, webhook = _verified_call(request, provider, token, "status")
        try:
            event = backend.parse_event(webhook)
        except ValueError as exc:
            raise WebhookRefused(400, f"Unreadable event: {exc}") from None
        if event is not None:
            _check_storable(event)
    except WebhookRefused as exc:
        return _refusal(exc)
    if event is not None and call_event_record(call=call, event=event) is not None and call.telephony_account:
        # Only for an event seen the first time: a redelivery must not repeat a command.
        account = call.telephony_account
        try:
            backend.on_event(
                ProviderAccount(id=account.pk, provider=account.provider, credentials=account.credentials),
                event,
                say=None if settings.MEDIA_STREAM_URL else (call.welcome_message or "Hello."),
            )
        except TelephonyError as exc:
            # The event is recorded; the provider retries nothing we could fix by failing this webhook.
            logger.warning("%s follow-up for call %s failed: %s", provider, call.pk, exc)
    return _http(backend.acknowledge())
