"""Store reference profiles and telemetry samples packed (numbers as raw bytes) instead of JSON.

New columns are added beside the JSON ones, every row is converted, then the JSON columns are
dropped and the new ones take their names. Reversible: unpacking gives the same JSON back.
"""

from typing import Any

from django.db import migrations, models

import dashboard.fields


def _pack(apps: Any, schema_editor: Any) -> None:
    Pipeline = apps.get_model("dashboard", "Pipeline")
    TelemetryWindow = apps.get_model("dashboard", "TelemetryWindow")
    for pk, document in (
        Pipeline.objects.exclude(reference_profile=None)
        .values_list("pk", "reference_profile")
        .iterator()
    ):
        Pipeline.objects.filter(pk=pk).update(reference_packed=document)
    for pk, document in TelemetryWindow.objects.values_list("pk", "profile").iterator():
        TelemetryWindow.objects.filter(pk=pk).update(profile_packed=document)


def _unpack(apps: Any, schema_editor: Any) -> None:
    Pipeline = apps.get_model("dashboard", "Pipeline")
    TelemetryWindow = apps.get_model("dashboard", "TelemetryWindow")
    for pk, document in (
        Pipeline.objects.exclude(reference_packed=None)
        .values_list("pk", "reference_packed")
        .iterator()
    ):
        Pipeline.objects.filter(pk=pk).update(reference_profile=dashboard.fields._plain(document))
    for pk, document in TelemetryWindow.objects.values_list("pk", "profile_packed").iterator():
        TelemetryWindow.objects.filter(pk=pk).update(profile=dashboard.fields._plain(document))


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0003_control_plane")]

    operations = [
        migrations.AddField(
            model_name="pipeline",
            name="reference_packed",
            field=dashboard.fields.PackedDocumentField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="telemetrywindow",
            name="profile_packed",
            field=dashboard.fields.PackedDocumentField(null=True),
        ),
        migrations.AlterField(
            model_name="telemetrywindow",
            name="profile",
            field=models.JSONField(null=True),
        ),
        migrations.RunPython(_pack, _unpack),
        migrations.RemoveField(model_name="pipeline", name="reference_profile"),
        migrations.RemoveField(model_name="telemetrywindow", name="profile"),
        migrations.RenameField(
            model_name="pipeline", old_name="reference_packed", new_name="reference_profile"
        ),
        migrations.RenameField(
            model_name="telemetrywindow", old_name="profile_packed", new_name="profile"
        ),
        migrations.AlterField(
            model_name="pipeline",
            name="reference_profile",
            field=dashboard.fields.PackedDocumentField(
                blank=True, help_text="The reference's WindowProfile.to_dict(), packed.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="telemetrywindow",
            name="profile",
            field=dashboard.fields.PackedDocumentField(
                help_text="A uniform sample of at most 2,000 whole rows, predictions and "
                "latencies (packed: its columns read back as numpy arrays)."
            ),
        ),
    ]
