"""Audit events are append-only in the database too, not only through the ORM.

The model refuses `save()` on a stored row, `delete()` and its queryset's `update()`/`delete()`,
but raw SQL, `_base_manager` and `bulk_update` go around that. A trigger refuses any UPDATE of a
row, except the one Django itself makes when the acting user is deleted (`actor` is SET_NULL;
`actor_label` keeps the name). PostgreSQL also refuses DELETE (TRUNCATE, an owner's statement
used by test flushes, is not a row operation). SQLite keeps DELETE to the ORM guard: Django
flushes SQLite tables with DELETE, so a trigger there would break `flush` and test teardown.
(Since 0006 SQLite refuses DELETE too, and our `flush` command lifts that guard while it runs.)

Caveat for later migrations: on SQLite, altering this table rebuilds it and drops the trigger;
re-create it after such a migration (tests/reliability/test_audit_completeness.py checks it).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

COLUMNS = (
    "id",
    "at",
    "actor_label",
    "verb",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
    "task_id",
)

POSTGRES_CREATE = f"""
CREATE OR REPLACE FUNCTION dashboard_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL
       AND ROW({", ".join(f"NEW.{c}" for c in COLUMNS)})
           IS NOT DISTINCT FROM ROW({", ".join(f"OLD.{c}" for c in COLUMNS)}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER dashboard_auditevent_append_only
    BEFORE UPDATE OR DELETE ON dashboard_auditevent
    FOR EACH ROW EXECUTE FUNCTION dashboard_auditevent_append_only();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS dashboard_auditevent_append_only ON dashboard_auditevent;
DROP FUNCTION IF EXISTS dashboard_auditevent_append_only();
"""
SQLITE_CREATE = f"""
CREATE TRIGGER IF NOT EXISTS dashboard_auditevent_append_only
BEFORE UPDATE ON dashboard_auditevent
WHEN NOT (NEW.actor_id IS NULL AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in COLUMNS)})
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)');
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS dashboard_auditevent_append_only;"


def _run(schema_editor: Any, sql: dict[str, str]) -> None:
    statement = sql.get(schema_editor.connection.vendor)
    if statement:
        schema_editor.execute(statement, params=None)


def create(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": POSTGRES_CREATE, "sqlite": SQLITE_CREATE})


def drop(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": POSTGRES_DROP, "sqlite": SQLITE_DROP})


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0004_packed_documents")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
