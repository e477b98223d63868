"""`manage.py flush`, which also empties the append-only audit trail on SQLite.

Audit events refuse DELETE in the database (a trigger; migrations 0005 and 0006). On PostgreSQL
flush empties tables with TRUNCATE, which row triggers do not see. On SQLite it uses DELETE, so
this command drops the audit table's DELETE triggers, flushes and re-creates the triggers from
their own stored SQL, all in one transaction: the table is never unguarded for another
connection, and a failed flush leaves the triggers as they were. Wiping the whole database is
the one deletion of audit events there is (TransactionTestCase teardown uses it too).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from dashboard.models import AuditEvent


def _delete_guards(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    """(name, SQL) of the SQLite triggers that refuse DELETE on the audit table."""
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [AuditEvent._meta.db_table],
        )
        rows = cursor.fetchall()
    return [(name, sql) for name, sql in rows if "BEFORE DELETE" in " ".join(sql.upper().split())]


class Command(DjangoFlush):
    help = DjangoFlush.help + " The audit trail included (its DELETE guard is lifted meanwhile)."

    def handle(self, **options: Any) -> None:
        alias = options["database"]
        connection = connections[alias]
        guards = _delete_guards(connection)
        if not guards:
            return super().handle(**options)
        if options["interactive"]:
            # Asked here, before the transaction: nobody should hold SQLite's write lock while
            # a person reads the question.
            answer = input(
                "You have requested a flush of the database, the append-only audit trail "
                f"included.\nThis will IRREVERSIBLY DESTROY all data in the "
                f"{connection.settings_dict['NAME']!r} database.\n"
                "Type 'yes' to continue, or 'no' to cancel: "
            )
            if answer != "yes":
                self.stdout.write("Flush cancelled.")
                return None
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                for name, _ in guards:
                    cursor.execute(f'DROP TRIGGER "{name}"')
            super().handle(**{**options, "interactive": False})
            with connection.cursor() as cursor:
                for _, sql in guards:
                    cursor.execute(sql)
        return None
