"""The embedded default: places no real call, records what it was asked (like django.core.mail's locmem)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from telephony.backends.base import DialRequest, DialResult, ProviderAccount, TelephonyBackend, TelephonyError
from telephony.numbers import mask_number

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxCall:
    account_id: int
    request: DialRequest
    call_sid: str


# What the sandbox was asked to do, in order; tests read and clear these (as they do django.core.mail.outbox).
outbox: list[SandboxCall] = []
hangups: list[str] = []


class SandboxBackend(TelephonyBackend):
    """Options: REFUSE_PREFIXES, destinations starting with any of them are refused (to test the failure path)."""

    provider = "sandbox"

    def dial(self, account: ProviderAccount, request: DialRequest) -> DialResult:
        refused = [p for p in self.options.get("REFUSE_PREFIXES", []) if p and request.to_number.startswith(p)]
        if refused:
            logger.info("sandbox refused call %s to %s", request.call_id, mask_number(request.to_number))
            raise TelephonyError(
                "Sandbox refuses calls to this destination.",
                provider=self.alias,
                code="SB403",
                http_status=403,
            )
        call_sid = "SB" + secrets.token_hex(16)
        outbox.append(SandboxCall(account_id=account.id, request=request, call_sid=call_sid))
        logger.info(
            "sandbox placed call %s from %s to %s as %s",
            request.call_id,
            mask_number(request.from_number),
            mask_number(request.to_number),
            call_sid,
        )
        return DialResult(call_sid=call_sid, status="queued")

    def hangup(self, account: ProviderAccount, call_sid: str) -> None:
        hangups.append(call_sid)
        logger.info("sandbox hung up %s", call_sid)
