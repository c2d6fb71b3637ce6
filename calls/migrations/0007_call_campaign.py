"""The campaign a call belongs to, and its attempt's key: two nullable columns (no table rewrite), their indexes built
CONCURRENTLY on PostgreSQL so that a live table of millions of calls keeps taking writes (not atomic: see
burki.migration_operations; each operation can run again if the migration stops half-way)."""

from django.db import migrations, models

from burki.migration_operations import AddConstraintConcurrently, AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0006_suppression"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="campaign_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="call",
            name="dispatch_key",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(
                condition=models.Q(("campaign_id__isnull", False)),
                fields=["organization", "campaign_id", "-created_at", "-id"],
                name="call_org_campaign_idx",
            ),
        ),
        AddConstraintConcurrently(
            model_name="call",
            constraint=models.UniqueConstraint(
                condition=models.Q(("dispatch_key__isnull", False)),
                fields=("dispatch_key",),
                name="call_unique_dispatch_key",
            ),
        ),
    ]
