
import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('burki', '0004_block_premium_destinations_satellite'),
    ]

    operations = [
        migrations.AddField(
            model_name='organization',
            name='call_retention_days',
            field=models.PositiveIntegerField(blank=True, help_text='Calls and their events older than this many days are deleted. Empty: the server default (CALL_RETENTION_DAYS, 400).', null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(36500)]),
        ),
        migrations.AddField(
            model_name='organization',
            name='calls_redacted_before',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='organization',
            name='redact_after_days',
            field=models.PositiveIntegerField(blank=True, help_text='Calls older than this many days, until they are deleted, keep only the last four digits of their phone numbers, and lose their texts, variables, metadata and provider payloads. Empty: the server default (CALL_REDACT_AFTER_DAYS; unset, never).', null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(36500)]),
        ),
    ]
