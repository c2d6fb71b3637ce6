"""The admin says Burki, lists numbers with telephony, offers a test call, hang up and simulate, and shows today's
calls on its index page, each organization's admins seeing only their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.models import Call
from calls.selectors import calls_today
from telephony.backends import sandbox
from tests.factories import (
    CallFactory,
    MembershipFactory,
    OrganizationFactory,
    TelephonyAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)


def staff(
    *, permissions: tuple[str, ...] = ("view_call", "change_call", "add_call", "view_phonenumber"), **roles: Any
) -> Client:
    """A logged-in staff user (not a superuser) with these permissions of the calls and assistants apps."""
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    for role, organization in roles.items():
        MembershipFactory(user=user, organization=organization, role=role)
    client = Client()
    client.force_login(user)
    return client


def call_page(call: Call) -> str:
    return reverse("admin:calls_call_change", args=[call.pk])


def dashboard(response: Any) -> dict[str, str]:
    match = re.search(r'<div class="module burki-today"([^>]*)>', response.content.decode())
    assert match, "no dashboard on the page"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', match.group(1)))


def at(call: Call, when: datetime, **fields: Any) -> Call:
    Call.objects.filter(pk=call.pk).update(created_at=when, **fields)
    return call


# --- the name, the menus ---------------------------------------------------------------------------------------


def test_the_admin_says_burki_not_django(admin_client: Any) -> None:
    text = admin_client.get(reverse("admin:index")).content.decode()

    assert "Burki administration" in text
    assert "<title>Dashboard | Burki admin</title>" in text
    assert "Django administration" not in text


def test_phone_numbers_are_listed_with_telephony_and_keep_their_urls(admin_client: Any) -> None:
    response = admin_client.get(reverse("admin:index"))
    apps = {app["app_label"]: [model["object_name"] for model in app["models"]] for app in response.context["app_list"]}

    assert apps["telephony"] == ["PhoneNumber", "TelephonyAccount"]
    assert "PhoneNumber" not in apps["assistants"]
    telephony_page = admin_client.get(reverse("admin:app_list", args=["telephony"])).content.decode()
    assistants_page = admin_client.get(reverse("admin:app_list", args=["assistants"])).content.decode()
    assert reverse("admin:assistants_phonenumber_changelist") == "/admin/assistants/phonenumber/"
    assert "/admin/assistants/phonenumber/" in telephony_page
    assert "/admin/assistants/phonenumber/" not in assistants_page


# --- the test call ---------------------------------------------------------------------------------------------


def test_the_test_call_is_a_button_on_the_numbers_page_and_the_second_column_of_the_list(
    admin_client: Any, number: Any
) -> None:
    url = reverse("admin:calls_call_place_test_call", args=[number.pk])

    page = admin_client.get(reverse("admin:assistants_phonenumber_change", args=[number.pk])).content.decode()
    listing = admin_client.get(reverse("admin:assistants_phonenumber_changelist"))

    tools = page[page.index('class="object-tools"') :]
    assert f'<a href="{url}" class="burki-test-call">Place test call</a>' in tools[: tools.index("</ul>")]
    header = [str(column["text"]) for column in listing.context["result_headers"]]
    assert [name.lower() for name in header[1:4]] == [
        "phone number",
        "test",
        "friendly name",
    ]  # after the checkbox, the number's own
    assert f'href="{url}"' in listing.content.decode()


def test_the_test_call_button_is_not_offered_without_permission_to_place_calls(organization: Any, number: Any) -> None:
    client = staff(permissions=("view_phonenumber", "change_phonenumber"), admin=organization)

    page = client.get(reverse("admin:assistants_phonenumber_change", args=[number.pk]))

    assert page.status_code == 200
    assert "Place test call" not in page.content.decode()


# --- hang up and simulate --------------------------------------------------------------------------------------


@pytest.fixture
def account(organization: Any) -> Any:
    return TelephonyAccountFactory(organization=organization)


def test_a_live_calls_page_offers_hang_up_and_simulate_and_an_ended_ones_neither(
    admin_client: Any, organization: Any, account: Any
) -> None:
    live = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBlive")
    unnamed = CallFactory(organization=organization, telephony_account=account, status="unknown", call_sid=None)
    over = CallFactory(organization=organization, telephony_account=account, status="completed", call_sid="SBover")
    twilio = CallFactory(organization=organization, provider="twilio", status="ringing", call_sid="CAlive")

    live_page = admin_client.get(call_page(live)).content.decode()
    unnamed_page = admin_client.get(call_page(unnamed)).content.decode()
    over_page = admin_client.get(call_page(over)).content.decode()
    twilio_page = admin_client.get(call_page(twilio)).content.decode()

    assert reverse("admin:calls_call_hang_up", args=[live.pk]) in live_page
    assert reverse("admin:calls_call_simulate", args=[live.pk]) in live_page
    assert 'name="csrfmiddlewaretoken"' in live_page
    assert "Cancel call" in unnamed_page
    assert reverse("admin:calls_call_simulate", args=[unnamed.pk]) not in unnamed_page
    assert reverse("admin:calls_call_hang_up", args=[over.pk]) not in over_page
    assert reverse("admin:calls_call_simulate", args=[over.pk]) not in over_page
    assert reverse("admin:calls_call_hang_up", args=[twilio.pk]) in twilio_page
    assert reverse("admin:calls_call_simulate", args=[twilio.pk]) not in twilio_page


@pytest.mark.parametrize(("status", "final"), [("ringing", "canceled"), ("in-progress", "completed")])
def test_hang_up_ends_a_live_call_through_its_provider(
    admin_client: Any, organization: Any, account: Any, status: str, final: str
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status=status, call_sid="SBlive")

    response = admin_client.post(reverse("admin:calls_call_hang_up", args=[call.pk]), follow=True)

    assert response.redirect_chain[-1][0] == call_page(call)
    assert sandbox.hangups == ["SBlive"]
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (final, "canceled")
    assert f"Call {call.pk} is {final}." in [str(m) for m in response.context["messages"]]


def test_hang_up_cancels_a_call_the_provider_never_named(admin_client: Any, organization: Any, account: Any) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="unknown", call_sid=None)

    admin_client.post(reverse("admin:calls_call_hang_up", args=[call.pk]))

    call.refresh_from_db()
    assert call.status == "canceled"
    assert sandbox.hangups == []


def test_hang_up_of_a_call_already_over_says_so_and_changes_nothing(
    admin_client: Any, organization: Any, account: Any
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="busy", call_sid="SBdone")

    response = admin_client.post(reverse("admin:calls_call_hang_up", args=[call.pk]), follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Call {call.pk} was not hung up: Call {call.pk} is already over (status busy): there is "
                        "nothing to cancel."]  # fmt: skip
    call.refresh_from_db()
    assert call.status == "busy"
    assert sandbox.hangups == []


def test_hang_up_takes_only_a_post_with_its_csrf_token(admin_user: Any, organization: Any, account: Any) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBlive")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("admin:calls_call_hang_up", args=[call.pk])

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    call.refresh_from_db()
    assert call.status == "ringing"
    assert sandbox.hangups == []


def test_hang_up_and_simulate_are_scoped_to_the_administered_organizations(organization: Any, account: Any) -> None:
    theirs = OrganizationFactory()
    their_call = CallFactory(
        organization=theirs, telephony_account=TelephonyAccountFactory(organization=theirs), status="ringing",
        call_sid="SBtheirs",
    )  # fmt: skip
    mine = CallFactory(organization=organization, telephony_account=account, status="ringing", call_sid="SBmine")
    client = staff(admin=organization)
    viewer = staff(permissions=("view_call",), admin=organization)

    for name in ("admin:calls_call_hang_up", "admin:calls_call_simulate"):
        assert client.post(reverse(name, args=[their_call.pk])).status_code == 404
        assert viewer.post(reverse(name, args=[mine.pk])).status_code == 403
    assert reverse("admin:calls_call_hang_up", args=[mine.pk]) not in viewer.get(call_page(mine)).content.decode()
    assert client.post(reverse("admin:calls_call_hang_up", args=[mine.pk])).status_code == 302
    their_call.refresh_from_db()
    assert their_call.status == "ringing"
    assert sandbox.hangups == ["SBmine"]


def test_simulate_queues_a_live_sandbox_calls_script_on_the_worker(
    admin_client: Any,
    organization: Any,
    account: Any,
    task_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    call = CallFactory(organization=organization, telephony_account=account, status="queued", call_sid="SBlive")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:calls_call_simulate", args=[call.pk]), follow=True)

    [queued] = task_queue.take()
    assert (queued.name, queued.args) == ("calls.sandbox_play", (call.pk, 0))
    assert "queued" in str(next(iter(response.context["messages"])))


def test_simulate_refuses_a_call_that_is_not_a_live_sandbox_call(
    admin_client: Any, organization: Any, account: Any, task_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    over = CallFactory(organization=organization, telephony_account=account, status="completed", call_sid="SBdone")
    twilio = CallFactory(organization=organization, provider="twilio", status="ringing", call_sid="CAlive")

    with django_capture_on_commit_callbacks(execute=True):
        refused = [
            admin_client.post(reverse("admin:calls_call_simulate", args=[c.pk]), follow=True) for c in (over, twilio)
        ]

    assert task_queue.take() == []
    assert [str(next(iter(r.context["messages"]))) for r in refused] == [
        f"Call {over.pk} cannot be simulated: Call {over.pk} is already over (status completed).",
        f"Call {twilio.pk} cannot be simulated: Only a placed sandbox call can be simulated.",
    ]


# --- today's calls ---------------------------------------------------------------------------------------------


@pytest.fixture
def day(organization: Any) -> dict[str, Any]:
    """Calls at known times around NOW (10:30 UTC); the window runs from 11:00 the day before."""
    other = OrganizationFactory()
    hour = timedelta(hours=1)
    return {
        "other": other,
        "calls": [
            at(CallFactory(organization=organization, status="ringing"), NOW - timedelta(minutes=25)),
            at(CallFactory(organization=organization, status="completed"), NOW - hour, answered_at=NOW - hour),
            at(CallFactory(organization=organization, status="busy"), NOW - timedelta(minutes=50)),
            at(CallFactory(organization=organization, status="completed"), NOW - 2 * hour, answered_at=NOW),
            at(CallFactory(organization=organization, status="no-answer"), NOW - 2 * hour),
            at(CallFactory(organization=organization, status="failed"), datetime(2026, 11, 29, 11, 0, tzinfo=UTC)),
            # Before the window, live or not: not today's.
            at(CallFactory(organization=organization, status="failed"), datetime(2026, 11, 29, 10, 59, tzinfo=UTC)),
            at(CallFactory(organization=organization, status="unknown"), NOW - 3 * 24 * hour),
            # Another organization's, in the window.
            at(CallFactory(organization=other, status="in-progress"), NOW - hour),
            at(CallFactory(organization=other, status="completed"), NOW - hour, answered_at=NOW),
        ],
    }


def test_todays_calls_are_counted_per_hour_by_outcome(organization: Any, day: dict[str, Any]) -> None:
    today = calls_today(organization_ids=[organization.pk], now=NOW)

    assert [hour.start for hour in today.hours][::23] == [
        datetime(2026, 11, 29, 11, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
    ]
    counts = {hour.start.hour: {k: v for k, v in hour.outcomes.items() if v} for hour in today.hours if hour.total}
    assert counts == {
        11: {"failed": 1},
        8: {"completed": 1, "no-answer": 1},
        9: {"completed": 1, "busy": 1},
        10: {"other": 1},
    }
    assert (today.placed, today.live, today.ended, today.answered) == (6, 1, 5, 2)
    assert today.answer_rate == pytest.approx(0.4)


def test_the_operator_counts_every_organization(day: dict[str, Any]) -> None:
    today = calls_today(organization_ids=None, now=NOW)

    assert (today.placed, today.live, today.ended, today.answered) == (8, 2, 6, 3)


def test_no_ended_call_means_no_answer_rate_rather_than_zero(organization: Any) -> None:
    at(CallFactory(organization=organization, status="ringing"), NOW)

    assert calls_today(organization_ids=[organization.pk], now=NOW).answer_rate is None


def test_todays_calls_are_one_query_bounded_by_the_window(
    organization: Any, day: dict[str, Any], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1) as captured:
        calls_today(organization_ids=[organization.pk], now=NOW)

    sql = captured.captured_queries[0]["sql"]
    assert '"created_at" >=' in sql
    assert '"organization_id" IN' in sql


def test_the_index_page_shows_today_for_the_administered_organizations_only(
    admin_client: Any, organization: Any
) -> None:
    other = OrganizationFactory()
    now = timezone.now()
    for status in ("completed", "ringing", "busy"):
        at(CallFactory(organization=organization, status=status), now - timedelta(minutes=5))
    Call.objects.filter(status="completed").update(answered_at=now)
    at(CallFactory(organization=other, status="in-progress"), now - timedelta(minutes=5))

    mine = dashboard(staff(admin=organization).get(reverse("admin:index")))
    everyone = dashboard(admin_client.get(reverse("admin:index")))

    assert mine == {"placed": "3", "live": "1", "ended": "2", "answered": "1", "answer-rate": "50"}
    assert everyone == {"placed": "4", "live": "2", "ended": "2", "answered": "1", "answer-rate": "50"}


def test_the_chart_draws_a_bar_segment_per_outcome_of_each_hour(admin_client: Any, organization: Any) -> None:
    now = timezone.now()
    for status in ("completed", "completed", "failed"):
        at(CallFactory(organization=organization, status=status), now)

    text = admin_client.get(reverse("admin:index")).content.decode()

    assert re.search(r"<title>\d\d:00 UTC: 3 calls, 2 completed, 1 failed</title>", text)
    assert "http" not in text[text.index("<svg") : text.index("</svg>")].replace("http://www.w3.org", "")


def test_staff_without_an_organization_or_the_calls_permission_see_no_dashboard(organization: Any) -> None:
    CallFactory(organization=organization)

    nobody = staff()
    member = staff(member=organization)
    no_permission = staff(permissions=(), admin=organization)

    for client in (nobody, member, no_permission):
        assert "burki-today" not in client.get(reverse("admin:index")).content.decode()
