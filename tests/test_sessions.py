"""Sessions: password changes end every token, logout revokes one, and password guessing is throttled."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.management.commands import changepassword
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken as StockRefreshToken

from burki import throttling
from burki.checks import check_login_rates, check_shared_cache
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
PASSWORD_URL = "/api/v1/auth/password"


def login(username: str, password: str = PASSWORD, **meta: Any) -> Any:
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json", **meta)


def tokens_for(user: Any) -> dict[str, str]:
    response = login(user.username)
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str) -> Any:
    return APIClient().post(REFRESH_URL, {"refresh": token}, format="json")


def calls_with(access: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/calls")


def change_password(access: str, current: str = PASSWORD, new: str = NEW_PASSWORD, **meta: Any) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post(PASSWORD_URL, {"current_password": current, "new_password": new}, format="json", **meta)


@pytest.fixture
def member() -> Any:
    return MembershipFactory().user


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames whose password was actually checked, in order."""
    checked: list[str] = []
    original = AbstractBaseUser.check_password

    def spy(self: AbstractBaseUser, raw_password: str | None) -> bool:
        checked.append(self.get_username())
        return original(self, raw_password)

    monkeypatch.setattr(AbstractBaseUser, "check_password", spy)
    return checked


# --- a password change, by any route, ends every session ------------------------------------------------------


def test_changing_the_password_through_the_api_refuses_the_old_refresh_and_access_tokens(member: Any) -> None:
    old = tokens_for(member)

    response = change_password(old["access"])

    assert response.status_code == 200, response.content
    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_the_password_change_answers_with_a_working_token_pair(member: Any) -> None:
    old = tokens_for(member)

    new = change_password(old["access"]).json()

    assert calls_with(new["access"]).status_code == 200
    assert refresh(new["refresh"]).status_code == 200
    assert login(member.username, NEW_PASSWORD).status_code == 200
    assert login(member.username, PASSWORD).status_code == 401


def test_the_password_change_revokes_every_refresh_token_of_the_user(member: Any) -> None:
    sessions = [tokens_for(member) for _ in range(3)]
    someone_else = tokens_for(MembershipFactory().user)

    change_password(sessions[0]["access"])

    revoked = set(BlacklistedToken.objects.values_list("token__user_id", flat=True))
    assert revoked == {member.pk}
    assert BlacklistedToken.objects.count() == 3
    assert refresh(someone_else["refresh"]).status_code == 200


def test_a_wrong_current_password_changes_nothing(member: Any) -> None:
    old = tokens_for(member)

    response = change_password(old["access"], current="not my password")

    assert response.status_code == 400
    assert response.json()["errors"] == {"current_password": ["Wrong password."]}
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
    assert calls_with(old["access"]).status_code == 200


def test_the_new_password_must_pass_the_password_validators(member: Any) -> None:
    old = tokens_for(member)

    response = change_password(old["access"], new="password")

    assert response.status_code == 400
    assert "new_password" in response.json()["errors"]
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_an_api_key_cannot_change_a_password() -> None:
    response = change_password(ApiKeyFactory().raw_key)

    assert response.status_code == 403
    assert "API key" in response.json()["detail"]


def test_the_password_change_needs_a_token() -> None:
    response = APIClient().post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 401


def test_set_password_anywhere_refuses_the_old_tokens(member: Any) -> None:
    old = tokens_for(member)

    member.set_password(NEW_PASSWORD)
    member.save()

    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401


def test_setting_the_same_password_again_still_ends_the_sessions(member: Any) -> None:
    old = tokens_for(member)

    member.set_password(PASSWORD)
    member.save()

    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401


def test_the_admins_password_form_refuses_the_old_tokens(admin_client: Any, member: Any) -> None:
    old = tokens_for(member)

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401


def test_manage_py_changepassword_refuses_the_old_tokens(member: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tokens_for(member)
    # The command reads the password from the terminal (getpass): there is no terminal here.
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt="Password: ": NEW_PASSWORD)

    call_command("changepassword", member.username, stdout=None)

    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401


def test_a_deactivated_user_can_neither_refresh_nor_use_an_access_token(member: Any) -> None:
    old = tokens_for(member)

    member.is_active = False
    member.save()

    assert refresh(old["refresh"]).status_code == 401
    assert calls_with(old["access"]).status_code == 401


def test_a_token_without_the_password_claim_is_refused(member: Any) -> None:
    # What simplejwt issues by itself (and what Burki issued before): not bound to the password.
    stock = StockRefreshToken.for_user(member)

    assert refresh(str(stock)).status_code == 401
    assert calls_with(str(stock.access_token)).status_code == 401


# --- refresh and logout ---------------------------------------------------------------------------------------


def test_a_refresh_token_is_good_for_one_refresh(member: Any) -> None:
    first = tokens_for(member)

    second = refresh(first["refresh"])
    replayed = refresh(first["refresh"])

    assert second.status_code == 200
    assert calls_with(second.json()["access"]).status_code == 200
    assert replayed.status_code == 401
    assert refresh(second.json()["refresh"]).status_code == 200


def test_logout_revokes_the_refresh_token(member: Any) -> None:
    tokens = tokens_for(member)

    response = APIClient().post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    refused = refresh(tokens["refresh"])
    assert refused.status_code == 401
    assert isinstance(refused.json()["detail"], str)


def test_logout_ends_only_that_session(member: Any) -> None:
    phone, laptop = tokens_for(member), tokens_for(member)

    APIClient().post(LOGOUT_URL, {"refresh": phone["refresh"]}, format="json")

    assert refresh(laptop["refresh"]).status_code == 200


@pytest.mark.parametrize("token", ["not.a.jwt", "", "x" * 300])
def test_logout_with_an_invalid_refresh_token_is_a_json_error(token: str) -> None:
    response = APIClient().post(LOGOUT_URL, {"refresh": token}, format="json")

    assert response.status_code in (400, 401)
    assert isinstance(response.json()["detail"], str)


def test_logout_with_an_access_token_instead_of_a_refresh_token_is_401(member: Any) -> None:
    tokens = tokens_for(member)

    response = APIClient().post(LOGOUT_URL, {"refresh": tokens["access"]}, format="json")

    assert response.status_code == 401
    assert refresh(tokens["refresh"]).status_code == 200


def test_the_database_keeps_no_copy_of_a_refresh_token(member: Any) -> None:
    tokens = tokens_for(member)
    rotated = refresh(tokens["refresh"]).json()

    stored = list(OutstandingToken.objects.values_list("token", flat=True))

    assert stored == ["", ""]
    assert OutstandingToken.objects.filter(user=member).count() == 2
    assert rotated["refresh"] != tokens["refresh"]


def test_the_token_records_admin_shows_no_token_column(admin_client: Any, member: Any) -> None:
    tokens_for(member)
    record = OutstandingToken.objects.get()

    response = admin_client.get(reverse("admin:token_blacklist_outstandingtoken_change", args=[record.pk]))

    assert response.status_code == 200
    assert record.jti in response.content.decode()
    assert "Token:" not in response.content.decode()


# --- password guessing ----------------------------------------------------------------------------------------


def test_200_wrong_passwords_in_a_row_are_not_all_tried(member: Any, password_checks: list[str]) -> None:
    statuses = [login(member.username, f"guess-{n}").status_code for n in range(200)]

    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 190
    assert len(password_checks) == 10


def test_a_throttled_login_says_when_to_retry_in_the_json_envelope(member: Any) -> None:
    for n in range(10):
        login(member.username, f"guess-{n}")

    response = login(member.username, "guess-11")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert response.json() == {"detail": f"Too many failed logins: try again in {response['Retry-After']} seconds."}


def test_past_the_limit_even_the_right_password_is_refused_unchecked(member: Any, password_checks: list[str]) -> None:
    for n in range(10):
        login(member.username, f"guess-{n}")
    password_checks.clear()

    response = login(member.username, PASSWORD)

    assert response.status_code == 429
    assert password_checks == []


def test_the_right_password_works_again_once_the_window_has_passed(
    member: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = 1_800_000_000.0  # the start of an hour window
    monkeypatch.setattr(throttling, "now", lambda: start)
    for n in range(10):
        login(member.username, f"guess-{n}")
    monkeypatch.setattr(throttling, "now", lambda: start + 3599)
    still = login(member.username, PASSWORD)

    monkeypatch.setattr(throttling, "now", lambda: start + 3600)
    again = login(member.username, PASSWORD)

    assert still.status_code == 429
    assert still["Retry-After"] == "1"
    assert again.status_code == 200


def test_successful_logins_are_not_counted(member: Any) -> None:
    for _ in range(40):
        assert login(member.username).status_code == 200

    assert login(member.username, "typo").status_code == 401


def test_the_username_limit_holds_across_client_addresses(member: Any, password_checks: list[str]) -> None:
    statuses = [login(member.username, "guess", REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(200)]

    assert statuses.count(401) == 10
    assert statuses.count(429) == 190
    assert len(password_checks) == 10


def test_the_username_limit_ignores_case_and_surrounding_spaces(member: Any) -> None:
    variants = [member.username, member.username.upper(), f" {member.username}", f"{member.username.title()} "]

    statuses = [login(variants[n % 4], "guess").status_code for n in range(20)]

    assert statuses.count(401) == 10
    assert statuses.count(429) == 10


def test_the_address_limit_holds_across_usernames() -> None:
    statuses = [login(f"nobody-{n}", "guess", REMOTE_ADDR="203.0.113.7").status_code for n in range(200)]
    elsewhere = login("nobody-else", "guess", REMOTE_ADDR="203.0.113.8")

    assert statuses.count(401) == 30
    assert statuses.count(429) == 170
    assert elsewhere.status_code == 401


def test_a_forged_x_forwarded_for_does_not_change_the_client_address() -> None:
    statuses = [
        login(f"nobody-{n}", "guess", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(40)
    ]

    assert statuses.count(401) == 30
    assert statuses.count(429) == 10


def test_behind_a_proxy_the_address_the_proxy_saw_is_counted() -> None:
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": 1}):
        # The proxy (REMOTE_ADDR) appends the address it saw; whatever the client wrote before that is ignored.
        one_client = [
            login(f"a-{n}", "guess", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7")
            for n in range(31)
        ]
        another_client = login("b", "guess", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert [r.status_code for r in one_client] == [401] * 30 + [429]
    assert another_client.status_code == 401


def test_an_ipv6_block_counts_as_one_client() -> None:
    statuses = [login(f"nobody-{n}", "guess", REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}").status_code for n in range(31)]
    next_block = login("nobody", "guess", REMOTE_ADDR="2001:db8:1:3::1")

    assert statuses == [401] * 30 + [429]
    assert next_block.status_code == 401


def test_attempts_sent_at_once_cannot_exceed_the_limit() -> None:
    checks: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def wrong_password() -> bool:
        with lock:
            checks.append(1)
        time.sleep(0.01)  # the check is slow (a password hash): every attempt is in flight at once
        return False

    def attempt() -> None:
        try:
            throttling.password_check(client="203.0.113.9", username="victim", check=wrong_password)
        except throttling.LoginThrottled:
            with lock:
                refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(checks) == 10
    assert len(refused) == 90


@override_settings(LOGIN_RATE_PER_IP="", LOGIN_RATE_PER_USERNAME="3/minute")
def test_the_limits_come_from_the_settings(member: Any) -> None:
    statuses = [login(member.username, "guess").status_code for _ in range(5)]
    others = [login(f"nobody-{n}", "guess").status_code for n in range(40)]

    assert statuses == [401, 401, 401, 429, 429]
    assert set(others) == {401}


def test_the_admin_login_is_throttled_too(client: Any, password_checks: list[str]) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:login")

    wrong = [client.post(url, {"username": staff.username, "password": f"guess-{n}"}) for n in range(200)]
    right = client.post(url, {"username": staff.username, "password": PASSWORD})

    assert [r.status_code for r in wrong[:10]] == [200] * 10  # the form again, with its error
    assert {r.status_code for r in wrong[10:]} == {429}
    assert int(wrong[-1]["Retry-After"]) > 0
    assert wrong[-1].json()["detail"].startswith("Too many failed logins")
    assert right.status_code == 429
    assert len(password_checks) == 10


def test_the_admin_login_and_the_token_endpoint_share_one_count(client: Any) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    for n in range(5):
        login(staff.username, f"guess-{n}")
    for n in range(5):
        client.post(reverse("admin:login"), {"username": staff.username, "password": f"guess-{n}"})

    assert login(staff.username, PASSWORD).status_code == 429


def test_the_admin_login_still_works_below_the_limit(client: Any) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.post(reverse("admin:login"), {"username": staff.username, "password": "typo"})

    response = client.post(reverse("admin:login"), {"username": staff.username, "password": PASSWORD})

    assert response.status_code == 302


def test_guessing_the_current_password_with_a_stolen_access_token_is_throttled(
    member: Any, password_checks: list[str]
) -> None:
    access = tokens_for(member)["access"]
    password_checks.clear()

    statuses = [change_password(access, current=f"guess-{n}").status_code for n in range(50)]

    assert statuses.count(400) == 10
    assert statuses.count(429) == 40
    assert len(password_checks) == 10
    assert change_password(access).status_code == 429


def test_the_throttle_counts_in_redis_when_configured(member: Any) -> None:
    redis_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
        "KEY_PREFIX": f"burki-test-{uuid.uuid4().hex}",  # the server may be shared: touch nothing else
    }
    with override_settings(CACHES={"default": redis_cache}, LOGIN_RATE_PER_USERNAME="3/minute"):
        try:
            cache.get("ping")
        except redis.exceptions.ConnectionError:
            pytest.skip("no Redis at 127.0.0.1:6379")
        statuses = [login(member.username, "guess").status_code for _ in range(5)]
        in_redis = cache._cache.get_client().keys(f"{redis_cache['KEY_PREFIX']}:*")

    assert statuses == [401, 401, 401, 429, 429]
    assert len(in_redis) == 2  # one count per client address, one per username


# --- configuration --------------------------------------------------------------------------------------------


@override_settings(LOGIN_RATE_PER_USERNAME="10 per hour")
def test_a_malformed_login_rate_is_a_system_check_error() -> None:
    errors = check_login_rates(None)

    assert [error.id for error in errors] == ["burki.E004"]
    assert "LOGIN_RATE_PER_USERNAME" in errors[0].msg


def test_a_local_memory_cache_is_a_deployment_warning() -> None:
    assert [warning.id for warning in check_shared_cache(None)] == ["burki.W001"]

    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}):
        assert check_shared_cache(None) == []
