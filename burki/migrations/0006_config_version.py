"""The organizations' configuration versions, and the triggers that bump them (burki.config)."""

from django.db import migrations, models

from burki.migration_operations import RunSQLOnPostgres, config_version_trigger

# For each changed row, the organization(s) it belongs to, before and after (a row moved to another organization
# changes both); for a user, every organization they are a member of. Arguments: the column naming the organization
# ("user" for auth_user), then the columns whose change alone changes nothing cached (last_used_at, last_login).
BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION burki_config_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ignored text[] := TG_ARGV[1:TG_NARGS - 1];
    old_row jsonb;
    new_row jsonb;
    organizations bigint[];
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD) - ignored; END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW) - ignored; END IF;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL;
    END IF;
    IF TG_ARGV[0] = 'user' THEN
        organizations := ARRAY(
            SELECT DISTINCT organization_id FROM burki_membership
            WHERE user_id IN ((old_row ->> 'id')::bigint, (new_row ->> 'id')::bigint)
        );
    ELSE
        organizations := ARRAY(
            SELECT DISTINCT o FROM unnest(ARRAY[(old_row ->> TG_ARGV[0])::bigint, (new_row ->> TG_ARGV[0])::bigint]) o
            WHERE o IS NOT NULL
        );
    END IF;
    INSERT INTO burki_configversion (organization_id, version)
    SELECT o, 1 FROM unnest(organizations) o ORDER BY o
    ON CONFLICT (organization_id) DO UPDATE SET version = burki_configversion.version + 1;
    RETURN NULL;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("burki", "0005_call_retention"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConfigVersion",
            fields=[
                ("organization_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        RunSQLOnPostgres(sql=BUMP_FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS burki_config_version_bump()"),
        config_version_trigger("burki_organization", organization_column="id"),
        config_version_trigger("burki_apikey", organization_column="organization_id", ignored=("last_used_at",)),
        config_version_trigger("burki_membership", organization_column="organization_id"),
        config_version_trigger("auth_user", organization_column="user", ignored=("last_login",)),
    ]
