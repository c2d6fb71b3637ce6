"""Stream tokens: signed, short-lived and bound to one call, so the voice engine can prove which call it serves."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core import signing

from calls.models import Call

SALT = "burki.calls.stream-token"


class InvalidStreamToken(Exception):
    pass


def _fingerprint(call: Call) -> str:
    # Ties the token to the call's secret token, not just its id: a leaked id forges nothing.
    return hashlib.sha256(call.token.encode()).hexdigest()[:24]


def stream_token_issue(call: Call) -> str:
    return signing.dumps({"call": call.pk, "fp": _fingerprint(call)}, salt=SALT)


def stream_token_call_id(token: str) -> int:
    """The call a token was issued for; raises InvalidStreamToken when it is forged, tampered or expired."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.STREAM_TOKEN_TTL)
    except signing.BadSignature:
        raise InvalidStreamToken("Invalid or expired stream token.") from None
    if not isinstance(data, dict) or not isinstance(data.get("call"), int):
        raise InvalidStreamToken("Invalid stream token.")
    return data["call"]


def stream_token_matches(token: str, call: Call) -> bool:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.STREAM_TOKEN_TTL)
    except signing.BadSignature:
        return False
    return data.get("call") == call.pk and hmac.compare_digest(str(data.get("fp", "")), _fingerprint(call))


def stream_parameters(call: Call) -> dict[str, str]:
    """What the voice engine receives with the media stream (TwiML parameters, headers, or query parameters)."""
    parameters = {
        "call_id": str(call.pk),
        "assistant_id": str(call.assistant_id or ""),
        "welcome_message": call.welcome_message,
        "agenda": call.agenda,
        "stream_token": stream_token_issue(call),
    }
    if call.flow_id:
        parameters["flow_id"] = str(call.flow_id)
    if call.answered_by:
        # Known only when detection was faster than the answer: the engine may ask the context endpoint later.
        parameters["answered_by"] = call.answered_by
    return parameters
