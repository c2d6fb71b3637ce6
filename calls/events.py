"""The call events customers' webhook endpoints receive, emitted inside the transaction that changes the call.

Every call gets exactly one `call.initiated` (in the transaction that records it) and exactly one `call.ended` (in
the one that moves it into a final status, which happens once: status only moves forward, under the call's row
lock). In between, `call.ringing` and `call.answered` when the call is seen in that status; a provider that reports
only the end, or a call never answered, skips them. Each carries the call as GET /api/v1/calls/{id} shows it then.
"""

from __future__ import annotations

from typing import Any

from calls.models import Call
from telephony.status import TERMINAL_STATUSES, CallStatus
from webhooks.services import event_emit

CALL_INITIATED = "call.initiated"
CALL_RINGING = "call.ringing"
CALL_ANSWERED = "call.answered"
CALL_ENDED = "call.ended"
CALL_MACHINE_DETECTION_COMPLETED = "call.machine_detection.completed"
CALL_RECORDING_READY = "call.recording.ready"
CALL_EVENT_TYPES = {
    CALL_INITIATED: "A call was accepted and recorded; the provider is asked to dial next. First event of every call.",
    CALL_RINGING: "The destination is ringing.",
    CALL_ANSWERED: "The call was answered.",
    CALL_MACHINE_DETECTION_COMPLETED: (
        "Answering-machine detection has an outcome: answered_by is human, machine, fax or unknown."
    ),
    CALL_ENDED: "The call is over, however it ended (see status and end_reason). Last event of every call but its "
    "recording's.",
    CALL_RECORDING_READY: "The carrier's recording of the call is ready: recording_url and recording_duration.",
}
_STATUS_EVENTS = {
    CallStatus.RINGING: CALL_RINGING,
    CallStatus.IN_PROGRESS: CALL_ANSWERED,
    **dict.fromkeys(TERMINAL_STATUSES, CALL_ENDED),
}


def call_payload(call: Call) -> dict[str, Any]:
    # Imported here: calls.serializers imports calls.services, which imports this module.
    from calls.serializers import CallOutput

    return dict(CallOutput(call).data)


def call_event_emit(*, call: Call, type: str) -> None:
    """Emit `type` about `call`; the caller holds the call's row lock inside the transaction that changed it."""
    event_emit(
        organization_id=call.organization_id, type=type, subject=f"call:{call.pk}", data=lambda: call_payload(call)
    )


def call_status_event_emit(*, call: Call) -> None:
    """The event for the status the call has just moved to, if that status has one."""
    event_type = _STATUS_EVENTS.get(CallStatus(call.status))
    if event_type is not None:
        call_event_emit(call=call, type=event_type)
