"""Assistants, flows and numbers bump their organization's configuration version (burki.config)."""

from django.db import migrations

from burki.migration_operations import config_version_trigger


class Migration(migrations.Migration):
    dependencies = [
        ("assistants", "0003_voicemail_recording_options"),
        ("burki", "0006_config_version"),
    ]

    operations = [
        config_version_trigger(table, organization_column="organization_id")
        for table in ("assistants_assistant", "assistants_conversationflow", "assistants_phonenumber")
    ]
