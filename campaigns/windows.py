"""Calling hours in the callee's time zone: pure functions, no database.

A contact's zones are its explicit IANA zone, else every zone libphonenumber gives its number. When there are several
(a US toll-free number, a Russian mobile), the window must hold in all of them at once: a call at 10:00 in New York
is a call at 07:00 in Los Angeles. An empty list means no zone is known; such a contact is never inside a window,
which is why the import refuses it (its row must give a `timezone`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phonenumbers_timezone

# libphonenumber's answer when it knows no zone for a number.
_UNKNOWN = "Etc/Unknown"
# A window repeats every week; 15 days covers a week from any start, plus a daylight-saving change on either side.
_HORIZON_DAYS = 15


class Window(Protocol):
    """What a campaign (or anything else) must have for its calling window to be evaluated."""

    window_days: list[int]  # 0 = Monday (datetime.weekday())
    window_start: time
    window_end: time


class InvalidTimezone(ValueError):
    pass


_ZONE_NAMES: frozenset[str] | None = None


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone with this exact name; InvalidTimezone for anything else (including paths and "localtime")."""
    global _ZONE_NAMES
    if _ZONE_NAMES is None:
        # "localtime" and "posixrules" are files of some zone directories, not zones.
        _ZONE_NAMES = frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}
    # Only names of the database: ZoneInfo would also open "localtime" or a relative path under the zone directory.
    if name not in _ZONE_NAMES:
        raise InvalidTimezone(f"Unknown time zone {name[:64]!r}: give an IANA name, e.g. America/New_York.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"Unknown time zone {name[:64]!r}: give an IANA name, e.g. America/New_York.") from None


def contact_zones(
    phone_number: str,
    explicit_tz: str = "",
    *,
    parsed: phonenumbers.PhoneNumber | None = None,
    number_type: int | None = None,
) -> list[ZoneInfo]:
    """The zones whose local time must be inside the window for this contact to be called.

    `phone_number` is E.164. An explicit zone wins (InvalidTimezone if it is not an IANA name). Otherwise the
    number's zones per libphonenumber, in name order; [] when none is known. `parsed` and `number_type`: the
    number's, when the caller has them already (an import of 10,000 contacts).
    """
    if explicit_tz:
        return [zone_named(explicit_tz)]
    if parsed is None:
        try:
            parsed = phonenumbers.parse(phone_number, None)
        except phonenumbers.NumberParseException:
            return []
    if number_type is None:
        number_type = phonenumbers.number_type(parsed)
    return list(_zones(_zone_names(parsed, number_type)))


def _zone_names(parsed: phonenumbers.PhoneNumber, number_type: int) -> tuple[str, ...]:
    # phonenumbers.timezone.time_zones_for_number, less the number type it would compute again.
    if number_type == phonenumbers.PhoneNumberType.UNKNOWN:
        return ()
    if not phonenumbers.is_number_type_geographical(number_type, parsed.country_code or 0):
        names = phonenumbers_timezone._country_level_time_zones_for_number(parsed)
    else:
        names = phonenumbers_timezone.time_zones_for_geographical_number(parsed)
    return tuple(sorted(set(names) - {_UNKNOWN}))


@lru_cache(maxsize=4096)
def _zones(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    zones: list[ZoneInfo] = []
    for name in names:
        try:
            zones.append(zone_named(name))
        except InvalidTimezone:
            continue  # a zone libphonenumber knows and this system's tzdata does not: the others still count
    return tuple(zones)


def _open_in(window: Window, zone: ZoneInfo, at: datetime) -> bool:
    local = at.astimezone(zone)
    return local.weekday() in window.window_days and window.window_start <= local.time() < window.window_end


def window_open(window: Window, zones: list[ZoneInfo], at: datetime) -> bool:
    """Whether `at` (aware) is inside the calling window in every one of `zones`; False for no zones."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware.")
    return bool(zones) and all(_open_in(window, zone, at) for zone in zones)


def next_window_opening(
    window: Window, zones: list[ZoneInfo], after: datetime, before: datetime | None = None
) -> datetime | None:
    """The earliest instant at or after `after` inside the window in every zone: `after` itself when the window is
    open then. None when there is none before `before` (e.g. the campaign's end) or at all (no zones, no days, or
    zones too far apart for their windows ever to overlap).
    """
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware.")
    if not zones or not window.window_days or window.window_start >= window.window_end:
        return None
    # The intersection of the zones' windows opens either now or when one zone's window opens: those are the only
    # instants to try.
    try:
        return _next_opening(window, zones, after, before)
    except OverflowError:
        return None  # near the end of the calendar (year 9999): no opening that can be written down


def _next_opening(window: Window, zones: list[ZoneInfo], after: datetime, before: datetime | None) -> datetime | None:
    candidates = {after}
    for zone in zones:
        first_day: date = after.astimezone(zone).date() - timedelta(days=1)
        for offset in range(_HORIZON_DAYS):
            day = first_day + timedelta(days=offset)
            if day.weekday() not in window.window_days:
                continue
            opening = datetime.combine(day, window.window_start, tzinfo=zone)
            if opening >= after:
                candidates.add(opening)
    for candidate in sorted(candidates):
        if before is not None and candidate >= before:
            return None
        if window_open(window, zones, candidate):
            return candidate.astimezone(UTC)
    return None
