"""Migration operations: index operations safe on a live table (CREATE/DROP INDEX CONCURRENTLY on PostgreSQL, plain
ones elsewhere), and SQL for PostgreSQL only (the configuration version triggers, burki.config).

Django's own (django.contrib.postgres.operations) work only on PostgreSQL, and `make run` and the test suite migrate
SQLite too. A migration using these must say `atomic = False`: PostgreSQL refuses CONCURRENTLY in a transaction.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently as PostgresAddIndexConcurrently
from django.contrib.postgres.operations import RemoveIndexConcurrently as PostgresRemoveIndexConcurrently
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations import AddConstraint, AddIndex, RemoveIndex, RunSQL
from django.db.migrations.state import ProjectState
from django.db.models import UniqueConstraint


def _postgres(schema_editor: BaseDatabaseSchemaEditor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _prepare(schema_editor: BaseDatabaseSchemaEditor, name: str) -> bool:
    """Whether index `name` still needs building. A non-atomic migration that stopped half-way (a failure, a
    cancelled statement) runs again from its first operation: an index it already built is kept, and an invalid one
    (what a failed CREATE INDEX CONCURRENTLY leaves behind) is dropped to be built again."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_index.indisvalid FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
            "WHERE pg_class.relname = %s AND pg_class.relnamespace = current_schema()::regnamespace",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return True
    if row[0]:
        return False
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    return True


class AddIndexConcurrently(PostgresAddIndexConcurrently):
    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        if _prepare(schema_editor, self.index.name):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
            return
        super().database_backwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(PostgresRemoveIndexConcurrently):
    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        if _prepare(schema_editor, self.name):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class AddConstraintConcurrently(AddConstraint):
    """A partial unique constraint, which PostgreSQL keeps as a unique index: built CONCURRENTLY there."""

    # Set by AddConstraint.__init__ (the stubs do not declare them).
    model_name: str
    constraint: UniqueConstraint

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        if self.constraint.condition is None:
            raise ValueError("only a partial unique constraint is a plain unique index to build concurrently")
        model = to_state.apps.get_model(app_label, self.model_name)
        if _prepare(schema_editor, self.constraint.name):
            sql = str(self.constraint.create_sql(model, schema_editor))
            schema_editor.execute(sql.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1))

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if not _postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.constraint.name)}")


class RunSQLOnPostgres(RunSQL):
    """RunSQL on PostgreSQL only (triggers, functions): other databases (SQLite) go without."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if _postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: Any
    ) -> None:
        if _postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def config_version_trigger(table: str, *, organization_column: str, ignored: tuple[str, ...] = ()) -> RunSQLOnPostgres:
    """The trigger that bumps the configuration version of the organization(s) a row of `table` belongs to on every
    INSERT, UPDATE and DELETE (an UPDATE that changes only `ignored` columns excepted): burki.config."""
    name = f"{table}_config_version"
    arguments = ", ".join(f"'{column}'" for column in (organization_column, *ignored))
    return RunSQLOnPostgres(
        sql=f'CREATE TRIGGER "{name}" AFTER INSERT OR UPDATE OR DELETE ON "{table}" FOR EACH ROW '
        f"EXECUTE FUNCTION burki_config_version_bump({arguments})",
        reverse_sql=f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"',
    )
