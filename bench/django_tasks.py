"""The benchmark's in-process Django work, run as `python -m bench.django_tasks <task>` with the bench's environment.

- seed: an organization, an API key, an assistant, a Twilio account and number (and a sandbox pair).
- calls: placed-looking calls (queued, with a provider call sid) for the webhook loads, created in bulk.
- queries: SQL queries per initiate and per webhook, counted with CaptureQueriesContext through the whole Django
  stack (middleware, DRF, views) with django.test.Client, on the bench database and not inside any test
  transaction, so the counts are what production runs (no SAVEPOINTs added).
- stages: where an initiate's time goes, stage by stage, timed in process (its own organization and number).
- stats: what the database holds after the run.
- webhook: a webhook endpoint of the bench organization (phase D's receiver); prints its secret.
- webhook_stats: the events and deliveries the database holds (phase D).

Every task prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

PROVIDER_NUMBERS = {"twilio": "+14155550100", "sandbox": "+14155550101"}
TO_NUMBER = "+14155550199"
INITIATE_BODY = {
    "from_phone_number": PROVIDER_NUMBERS["twilio"],
    "to_phone_number": TO_NUMBER,
    "welcome_message": "Hi {{ name }}, this is Burki calling about {{ topic | default('your account') }}.",
    "agenda": "Remind {{ name }} of the appointment on {{ appointment.date }}.",
    "variables": {"name": "Ann", "appointment": {"date": "Tuesday"}},
}
# Burki's account at the fake Twilio (the bare-SDK load uses another sid, so the fake counts them apart).
TWILIO_ACCOUNT_SID = "AC" + "b0" * 16
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token-0123456789abcdef"
MAX_CONCURRENT_CALLS = 1_000_000


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "burki.settings")
    import django

    django.setup()


def seed() -> dict[str, Any]:
    from assistants.models import Assistant, PhoneNumber
    from burki.models import Organization
    from burki.services import api_key_create
    from telephony.models import TelephonyAccount

    # The fake Twilio never reports a call's end, so every call stays live: the organization's limit is set out of
    # reach. Twilio's default of 1 call per second per account would turn the load into a 429 test: unlimited (0).
    organization = Organization.objects.create(
        name="Bench", slug="bench", max_concurrent_calls=MAX_CONCURRENT_CALLS, block_premium_destinations=True
    )
    _, raw_key = api_key_create(organization=organization, name="bench")
    assistant = Assistant.objects.create(
        organization=organization,
        name="Bench assistant",
        welcome_message="Hello from Burki.",
        llm_settings={"model": "gpt-4o-mini", "temperature": 0.3},
    )
    accounts: dict[str, Any] = {}
    for provider, credentials in (
        ("twilio", {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN}),
        ("sandbox", {}),
    ):
        account = TelephonyAccount.objects.create(
            organization=organization,
            provider=provider,
            name=f"Bench {provider}",
            credentials=credentials,
            calls_per_second=0,
        )
        PhoneNumber.objects.create(
            organization=organization,
            phone_number=PROVIDER_NUMBERS[provider],
            telephony_account=account,
            assistant=assistant,
        )
        accounts[provider] = {"id": account.pk, "number": PROVIDER_NUMBERS[provider], **credentials}
    return {
        "api_key": raw_key,
        "organization_id": organization.pk,
        "max_concurrent_calls": MAX_CONCURRENT_CALLS,
        "calls_per_second": 0,
        "accounts": accounts,
    }


def make_calls(provider: str, count: int) -> dict[str, Any]:
    """Calls as a successful dial leaves them (queued, with the provider's sid), for the webhook loads."""
    import secrets

    from django.utils import timezone

    from assistants.models import PhoneNumber
    from calls.models import Call

    number = PhoneNumber.objects.select_related("telephony_account", "assistant").get(
        phone_number=PROVIDER_NUMBERS[provider]
    )
    prefix = "CA" if provider == "twilio" else "SB"
    now = timezone.now()
    calls = [
        Call(
            organization_id=number.organization_id,
            assistant=number.assistant,
            phone_number=number,
            telephony_account=number.telephony_account,
            from_number=number.phone_number,
            to_number=TO_NUMBER,
            provider=provider,
            call_sid=prefix + secrets.token_hex(16),
            status="queued",
            welcome_message="Hi Ann, this is Burki calling about your account.",
            agenda="Remind Ann of the appointment on Tuesday.",
            variables={"name": "Ann", "appointment": {"date": "Tuesday"}},
            started_at=now,
        )
        for _ in range(count)
    ]
    Call.objects.bulk_create(calls, batch_size=1000)
    return {
        "calls": [
            {"token": c.token, "call_sid": c.call_sid, "from_number": c.from_number, "to_number": c.to_number}
            for c in calls
        ]
    }


# What Django logs for transaction control (psycopg sends each as a round trip of its own): not SQL queries.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def is_transaction_control(sql: str) -> bool:
    return sql.upper().startswith(TRANSACTION_CONTROL)


def _sql(captured: Any) -> list[str]:
    return [q["sql"][:300] for q in captured.captured_queries]


def _count(sql: list[str]) -> tuple[int, int]:
    """(SQL statements, round trips): statements leave out BEGIN/COMMIT/SAVEPOINT, round trips count everything."""
    return sum(not is_transaction_control(q) for q in sql), len(sql)


def count_queries(*, api_key: str, host: str, provider: str, rounds: int) -> dict[str, Any]:
    """Run initiates and webhooks in process, one CaptureQueriesContext each."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench import webhook_requests as wr
    from calls.models import Call

    client = Client(HTTP_HOST=host)
    base_url = f"http://{host}"

    def initiate(body: dict[str, Any]) -> tuple[tuple[int, int], list[str], Call]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/calls/initiate",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {api_key}",
            )
        if response.status_code != 200:
            raise SystemExit(f"initiate answered {response.status_code}: {response.content[:500]!r}")
        return _count(_sql(captured)), _sql(captured), Call.objects.get(pk=response.json()["call_id"])

    def send(request: wr.HttpRequest) -> tuple[tuple[int, int], list[str]]:
        with CaptureQueriesContext(connection) as captured:
            response = client.generic(
                request.method,
                request.path,
                data=request.body,
                content_type=request.headers["Content-Type"],
                **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in request.headers.items() if k != "Content-Type"},
            )
        if response.status_code >= 300:
            raise SystemExit(f"{request.path} answered {response.status_code}: {response.content[:500]!r}")
        return _count(_sql(captured)), _sql(captured)

    # Initiates are counted on the Twilio number (the load's); the webhooks run on calls of `provider`.
    initiate_counts: list[tuple[int, int]] = []
    initiate_sql: list[str] = []
    calls: list[Call] = []
    for _ in range(rounds):
        n, sql, call = initiate(INITIATE_BODY)
        initiate_counts.append(n)
        initiate_sql = sql
        calls.append(call)
    if provider != "twilio":
        body = {**INITIATE_BODY, "from_phone_number": PROVIDER_NUMBERS[provider]}
        calls = [initiate(body)[2] for _ in range(rounds)]

    from telephony.backends.base import ProviderAccount
    from telephony.backends.sandbox import sign as sandbox_sign

    answer_counts: list[tuple[int, int]] = []
    status_counts: list[list[tuple[int, int]]] = []
    answer_sql: list[str] = []
    status_sql: list[list[str]] = []
    for call in calls:
        target = wr.WebhookCall(call.token, call.call_sid or "", call.from_number, call.to_number)
        events = wr.TWILIO_EVENTS if provider == "twilio" else wr.SANDBOX_EVENTS
        if provider == "twilio":
            creds = {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN}
            answer_request = wr.twilio_answer_request(base_url, target, **creds)
            status_requests = [
                wr.twilio_status_request(base_url, target, sequence=i, **creds) for i in range(len(events))
            ]
        else:
            account = ProviderAccount(id=call.telephony_account_id or 0, provider="sandbox", credentials={})

            def sign(*, url: str, timestamp: str, body: bytes, _account: ProviderAccount = account) -> str:
                return sandbox_sign(_account, url=url, timestamp=timestamp, body=body)

            answer_request = wr.sandbox_answer_request(base_url, target, sign=sign)
            status_requests = [wr.sandbox_status_request(base_url, target, sign=sign, sequence=i) for i in range(4)]
        # The order a real call produces: initiated, ringing, the answer webhook, in-progress, completed.
        counts: list[tuple[int, int]] = []
        sqls: list[str | list[str]] = []
        for i, request in enumerate(status_requests):
            if i == 2:
                n, answer_sql = send(answer_request)
                answer_counts.append(n)
            n, sql = send(request)
            counts.append(n)
            sqls.append(sql)
        # A provider's redelivery of an event already recorded (the duplicate path).
        n, sql = send(status_requests[-1])
        counts.append(n)
        status_counts.append(counts)
        status_sql = [*sqls, sql]  # type: ignore[list-item]
        call.refresh_from_db()
        if call.status != "completed":
            raise SystemExit(f"call {call.pk} ended {call.status} after its webhooks, not completed")

    names = [*events, f"{events[-1]} (duplicate)"]
    per_event = {name: max(c[i][0] for c in status_counts) for i, name in enumerate(names)}
    per_event_round_trips = {name: max(c[i][1] for c in status_counts) for i, name in enumerate(names)}
    statements = sorted(n for n, _ in initiate_counts)
    return {
        "provider": provider,
        "rounds": rounds,
        # SQL statements (no BEGIN/COMMIT) per request; "round_trips" count those too.
        "initiate": [n for n, _ in initiate_counts],
        "initiate_steady": statements[len(statements) // 2],
        "initiate_max": statements[-1],
        "initiate_round_trips_max": max(r for _, r in initiate_counts),
        "answer": [n for n, _ in answer_counts],
        "answer_max": max(n for n, _ in answer_counts),
        "answer_round_trips_max": max(r for _, r in answer_counts),
        "status_per_event_max": per_event,
        "status_max": max(per_event.values()),
        "status_round_trips_per_event_max": per_event_round_trips,
        "status_round_trips_max": max(per_event_round_trips.values()),
        "sql": {"initiate": initiate_sql, "answer": answer_sql, "status": status_sql},
    }


# Where an initiate's time goes, stage by stage (in order; a stage's time excludes the stages nested in it).
STAGES = {
    "auth": "authentication (API key and organization)",
    "input": "request body (input serializer)",
    "lookup": "number, assistant and account",
    "checks": "checks (E.164, destination policy, templates)",
    "place": "the call's row: lock, live calls, rate, INSERT, COMMIT",
    "dial": "provider dial (twilio SDK, HTTP to the fake)",
    "record": "record the dial (UPDATE, log line)",
    "rest": "the rest: WSGI, middleware, DRF, response",
}
PROFILE_NUMBER = "+14155550102"


def profile_stages(*, host: str, rounds: int) -> dict[str, Any]:
    """Time each stage of POST /calls/initiate in process, through the WSGI handler as gunicorn calls it.

    Its own organization, key, account and number (the fake's Twilio credentials), so its live-call count starts at
    zero as the sequential phase's does. Each stage is timed by wrapping the function that does it; CPU is this
    thread's, wall includes waiting for PostgreSQL and the fake.
    """
    import io
    import time
    from collections import defaultdict
    from collections.abc import Callable

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    import burki.authentication
    import calls.services
    import calls.views
    from assistants.models import Assistant, PhoneNumber
    from burki.models import Organization
    from burki.services import api_key_create
    from calls.models import Call
    from telephony.backends.twilio import TwilioBackend
    from telephony.models import TelephonyAccount

    organization = Organization.objects.create(
        name="Bench profile", slug="bench-profile", max_concurrent_calls=MAX_CONCURRENT_CALLS
    )
    _, raw_key = api_key_create(organization=organization, name="profile")
    PhoneNumber.objects.create(
        organization=organization,
        phone_number=PROFILE_NUMBER,
        telephony_account=TelephonyAccount.objects.create(
            organization=organization,
            provider="twilio",
            name="Bench profile twilio",
            credentials={"account_sid": TWILIO_ACCOUNT_SID, "auth_token": TWILIO_AUTH_TOKEN},
            calls_per_second=0,
        ),
        assistant=Assistant.objects.create(
            organization=organization, name="Profile assistant", welcome_message="Hello from Burki."
        ),
    )

    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    stack: list[tuple[float, float]] = []  # per open stage: (cpu, wall) of the stages nested in it so far

    def timed(stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            c0, w0 = time.thread_time(), time.perf_counter()
            stack.append((0.0, 0.0))
            try:
                return func(*args, **kwargs)
            finally:
                c, w = time.thread_time() - c0, time.perf_counter() - w0
                nested_c, nested_w = stack.pop()
                cpu[stage] += c - nested_c
                wall[stage] += w - nested_w
                if stack:
                    outer_c, outer_w = stack[-1]
                    stack[-1] = (outer_c + c, outer_w + w)

        return wrapper

    patches: list[tuple[Any, str, str]] = [
        (burki.authentication.BearerAuthentication, "_api_key", "auth"),
        (calls.views, "_initiate_input", "input"),
        (calls.services, "call_plan", "checks"),
        (calls.services, "phone_number_get_active", "lookup"),
        # One round trip on PostgreSQL (calls.placement); the ORM path's lock, count, INSERT and COMMIT otherwise.
        (calls.services, "call_insert_within_limits", "place"),
        (calls.services, "_check_capacity", "place"),
        (Call, "save", "place"),
        (connection, "commit", "place"),
        (calls.services, "_dial", "record"),
        (TwilioBackend, "dial", "dial"),
    ]
    for target, name, stage in patches:
        setattr(target, name, timed(stage, getattr(target, name)))

    handler = WSGIHandler()
    body = json.dumps({**INITIATE_BODY, "from_phone_number": PROFILE_NUMBER}).encode()
    server, _, port = host.partition(":")

    def initiate() -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/calls/initiate",
            "QUERY_STRING": "",
            "SERVER_NAME": server,
            "SERVER_PORT": port or "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": host,
            "HTTP_AUTHORIZATION": f"Bearer {raw_key}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        statuses: list[str] = []
        content = b"".join(handler(environ, lambda status, headers, *_: statuses.append(status)))
        if not statuses or not statuses[0].startswith("200"):
            raise SystemExit(f"initiate answered {statuses}: {content[:500]!r}")

    for _ in range(30):  # warm-up: imports, the SDK client, the connection
        initiate()
    cpu.clear()
    wall.clear()
    c0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(rounds):
        initiate()
    total_cpu, total_wall = time.thread_time() - c0, time.perf_counter() - w0
    cpu["rest"] = total_cpu - sum(cpu.values())
    wall["rest"] = total_wall - sum(wall.values())
    per_request = 1000 / rounds
    return {
        "rounds": rounds,
        "total": {"cpu_ms": round(total_cpu * per_request, 3), "wall_ms": round(total_wall * per_request, 3)},
        "stages": [
            {
                "stage": label,
                "cpu_ms": round(cpu[key] * per_request, 3),
                "wall_ms": round(wall[key] * per_request, 3),
            }
            for key, label in STAGES.items()
        ],
    }


def stats() -> dict[str, Any]:
    from calls.models import Call, CallEvent
    from telephony.status import LIVE_STATUSES

    return {
        "calls": Call.objects.count(),
        "live_calls": Call.objects.filter(status__in=LIVE_STATUSES).count(),
        "call_events": CallEvent.objects.count(),
    }


def webhook(url: str) -> dict[str, Any]:
    from burki.models import Organization
    from webhooks.services import webhook_endpoint_create

    endpoint, secret = webhook_endpoint_create(organization=Organization.objects.get(slug="bench"), url=url)
    return {"endpoint_id": endpoint.pk, "secret": secret}


def webhook_stats() -> dict[str, Any]:
    from django.db.models import Count

    from webhooks.models import Delivery, DeliveryAttempt, Event

    return {
        "events": Event.objects.count(),
        "deliveries": dict(Delivery.objects.values_list("state").annotate(n=Count("id")).order_by()),
        "attempts": DeliveryAttempt.objects.count(),
        "failed_attempts": DeliveryAttempt.objects.exclude(status_code__gte=200, status_code__lt=300).count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="task", required=True)
    sub.add_parser("seed")
    calls = sub.add_parser("calls")
    calls.add_argument("--provider", choices=sorted(PROVIDER_NUMBERS), required=True)
    calls.add_argument("--count", type=int, required=True)
    queries = sub.add_parser("queries")
    queries.add_argument("--api-key", required=True)
    queries.add_argument("--host", required=True, help="host:port the webhooks are signed for (PUBLIC_BASE_URL's)")
    queries.add_argument("--provider", choices=sorted(PROVIDER_NUMBERS), required=True)
    queries.add_argument("--rounds", type=int, default=5)
    stages = sub.add_parser("stages")
    stages.add_argument("--host", required=True, help="host:port of PUBLIC_BASE_URL")
    stages.add_argument("--rounds", type=int, default=300)
    sub.add_parser("stats")
    hook = sub.add_parser("webhook")
    hook.add_argument("--url", required=True)
    sub.add_parser("webhook_stats")
    args = parser.parse_args(argv)
    _setup()
    if args.task == "seed":
        result = seed()
    elif args.task == "calls":
        result = make_calls(args.provider, args.count)
    elif args.task == "queries":
        result = count_queries(api_key=args.api_key, host=args.host, provider=args.provider, rounds=args.rounds)
    elif args.task == "stages":
        result = profile_stages(host=args.host, rounds=args.rounds)
    elif args.task == "webhook":
        result = webhook(args.url)
    elif args.task == "webhook_stats":
        result = webhook_stats()
    else:
        result = stats()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
