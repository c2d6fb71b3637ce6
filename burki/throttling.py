"""Password guessing: failed password checks are counted per client address and per username, in Django's cache.

Past a limit, the check is refused before the password is looked at (429 with Retry-After) until the window ends.
Every attempt takes its place in the count *before* the check, with an atomic increment, and gives it back if the
password was right: so even many attempts sent at once cannot get more than the limit checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.settings import api_settings

from burki.errors import TooManyRequests

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LoginThrottled(TooManyRequests):
    default_detail = "Too many failed logins."


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int


def parse_rate(value: str) -> Rate | None:
    """`10/hour` (DRF's notation: the period's first letter counts, s, m, h or d); empty means no limit."""
    if not value.strip():
        return None
    count, _, period = value.partition("/")
    seconds = _UNITS.get(period.strip()[:1].lower())
    if seconds is None or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"Invalid rate {value!r}: expected '<count>/<second|minute|hour|day>', e.g. '10/hour'.")
    return Rate(limit=int(count), seconds=seconds)


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address the NUM_PROXIES-th proxy from us saw, as DRF's throttles take it."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = api_settings.NUM_PROXIES or 0
    if proxies <= 0 or not forwarded:
        return remote
    hops = str(forwarded).split(",")
    return hops[-min(proxies, len(hops))].strip()


def _client_group(address: str) -> str:
    """One count per IPv4 address, and per IPv6 /64 (the block a single customer is usually given)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def normalize_username(username: str) -> str:
    """Wider than the username lookup (which is exact): `Ann`, `ann` and ` ann ` share one count."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int
    retry_after: int


def _counter(scope: str, ident: str, rate_setting: str, now: float) -> _Counter | None:
    rate = parse_rate(rate_setting)
    if rate is None:
        return None
    window = int(now // rate.seconds)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return _Counter(
        key=f"burki:login:{scope}:{digest}:{window}",
        limit=rate.limit,
        retry_after=max(1, math.ceil((window + 1) * rate.seconds - now)),
    )


def _take(counter: _Counter) -> int:
    cache.add(counter.key, 0, timeout=counter.retry_after + 1)
    try:
        return cache.incr(counter.key)
    except ValueError:  # expired between add and incr: the window just ended
        cache.add(counter.key, 1, timeout=counter.retry_after + 1)
        return 1


def _give_back(counters: list[_Counter]) -> None:
    for counter in counters:
        with contextlib.suppress(ValueError):  # its window has ended meanwhile
            cache.decr(counter.key)


def now() -> float:
    return time.time()


def password_check(*, client: str | None, username: str, check: Callable[[], bool]) -> bool:
    """Runs `check` (is the password right?) unless the client or the username is out of attempts.

    Raises LoginThrottled instead, without running it. A failed check stays counted; a right password, an error
    (the database, say) or a refused attempt is given back.
    """
    moment = now()
    counters = [
        counter
        for counter in (
            _counter("ip", _client_group(client), settings.LOGIN_RATE_PER_IP, moment) if client else None,
            _counter("username", normalize_username(username), settings.LOGIN_RATE_PER_USERNAME, moment),
        )
        if counter is not None
    ]
    taken: list[_Counter] = []
    wait = 0
    for counter in counters:
        count = _take(counter)
        taken.append(counter)
        if count > counter.limit:
            wait = max(wait, counter.retry_after)
    if wait:
        _give_back(taken)
        raise LoginThrottled(f"Too many failed logins: try again in {wait} seconds.", retry_after=wait)

    failed = False
    try:
        failed = not check()
    finally:
        if not failed:
            _give_back(taken)
    return not failed
