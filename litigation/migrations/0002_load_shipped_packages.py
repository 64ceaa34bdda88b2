"""Load the analysis packages shipped in litigation/packages/ (idempotent, as the command)."""

import json

from django.db import migrations

from litigation.engines.packages import PACKAGES_DIR, validate_package


def load(apps, schema_editor):
    AnalysisPackage = apps.get_model("litigation", "AnalysisPackage")
    for path in sorted(PACKAGES_DIR.glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        checked = validate_package(definition)
        AnalysisPackage.objects.get_or_create(
            key=checked["key"],
            defaults={
                "name": checked["name"],
                "case_type": checked["case_type"],
                "description": checked["description"],
                "definition": definition,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("litigation", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
