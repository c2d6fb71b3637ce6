"""Call history is redacted, then deleted, per organization (calls.retention), in batches."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from burki.models import Organization
from calls.models import Call, CallEvent
from calls.retention import calls_apply_retention
from calls.tasks import apply_call_retention
from tests.factories import CallFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
REDACTION_WALK = 'SELECT "calls_call"."id", "calls_call"."created_at" FROM "calls_call"'


def call_aged(organization: Organization, days: float, **fields: Any) -> Call:
    call: Call = CallFactory(organization=organization, **fields)
    Call.objects.filter(pk=call.pk).update(created_at=NOW - timedelta(days=days))
    CallEvent.objects.create(
        call=call, provider="sandbox", event_type="status", key=f"{call.pk}:1", payload={"To": call.to_number}
    )
    return call


def remaining(organization: Organization) -> set[int]:
    return set(Call.objects.filter(organization=organization).values_list("pk", flat=True))


@override_settings(CALL_RETENTION_DAYS=400)
def test_each_organization_loses_only_its_calls_older_than_its_retention() -> None:
    short = OrganizationFactory(call_retention_days=30)
    default = OrganizationFactory()
    short_recent, short_old = call_aged(short, 29.9), call_aged(short, 30.1)
    default_recent, default_old = call_aged(default, 399), call_aged(default, 401)

    result = calls_apply_retention(now=NOW)

    assert remaining(short) == {short_recent.pk}
    assert remaining(default) == {default_recent.pk}
    assert (result.deleted_calls, result.deleted_events, result.redacted_calls) == (2, 2, 0)
    # Their events went with them; the kept calls' events stay.
    assert not CallEvent.objects.filter(call_id__in=[short_old.pk, default_old.pk]).exists()
    assert CallEvent.objects.filter(call_id__in=[short_recent.pk, default_recent.pk]).count() == 2


def test_calls_are_deleted_in_batches_each_in_its_own_transaction() -> None:
    organization = OrganizationFactory(call_retention_days=10)
    old = [call_aged(organization, 11 + n) for n in range(5)]
    kept = call_aged(organization, 1)

    with CaptureQueriesContext(connection) as captured:
        result = calls_apply_retention(now=NOW, batch_size=2)

    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('DELETE FROM "calls_call"')]
    batches = [re.search(r"IN \(([^)]*)\)", sql).group(1).split(",") for sql in deletes]  # type: ignore[union-attr]
    assert [len(ids) for ids in batches] == [2, 2, 1]
    assert result.deleted_calls == len(old)
    assert remaining(organization) == {kept.pk}


def test_redaction_masks_numbers_and_clears_texts_before_deletion() -> None:
    organization = OrganizationFactory(call_retention_days=30, redact_after_days=10)
    fresh = call_aged(organization, 5, welcome_message="Hi Ann", variables={"name": "Ann"})
    due = call_aged(
        organization,
        15,
        welcome_message="Hi Ann",
        agenda="Ann's appointment",
        variables={"name": "Ann"},
        metadata={"crm": "ann-42"},
        error_message="Number +14155550199 unreachable",
    )

    result = calls_apply_retention(now=NOW)

    due.refresh_from_db()
    fresh.refresh_from_db()
    assert (due.to_number, due.from_number) == ("…0199", "…0100")
    assert (due.welcome_message, due.agenda, due.error_message, due.variables, due.metadata) == ("", "", "", {}, {})
    assert list(due.events.values_list("payload", flat=True)) == [{}]
    assert (due.status, due.call_sid is not None) == ("queued", True)  # what happened stays; who and what was said go
    assert (fresh.to_number, fresh.welcome_message, fresh.variables) == ("+14155550199", "Hi Ann", {"name": "Ann"})
    assert list(fresh.events.values_list("payload", flat=True)) == [{"To": "+14155550199"}]
    assert result.redacted_calls == 1


def test_redaction_resumes_where_it_stopped_and_redacts_nothing_twice() -> None:
    organization = OrganizationFactory(redact_after_days=10)
    call_aged(organization, 12)
    soon_due = call_aged(organization, 9)

    first = calls_apply_retention(now=NOW)
    again = calls_apply_retention(now=NOW)
    with CaptureQueriesContext(connection) as captured:
        later = calls_apply_retention(now=NOW + timedelta(days=2))

    assert (first.redacted_calls, again.redacted_calls, later.redacted_calls) == (1, 0, 1)
    organization.refresh_from_db()
    assert organization.calls_redacted_before == NOW + timedelta(days=2) - timedelta(days=10)
    soon_due.refresh_from_db()
    assert soon_due.to_number == "…0199"
    # The later run looked for calls to redact only since the previous cutoff.
    walks = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(REDACTION_WALK)]
    assert walks
    assert all('"calls_call"."created_at" >=' in sql for sql in walks)


@override_settings(CALL_REDACT_AFTER_DAYS=None, CALL_RETENTION_DAYS=400)
def test_nothing_is_redacted_by_default_and_nothing_recent_is_deleted() -> None:
    organization = OrganizationFactory()
    call = call_aged(organization, 300, welcome_message="Hi Ann")

    result = calls_apply_retention(now=NOW)

    call.refresh_from_db()
    assert (call.to_number, call.welcome_message) == ("+14155550199", "Hi Ann")
    assert result == type(result)()


@pytest.mark.parametrize(
    ("retention", "redact"), [(30, 30), (30, 31), (None, settings.CALL_RETENTION_DAYS), (0, None), (40000, None)]
)
def test_organization_settings_are_validated(retention: int | None, redact: int | None) -> None:
    organization = OrganizationFactory.build(call_retention_days=retention, redact_after_days=redact)

    with pytest.raises(ValidationError):
        organization.full_clean()


def test_the_command_and_the_task_apply_retention() -> None:
    organization = OrganizationFactory(call_retention_days=1)
    CallFactory(organization=organization)
    Call.objects.update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    out = StringIO()

    call_command("apply_call_retention", "--batch-size", "10", stdout=out)
    CallFactory(organization=organization)
    Call.objects.update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    counts = apply_call_retention()

    assert out.getvalue().strip() == "Deleted 1 call(s) and 0 event(s); redacted 0 call(s)."
    assert counts == {"deleted_calls": 1, "deleted_events": 0, "redacted_calls": 0}
    assert not Call.objects.exists()


def test_celery_beat_runs_the_retention_task_daily() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["apply-call-retention"]

    assert entry["task"] == apply_call_retention.name
    assert entry["schedule"] == crontab(hour=3, minute=30)


@override_settings(CALL_RETENTION_DAYS=400, CALL_REDACT_AFTER_DAYS=None)
def test_the_organization_endpoint_shows_the_retention_that_applies(api: Any, organization: Any) -> None:
    before = api.get("/api/v1/organization").json()
    organization.call_retention_days, organization.redact_after_days = 90, 30
    organization.save()
    after = api.get("/api/v1/organization").json()

    assert (before["call_retention_days"], before["redact_after_days"]) == (400, None)
    assert (after["call_retention_days"], after["redact_after_days"]) == (90, 30)


def test_the_admin_edits_an_organizations_retention_and_refuses_redaction_after_deletion(
    admin_client: Any, organization: Organization
) -> None:
    from django.urls import reverse

    url = reverse("admin:burki_organization_change", args=[organization.pk])
    form = {"name": organization.name, "slug": organization.slug, "block_premium_destinations": "on"}
    form |= {"allowed_destination_countries": "[]", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}

    refused = admin_client.post(url, {**form, "call_retention_days": "30", "redact_after_days": "30"})
    saved = admin_client.post(url, {**form, "call_retention_days": "30", "redact_after_days": "7"})

    assert refused.status_code == 200
    assert "redact_after_days" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    organization.refresh_from_db()
    assert (organization.call_retention_days, organization.redact_after_days) == (30, 7)
