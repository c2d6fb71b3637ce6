from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers.timezone import time_zones_for_number

from campaigns.windows import InvalidTimezone, contact_zones, next_window_opening, window_open

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Window:
    window_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    window_start: time = time(9, 0)
    window_end: time = time(20, 0)


def test_contact_zones_prefer_the_explicit_zone() -> None:
    assert contact_zones("+14155550100", "Europe/Paris") == [PARIS]


def test_contact_zones_come_from_the_number_without_one() -> None:
    assert contact_zones("+14155550100") == [LOS_ANGELES]
    assert contact_zones("+33612345678", "") == [PARIS]


def test_contact_zones_of_a_toll_free_number_are_all_of_north_america() -> None:
    zones = contact_zones("+18005550100")
    assert {NEW_YORK, LOS_ANGELES, ZoneInfo("Pacific/Honolulu")} <= set(zones)


@pytest.mark.parametrize(
    "number", ["+14155550100", "+18005550100", "+33612345678", "+79001234567", "+442079460000", "+61491570006"]
)
def test_contact_zones_are_libphonenumbers(number: str) -> None:
    expected = sorted(set(time_zones_for_number(phonenumbers.parse(number))) - {"Etc/Unknown"})

    assert [zone.key for zone in contact_zones(number)] == expected


@pytest.mark.parametrize("name", ["Mars/Olympus", "localtime", "../../etc/passwd", "UTC\x00", "x" * 500])
def test_contact_zones_refuse_what_is_not_an_iana_name(name: str) -> None:
    with pytest.raises(InvalidTimezone):
        contact_zones("+14155550100", name)


def test_window_is_the_callees_local_time() -> None:
    # Monday 2026-11-30 14:30 UTC is 09:30 in New York, 06:30 in Los Angeles.
    at = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    assert window_open(Window(), [NEW_YORK], at)
    assert not window_open(Window(), [LOS_ANGELES], at)
    assert not window_open(Window(), [NEW_YORK, LOS_ANGELES], at)  # must hold in all of them
    assert not window_open(Window(), [], at)


def test_window_end_is_exclusive_and_days_count_locally() -> None:
    window = Window()
    # Friday 20:00 in New York is Saturday 01:00 UTC: closed (the end is exclusive).
    assert not window_open(window, [NEW_YORK], datetime(2026, 12, 5, 1, 0, tzinfo=UTC))
    assert window_open(window, [NEW_YORK], datetime(2026, 12, 5, 0, 59, tzinfo=UTC))
    # Saturday in Paris.
    assert not window_open(window, [PARIS], datetime(2026, 12, 5, 10, 0, tzinfo=UTC))


def test_window_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_open(Window(), [PARIS], datetime(2026, 12, 1, 10, 0))


def test_next_opening_is_now_inside_the_window() -> None:
    at = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert next_window_opening(Window(), [NEW_YORK], at) == at


def test_next_opening_is_when_the_last_zone_opens() -> None:
    # Monday 10:00 UTC: New York opens at 14:00 UTC, Los Angeles at 17:00 UTC; both hold from 17:00.
    after = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert next_window_opening(Window(), [NEW_YORK, LOS_ANGELES], after) == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def test_next_opening_skips_the_weekend() -> None:
    # Friday 21:00 in Paris -> Monday 09:00 Paris (08:00 UTC in winter).
    after = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    assert next_window_opening(Window(), [PARIS], after) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_next_opening_follows_daylight_saving() -> None:
    # Sunday 2027-03-14 is the US spring-forward day; Monday 09:00 in New York is then 13:00 UTC, not 14:00.
    after = datetime(2027, 3, 13, 12, 0, tzinfo=UTC)
    assert next_window_opening(Window(), [NEW_YORK], after) == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)


def test_next_opening_respects_the_end() -> None:
    after = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    before = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    assert next_window_opening(Window(), [PARIS], after, before) is None


def test_next_opening_is_none_when_zones_never_overlap() -> None:
    # Guam's 09:00 is Honolulu's 13:00 the day before: a two-hour window never holds in both.
    zones = [ZoneInfo("Pacific/Guam"), ZoneInfo("Pacific/Honolulu")]
    short = Window(window_start=time(9, 0), window_end=time(11, 0))
    assert next_window_opening(short, zones, datetime(2026, 12, 1, tzinfo=UTC)) is None
    # An 11-hour one does: Monday 13:00-20:00 in Honolulu is Tuesday 09:00-16:00 in Guam.
    assert next_window_opening(Window(), zones, datetime(2026, 11, 30, tzinfo=UTC)) == datetime(
        2026, 11, 30, 23, 0, tzinfo=UTC
    )
    assert next_window_opening(Window(), [], datetime(2026, 12, 1, tzinfo=UTC)) is None
    assert next_window_opening(Window(window_days=[]), [PARIS], datetime(2026, 12, 1, tzinfo=UTC)) is None


def test_next_opening_of_a_sunday_only_window() -> None:
    window = Window(window_days=[6], window_start=time(10, 0), window_end=time(12, 0))
    after = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday
    assert next_window_opening(window, [NEW_YORK], after) == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


def test_next_opening_at_the_end_of_the_calendar_is_none() -> None:
    assert next_window_opening(Window(), [NEW_YORK], datetime(9999, 12, 31, 12, tzinfo=UTC)) is None
