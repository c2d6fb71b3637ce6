"""Background work on calls: thin, like views; each takes ids, calls one service and may safely run twice."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from calls.lifecycle import calls_expire_stale
from calls.retention import calls_apply_retention
from calls.services import SANDBOX_PLAY_TASK, SandboxPlaybackError, call_sandbox_play


@shared_task(name="calls.expire_stale_calls")
def expire_stale_calls() -> int:
    return calls_expire_stale()


@shared_task(name="calls.apply_call_retention")
def apply_call_retention() -> dict[str, int]:
    return asdict(calls_apply_retention())


# Retried with backoff (about a minute in all) while our own webhooks are unreachable; then the call is left to the
# stale-call expiry, as a call whose provider went silent would be.
@shared_task(
    name=SANDBOX_PLAY_TASK,
    autoretry_for=(SandboxPlaybackError,),
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=5,
)
def sandbox_play(call_id: int, step: int = 0) -> None:
    """One step of a sandbox call's script; then the next one, queued to run after its delay."""
    wait = call_sandbox_play(call_id=call_id, step=step)
    if wait is not None:
        sandbox_play.apply_async((call_id, step + 1), countdown=wait)
