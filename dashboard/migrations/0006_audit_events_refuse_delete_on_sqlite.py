"""Audit events refuse DELETE in the database on SQLite too (PostgreSQL has since 0005).

0005 left SQLite's DELETE to the ORM guard because Django flushes SQLite tables with DELETE and a
trigger would break `flush` (and with it the teardown of transactional tests). Raw SQL and
`_base_manager._raw_delete` went around that guard. Now a trigger refuses every DELETE of an
audit event, and `flush` — the one sanctioned way to empty the whole database, like TRUNCATE on
PostgreSQL — goes around it on purpose: `dashboard/management/commands/flush.py` drops the
table's DELETE triggers, flushes and re-creates them, in one transaction, so no other
connection ever sees the table unguarded.

Caveat (as for 0005): on SQLite, a migration that alters this table rebuilds it and drops its
triggers; re-create them after such a migration (tests/reliability/test_audit_completeness.py
checks that both are there).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQLITE_CREATE = """
CREATE TRIGGER IF NOT EXISTS dashboard_auditevent_refuse_delete
BEFORE DELETE ON dashboard_auditevent
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (DELETE refused)');
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS dashboard_auditevent_refuse_delete;"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE, params=None)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0005_audit_events_append_only_in_the_database")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
