"""`make bench-campaigns` (python -m bench.campaigns): the campaigns' dispatcher at its rate, with a worker killed.

A campaign of 10,000 contacts on a sandbox account limited to 30 calls per second, dispatched by 2 Celery workers
(beat sending the dispatcher every second, as in production), calls ending on their own (the sandbox plays each
call's webhooks to gunicorn). Halfway, one worker is SIGKILLed with everything it was doing. Reported:

- the achieved dial rate (target: within 5 % of the account's rate), before and after the kill;
- the most dials in any one-second window (sliding, on the moment each dial returned, and on the moment each call
  was recorded): never above the account's rate;
- duplicate dials (0): calls per contact, and the sandbox's own log of what it dialled, per call;
- lost contacts (0): every contact dialled once, or waiting, or final; the contacts the killed worker held and the
  other took back after their lease.

Drops and recreates BENCH_CAMPAIGNS_DATABASE_URL's database and flushes BENCH_CAMPAIGNS_REDIS_URL's. Prints a table
and a `BENCH campaigns ...` line; writes bench/results/campaigns.json. Everything listens on 127.0.0.1 only; every
process started here is stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.run import free_port, fresh_database, log, wait_until

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FROM_NUMBER = "+14155550100"
TERMINAL = ("completed", "busy", "no-answer", "failed", "canceled")


def sliding_max(moments: list[datetime], width: float = 1.0) -> int:
    """The most moments in any window of `width` seconds (half-open, sliding)."""
    moments = sorted(moments)
    best, start = 0, 0
    for index, moment in enumerate(moments):
        while (moment - moments[start]).total_seconds() >= width:
            start += 1
        best = max(best, index - start + 1)
    return best


def rate(moments: list[datetime]) -> float:
    moments = sorted(moments)
    if len(moments) < 2:
        return 0.0
    return (len(moments) - 1) / (moments[-1] - moments[0]).total_seconds()


def spawn(cmd: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        # Its own process group: a kill reaches the prefork pool too, as when a machine dies.
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_group(proc: subprocess.Popen[bytes], what: str) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{what} did not stop on SIGTERM; killing its group")
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=30, help="the sandbox account's calls per second")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers")
    parser.add_argument("--concurrency", type=int, default=4, help="processes per Celery worker")
    parser.add_argument("--kill-at", type=float, default=0.5, help="kill a worker once this share is dialled (0: no)")
    parser.add_argument("--call-seconds", type=int, default=5, help="how long an answered sandbox call lasts")
    parser.add_argument("--lease", type=int, default=15, help="CAMPAIGN_LEASE_SECONDS")
    parser.add_argument("--tail", type=float, default=90.0, help="seconds to wait for the last calls to end")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_CAMPAIGNS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/burki_bench_campaigns"
        ),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_CAMPAIGNS_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)

    from cryptography.fernet import Fernet

    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "DJANGO_", "DATABASE_", "CAMPAIGN_", "SANDBOX_"))
        and key not in ("DEBUG", "LOG_LEVEL")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "burki.settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + os.urandom(24).hex(),
            "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": args.database_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PUBLIC_BASE_URL": public_url,
            "CELERY_BROKER_URL": args.redis_url,
            "SANDBOX_CALL_SECONDS": str(args.call_seconds),
            "CAMPAIGN_LEASE_SECONDS": str(args.lease),
            "LOG_LEVEL": "INFO",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    import redis

    redis.Redis.from_url(args.redis_url, socket_connect_timeout=3).flushdb()
    log(f"fresh database {args.database_url.rsplit('/', 1)[-1]}, migrating")
    fresh_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.db.models import Count

    from assistants.models import Assistant, PhoneNumber
    from burki.models import Organization
    from calls.models import Call
    from campaigns.models import Campaign, CampaignContact
    from telephony.models import TelephonyAccount

    organization = Organization.objects.create(name="Bench", slug="bench", max_concurrent_calls=100_000)
    account = TelephonyAccount.objects.create(
        organization=organization, provider="sandbox", name="Sandbox", calls_per_second=args.rate
    )
    assistant = Assistant.objects.create(organization=organization, name="Bench assistant", welcome_message="Hi.")
    PhoneNumber.objects.create(
        organization=organization, phone_number=FROM_NUMBER, telephony_account=account, assistant=assistant
    )
    campaign = Campaign.objects.create(
        organization=organization,
        name="Bench",
        status=Campaign.Status.DRAFT,
        from_numbers=[FROM_NUMBER],
        welcome_message="Hi {{name}}.",
        window_days=list(range(7)),
        window_start=datetime.min.time(),
        window_end=datetime.max.time(),
        max_concurrent_calls=100_000,
    )
    CampaignContact.objects.bulk_create(
        (
            CampaignContact(
                campaign=campaign,
                line=n + 1,
                phone_number=f"+1415{2_000_000 + n:07d}",  # valid, and none of the sandbox's magic numbers
                timezone="UTC",
                variables={"name": f"Contact {n + 1}"},
            )
            for n in range(args.contacts)
        ),
        batch_size=2000,
    )
    log(f"campaign {campaign.pk}: {args.contacts} contacts, account limited to {args.rate} calls/s")

    tmp = Path(tempfile.mkdtemp(prefix="burki-bench-campaigns-"))
    processes: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        gunicorn = spawn(
            [
                sys.executable, "-m", "gunicorn", "burki.wsgi:application", "--workers=2", "--worker-class=gthread",
                "--threads=4", f"--bind=127.0.0.1:{port}", "--timeout=30", "--log-level=warning",
            ],
            env=env,
            log_path=RESULTS / "campaigns-gunicorn.log",
        )  # fmt: skip
        processes.append((gunicorn, "gunicorn"))
        wait_until(
            lambda: urllib.request.urlopen(f"{public_url}/healthz", timeout=2).status == 200,
            timeout=60,
            what="gunicorn",
            proc=gunicorn,
        )
        workers = []
        for n in range(args.workers):
            worker = spawn(
                [
                    sys.executable, "-m", "celery", "-A", "burki", "worker", "--loglevel=INFO",
                    f"--concurrency={args.concurrency}", f"--hostname=bench{n + 1}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                ],
                env=env,
                log_path=RESULTS / f"campaigns-worker-{n + 1}.log",
            )  # fmt: skip
            processes.append((worker, f"worker {n + 1}"))
            workers.append(worker)
        for n, worker in enumerate(workers):
            path = RESULTS / f"campaigns-worker-{n + 1}.log"
            wait_until(lambda path=path: " ready." in path.read_text(errors="replace"), timeout=90,
                       what=f"worker {n + 1}", proc=worker)  # fmt: skip
        beat = spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "burki",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(tmp / "beat-schedule"),
            ],
            env=env,
            log_path=RESULTS / "campaigns-beat.log",
        )
        processes.append((beat, "beat"))

        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
        log("campaign running")
        began = time.monotonic()
        killed_at: float | None = None
        killed_calls = 0
        # Bounded, but generously: a busy machine may dial at a tenth of the rate.
        dial_limit = args.contacts / max(args.rate * 0.1, 1) + 120
        last_report = 0.0
        while time.monotonic() - began < dial_limit:
            placed = Call.objects.filter(campaign_id=campaign.pk).count()
            if killed_at is None and args.kill_at and placed >= args.contacts * args.kill_at:
                os.killpg(workers[0].pid, signal.SIGKILL)
                killed_at, killed_calls = time.monotonic() - began, placed
                log(f"SIGKILLed worker 1 (pid {workers[0].pid}) at {placed} calls")
            waiting = (
                CampaignContact.objects.filter(campaign=campaign, state__in=["pending", "retrying"]).count()
                + CampaignContact.objects.filter(campaign=campaign, state="dialling", last_call__isnull=True).count()
            )
            if time.monotonic() - last_report > 15:
                log(f"{placed} calls placed, {waiting} contacts to dial")
                last_report = time.monotonic()
            if not waiting:
                break
            time.sleep(0.5)
        dial_seconds = time.monotonic() - began
        log(f"dialling over after {dial_seconds:.0f} s; waiting up to {args.tail:g} s for the calls to end")
        tail_began = time.monotonic()
        while time.monotonic() - tail_began < args.tail:
            if Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED:
                break
            time.sleep(1)

        calls = list(
            Call.objects.filter(campaign_id=campaign.pk).values("pk", "to_number", "created_at", "started_at", "status")
        )
        states = dict(
            CampaignContact.objects.filter(campaign=campaign)
            .order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
        unlinked = CampaignContact.objects.filter(campaign=campaign, last_call__isnull=True).exclude(
            state__in=["skipped", "expired"]
        )
        campaign.refresh_from_db()
    finally:
        for proc, what in reversed(processes):
            stop_group(proc, what)
        shutil.rmtree(tmp, ignore_errors=True)

    worker_logs = "".join(
        (RESULTS / f"campaigns-worker-{n + 1}.log").read_text(errors="replace") for n in range(args.workers)
    )
    sandbox_dials = Counter(re.findall(r"sandbox placed call (\d+) ", worker_logs))
    reclaimed = re.findall(r"campaign contact (\d+) reclaimed after its lease \(call (\w+)\)", worker_logs)
    per_number = Counter(call["to_number"] for call in calls)
    started = [call["started_at"] for call in calls if call["started_at"]]
    created = [call["created_at"] for call in calls]
    before = after = 0.0
    if killed_at is not None:
        ordered = sorted(started)
        kill_moment = ordered[min(killed_calls, len(ordered) - 1)]
        before = rate([moment for moment in ordered if moment < kill_moment])
        after = rate([moment for moment in ordered if moment >= kill_moment])
    figures: dict[str, Any] = {
        "contacts": args.contacts,
        "target_rate": args.rate,
        "calls": len(calls),
        "dial_rate": round(rate(started), 2),
        "dial_rate_before_kill": round(before, 2),
        "dial_rate_after_kill": round(after, 2),
        "max_dials_1s": sliding_max(started),
        "max_recorded_1s": sliding_max(created),
        "duplicate_dials": sum(count - 1 for count in per_number.values())
        + sum(count - 1 for count in sandbox_dials.values()),
        "sandbox_dials": sum(sandbox_dials.values()),
        "lost_contacts": unlinked.count(),
        "killed_at_calls": killed_calls if killed_at is not None else None,
        "reclaimed": len(reclaimed),
        "reclaimed_followed": sum(1 for _, call in reclaimed if call != "None"),
        "contact_states": states,
        "campaign_status": campaign.status,
        "calls_still_live": sum(1 for call in calls if call["status"] not in TERMINAL),
        "dial_seconds": round(dial_seconds, 1),
    }
    targets = {
        "dial_rate": figures["dial_rate"] >= args.rate * 0.95,
        "max_dials_1s": figures["max_dials_1s"] <= args.rate,
        "max_recorded_1s": figures["max_recorded_1s"] <= args.rate,
        "duplicate_dials": figures["duplicate_dials"] == 0,
        "lost_contacts": figures["lost_contacts"] == 0,
        "every_contact_dialled": figures["calls"] == args.contacts,
    }
    figures["targets_met"] = targets
    (RESULTS / "campaigns.json").write_text(json.dumps(figures, indent=2, default=str))
    print()
    for name, value in figures.items():
        print(f"  {name:24} {value}")
    print()
    print(
        f"BENCH campaigns contacts={args.contacts} workers={args.workers} rate={figures['dial_rate']}/s "
        f"(target {args.rate}/s, before kill {figures['dial_rate_before_kill']}, after "
        f"{figures['dial_rate_after_kill']}) max_1s={figures['max_dials_1s']} "
        f"max_recorded_1s={figures['max_recorded_1s']} duplicates={figures['duplicate_dials']} "
        f"lost={figures['lost_contacts']} killed_at={figures['killed_at_calls']} reclaimed={figures['reclaimed']} "
        f"calls={figures['calls']} status={figures['campaign_status']} "
        f"targets={'met' if all(targets.values()) else 'MISSED: ' + ','.join(k for k, v in targets.items() if not v)}"
    )
    return 1 if args.strict and not all(targets.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
