"""Fewer indexes on the tables every check, approval and execution writes.

`db_index=True` on a text column gives PostgreSQL two indexes (a b-tree and a LIKE-pattern
twin), and a decision's state transition rewrites an entry in every index of the table. The
lookups are exact, so audit events keep one plain index each on `verb` and `object_id` (their
composite (object_type, object_id, at) serves `object_type`), and decisions' `state` is served by
the (state, expires_at) index alone: 10 -> 6 indexes per audit event, 11 -> 9 per decision,
4 -> 3 per execution.

On SQLite, altering `dashboard_auditevent` rebuilds the table and drops its triggers (0005 and
0006 warn of it): they are re-created at the end.
"""

import importlib
from typing import Any

from django.conf import settings
from django.db import migrations, models

_TRIGGERS = [
    importlib.import_module(f"dashboard.migrations.{name}")
    for name in (
        "0005_audit_events_append_only_in_the_database",
        "0006_audit_events_refuse_delete_on_sqlite",
    )
]


def recreate_sqlite_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for module in _TRIGGERS:
            schema_editor.execute(module.SQLITE_CREATE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0007_experience_attributable"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Last when unapplied: the AlterFields' rebuilds drop the triggers again.
        migrations.RunPython(migrations.RunPython.noop, recreate_sqlite_triggers, elidable=False),
        migrations.AlterField(
            model_name="auditevent",
            name="object_id",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="object_type",
            field=models.CharField(max_length=80),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="verb",
            field=models.CharField(help_text="e.g. policy.activated", max_length=80),
        ),
        migrations.AlterField(
            model_name="decision",
            name="state",
            field=models.CharField(
                choices=[
                    ("proposed", "Proposed"),
                    ("pending_approval", "Pending Approval"),
                    ("approved", "Approved"),
                    ("executing", "Executing"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("rejected", "Rejected"),
                    ("expired", "Expired"),
                    ("superseded", "Superseded"),
                ],
                default="proposed",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="execution",
            name="state",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=12,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["object_id"], name="dashboard_audit_object_id"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["verb"], name="dashboard_audit_verb"),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["state"], name="dashboard_execution_state"),
        ),
        migrations.RunPython(recreate_sqlite_triggers, migrations.RunPython.noop, elidable=False),
    ]
