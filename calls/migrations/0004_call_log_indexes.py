"""Indexes for every filter of the call log, built with CREATE INDEX CONCURRENTLY on PostgreSQL so that they can be
added to a live table of millions of calls without blocking writes; the two indexes they supersede are dropped the
same way. Not atomic: PostgreSQL refuses CONCURRENTLY inside a transaction, and each operation can be run again if
the migration stops half-way (burki.migration_operations)."""

from django.db import migrations, models

from burki.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0003_call_account_created_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(fields=["organization", "-created_at", "-id", "duration"], name="call_org_created_idx"),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(fields=["organization", "status", "-created_at", "-id"], name="call_org_status_idx"),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(
                fields=["organization", "to_number", "-created_at", "-id"], name="call_org_to_number_idx"
            ),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(
                fields=["organization", "assistant", "-created_at", "-id"], name="call_org_assistant_idx"
            ),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(fields=["organization", "duration"], name="call_org_duration_idx"),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(fields=["-created_at", "-id"], name="call_created_idx"),
        ),
        RemoveIndexConcurrently(model_name="call", name="calls_call_organiz_1bb544_idx"),
        RemoveIndexConcurrently(model_name="call", name="calls_call_organiz_2c2244_idx"),
    ]
