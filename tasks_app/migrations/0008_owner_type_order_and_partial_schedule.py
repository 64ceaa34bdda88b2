"""An owner's list filtered by type reads its index in list order; unscheduled runs skip one.

- task_owner_type gains created_at and id, the list's order: `?task_type=` on an owner's list
  reads its page straight from the index. With (owner, task_type) alone PostgreSQL chose between
  sorting all the owner's rows of the type and walking the owner's newest-first index until
  enough matched; for a type the owner seldom runs but others run often (30 of 196,202 on the
  1,000,000-row benchmark table) the walk read the owner's other rows from the table: 26 ms warm,
  97 ms cold, growing with the owner's task count. Now 0.1 ms. GET /tasks/count by type still
  reads it alone (an index-only scan).
- task_schedule_created is partial: runs nobody scheduled, nearly all, write no entry in it on
  insert or on any status change (no status change is a HOT update: status is indexed).

The indexes are rebuilt: on PostgreSQL the table is locked for writes while they build.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("tasks_app", "0007_read_paths"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="task", name="task_schedule_created"),
        migrations.RemoveIndex(model_name="task", name="task_owner_type"),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["owner", "task_type", "-created_at", "-id"], name="task_owner_type"
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(schedule__isnull=False),
                fields=["schedule", "-created_at"],
                name="task_schedule_created",
            ),
        ),
    ]
