"""References into tasks_app_task checked by triggers on PostgreSQL instead of FOREIGN KEYs.

PostgreSQL checks a FOREIGN KEY on the referenced side once per deleted row and constraint (two
index lookups each for NO ACTION): deleting 5,000 expired tasks paid ~130 ms for the four
constraints pointing at tasks, against ~30 ms for the deletes themselves. The same rules are
kept here with the deleted side checked once per statement:

- a row that points at a task (Task.parent, Document.ingest_task, Export.task, Artifact.task)
  is checked when it is inserted or re-pointed, deferred to commit like Django's constraints,
  taking the same key-share lock on the task row that PostgreSQL's check takes, so the task
  cannot be deleted until that transaction ends;
- a DELETE of tasks is checked once, after the statement, by joining the deleted rows (its
  transition table) with each referencing table; PostgreSQL runs the check with a snapshot
  taken after the statement, so a reference committed while the DELETE waited for its row
  locks is seen. That needs READ COMMITTED: at REPEATABLE READ or SERIALIZABLE the check would
  see the transaction's older snapshot, so tasks are not deleted at those levels;
- TRUNCATE of the task table is refused while anything points at a task, and task ids are
  never updated (Django never updates a primary key).

The models keep their ForeignKey fields as declared, so SQLite (the embedded default, where
the retention path is Django's collector) keeps its FOREIGN KEY constraints. The same migration
gives the parent link a partial index: only tasks that have a parent are in it, so a task
without one (almost all of them) writes no entry when it is inserted or changes status.
"""

from django.db import migrations, models

TASK_TABLE = "tasks_app_task"

# (app label, model, field) of every reference into the task table but TaskEvent.task, which
# has no database constraint (see tasks_app 0006 and the model).
RELATIONS = [
    ("tasks_app", "Task", "parent"),
    ("documents", "Document", "ingest_task"),
    ("documents", "Export", "task"),
    ("litigation", "Artifact", "task"),
]


def references(apps):
    """(model, field, table, primary-key column, column, short name) of each relation."""
    for app_label, model_name, field_name in RELATIONS:
        model = apps.get_model(app_label, model_name)
        field = model._meta.get_field(field_name)
        table = model._meta.db_table
        yield model, field, table, model._meta.pk.column, field.column, f"{table}_{field.column}"


def check_reference_sql(table: str, pk: str, column: str, name: str) -> str:
    return f"""
CREATE FUNCTION {name}_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The row as it stands now, as PostgreSQL's own check does: a row deleted since, or
    -- pointed elsewhere (which queued its own check), needs none.
    PERFORM 1 FROM {table} WHERE {pk} = NEW.{pk} AND {column} = NEW.{column};
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The key-share lock keeps the task from being deleted until this transaction ends; a
    -- task deleted before it is not found.
    PERFORM 1 FROM {TASK_TABLE} WHERE id = NEW.{column} FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation', TABLE = '{table}', CONSTRAINT = '{name}',
            MESSAGE = 'insert or update on table "{table}" violates reference "{name}"',
            DETAIL = format('Key ({column})=(%s) is not present in table "{TASK_TABLE}".',
                            NEW.{column});
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER {name}_insert AFTER INSERT ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.{column} IS NOT NULL) EXECUTE FUNCTION {name}_check();
CREATE CONSTRAINT TRIGGER {name}_update AFTER UPDATE OF {column} ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.{column} IS NOT NULL AND NEW.{column} IS DISTINCT FROM OLD.{column})
    EXECUTE FUNCTION {name}_check();
"""


READ_COMMITTED_ONLY = """
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'rows of {task} are deleted only at READ COMMITTED',
            HINT = 'the references into {task} are checked after the statement with a new '
                   'snapshot, which the transaction''s own snapshot would replace';
    END IF;
""".format(task=TASK_TABLE)


def deleted_sql(relations) -> str:
    checks = "".join(
        f"""
    SELECT d.id INTO task_id FROM deleted_tasks AS d JOIN {table} AS r ON r.{column} = d.id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation', TABLE = '{TASK_TABLE}', CONSTRAINT = '{name}',
            MESSAGE = 'update or delete on table "{TASK_TABLE}" violates reference "{name}" '
                      'on table "{table}"',
            DETAIL = format('Key (id)=(%s) is still referenced from table "{table}".', task_id);
    END IF;"""
        for _, _, table, _, column, name in relations
    )
    return f"""
CREATE FUNCTION {TASK_TABLE}_deleted_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    task_id uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM deleted_tasks) THEN
        RETURN NULL;
    END IF;
{READ_COMMITTED_ONLY}{checks}
    RETURN NULL;
END
$$;
CREATE TRIGGER {TASK_TABLE}_deleted AFTER DELETE ON {TASK_TABLE}
    REFERENCING OLD TABLE AS deleted_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION {TASK_TABLE}_deleted_check();
"""


def truncated_sql(relations) -> str:
    checks = "".join(
        f"""
    IF EXISTS (SELECT 1 FROM {table} WHERE {column} IS NOT NULL) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation', TABLE = '{TASK_TABLE}', CONSTRAINT = '{name}',
            MESSAGE = 'cannot truncate "{TASK_TABLE}" while rows of "{table}" point at tasks',
            HINT = 'truncate "{table}" in the same statement';
    END IF;"""
        for _, _, table, _, column, name in relations
    )
    return f"""
CREATE FUNCTION {TASK_TABLE}_truncated_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{READ_COMMITTED_ONLY}{checks}
    RETURN NULL;
END
$$;
CREATE TRIGGER {TASK_TABLE}_truncated AFTER TRUNCATE ON {TASK_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TASK_TABLE}_truncated_check();
"""


# A statement-level trigger on the id column alone: the claim and finish statements, which never
# name the id in their SET list, do not fire it.
ID_UNCHANGED_SQL = f"""
CREATE FUNCTION {TASK_TABLE}_id_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'foreign_key_violation', TABLE = '{TASK_TABLE}',
        MESSAGE = 'the id of a task is never updated: other rows point at it';
END
$$;
CREATE TRIGGER {TASK_TABLE}_id_unchanged BEFORE UPDATE OF id ON {TASK_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TASK_TABLE}_id_unchanged();
"""


def install_reference_triggers(apps, schema_editor):
    """Replace the FOREIGN KEY constraints into the task table by the triggers (PostgreSQL)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    relations = list(references(apps))
    with connection.cursor() as cursor:
        for _, _, table, _, column, _ in relations:
            constraints = connection.introspection.get_constraints(cursor, table)
            for constraint, info in sorted(constraints.items()):
                if info["foreign_key"] == (TASK_TABLE, "id") and info["columns"] == [column]:
                    schema_editor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
    for _, _, table, pk, column, name in relations:
        schema_editor.execute(check_reference_sql(table, pk, column, name), None)
    schema_editor.execute(deleted_sql(relations), None)
    schema_editor.execute(truncated_sql(relations), None)
    schema_editor.execute(ID_UNCHANGED_SQL, None)


def remove_reference_triggers(apps, schema_editor):
    """Back to FOREIGN KEY constraints, named as Django names them."""
    if schema_editor.connection.vendor != "postgresql":
        return
    relations = list(references(apps))
    for suffix in ("deleted", "truncated", "id_unchanged"):
        schema_editor.execute(f"DROP TRIGGER {TASK_TABLE}_{suffix} ON {TASK_TABLE}")
    for function in ("deleted_check", "truncated_check", "id_unchanged"):
        schema_editor.execute(f"DROP FUNCTION {TASK_TABLE}_{function}()")
    for model, field, table, _, _, name in relations:
        schema_editor.execute(f"DROP TRIGGER {name}_insert ON {table}")
        schema_editor.execute(f"DROP TRIGGER {name}_update ON {table}")
        schema_editor.execute(f"DROP FUNCTION {name}_check()")
        schema_editor.execute(
            schema_editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0006_taskevent_task_no_db_constraint"),
        ("documents", "0002_search_index"),
        ("litigation", "0002_load_shipped_packages"),
    ]

    operations = [
        # First: on PostgreSQL the AlterField below then finds no constraint to re-create.
        migrations.RunPython(install_reference_triggers, remove_reference_triggers, elidable=False),
        migrations.AlterField(
            model_name="task",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The task this one is a sub-task or a retry of.",
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="children",
                to="tasks_app.task",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(("parent__isnull", False)),
                fields=["parent"],
                name="task_parent",
            ),
        ),
    ]
