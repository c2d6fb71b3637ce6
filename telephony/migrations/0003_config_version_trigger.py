"""Telephony accounts bump their organization's configuration version (burki.config)."""

from django.db import migrations

from burki.migration_operations import config_version_trigger


class Migration(migrations.Migration):
    dependencies = [
        ("telephony", "0002_telephonyaccount_calls_per_second"),
        ("burki", "0006_config_version"),
    ]

    operations = [config_version_trigger("telephony_telephonyaccount", organization_column="organization_id")]
