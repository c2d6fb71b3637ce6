"""What a fake provider answers when asked for an account's phone numbers: each provider's listing, page by page."""

from __future__ import annotations

from typing import Any

from tests.fakes.server import FakeProvider


def twilio_numbers_path(account_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json"


def twilio_page(account_sid: str, numbers: list[str], *, next_page_uri: str | None = None) -> dict[str, Any]:
    return {
        "incoming_phone_numbers": [
            {"sid": f"PN{index:032x}", "account_sid": account_sid, "phone_number": number, "friendly_name": number}
            for index, number in enumerate(numbers, start=1)
        ],
        "next_page_uri": next_page_uri,
        "page": 0,
        "page_size": 1000,
    }


def twilio_holds(fake: FakeProvider, account_sid: str, *numbers: str) -> None:
    """Twilio lists `numbers` for the account, whatever the filter (its PhoneNumber filter matches partially)."""
    fake.on("GET", twilio_numbers_path(account_sid), json=twilio_page(account_sid, list(numbers)))


def telnyx_page(numbers: list[str], *, page: int = 1, total_pages: int = 1, status: str = "active") -> dict[str, Any]:
    return {
        "data": [
            {
                "id": f"12933842610757{page:02d}{index:03d}",
                "record_type": "phone_number",
                "phone_number": number,
                "status": status,
                "connection_id": "1684641123236054244",
            }
            for index, number in enumerate(numbers, start=1)
        ],
        "meta": {"page_number": page, "page_size": 250, "total_pages": total_pages, "total_results": len(numbers)},
    }


def telnyx_holds(fake: FakeProvider, *numbers: str, status: str = "active") -> None:
    fake.on("GET", "/v2/phone_numbers", json=telnyx_page(list(numbers), status=status))


def vonage_page(numbers: list[str], *, count: int | None = None) -> dict[str, Any]:
    """Vonage writes numbers without the +, and leaves "numbers" out altogether when there are none."""
    page: dict[str, Any] = {"count": len(numbers) if count is None else count}
    if numbers:
        page["numbers"] = [
            {"country": "US", "msisdn": number.lstrip("+"), "type": "mobile-lvn", "features": ["VOICE", "SMS"]}
            for number in numbers
        ]
    return page


def vonage_holds(fake: FakeProvider, *numbers: str) -> None:
    fake.on("GET", "/account/numbers", json=vonage_page(list(numbers)))
