"""The task pages: server-rendered shells whose live parts come from the API and WebSockets."""

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from rest_framework import serializers

from . import registry
from .models import Task, TaskStatus

_INPUTS = (
    (serializers.BooleanField, "checkbox", "bool"),
    (serializers.IntegerField, "number", "number"),
    (serializers.FloatField, "number", "number"),
    (serializers.DecimalField, "number", "number"),
    (serializers.DateField, "date", "text"),
    (serializers.ListField, "json", "json"),
    (serializers.DictField, "json", "json"),
    (serializers.JSONField, "json", "json"),
)


def _field_spec(name: str, field: serializers.Field) -> dict:
    """How the start form renders one parameter of a task type."""
    kind = next(((i, k) for cls, i, k in _INPUTS if isinstance(field, cls)), ("text", "text"))
    initial = None if field.default is serializers.empty else field.default
    if callable(initial):
        initial = None
    return {
        "name": name,
        "input": kind[0],
        "kind": kind[1],
        "required": field.required,
        "initial": initial,
        "initial_json": json.dumps(initial, ensure_ascii=False) if initial is not None else "",
        "help": field.help_text or "",
    }


@login_required
def task_list(request):
    return render(request, "tasks_app/task_list.html", {"statuses": TaskStatus.choices})


@login_required
def task_detail(request, task_id):
    task = get_object_or_404(Task.objects.visible_to(request.user), pk=task_id)
    return render(request, "tasks_app/task_detail.html", {"task": task})


@login_required
def task_new(request):
    types = [
        {
            "name": t.name,
            "description": t.description,
            "fields": [_field_spec(n, f) for n, f in t.params().fields.items() if not f.read_only],
        }
        for t in registry.all_types()
        if t.public
    ]
    return render(request, "tasks_app/task_new.html", {"task_types": types})
