"""Every endpoint and page, called with another user's ids, answers 404 and leaks nothing."""

import json
import re

import pytest
from django.core.files.base import ContentFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from documents.models import Document
from tasks_app import services
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"\{([^}]+)\}")


def foreign_objects(owner) -> dict[str, str]:
    task = services.task_submit(owner=owner, task_type="add", params={"x": 1, "y": 2}).task
    document = Document.objects.create(
        owner=owner,
        title="secret.txt",
        original_filename="secret.txt",
        text="机密",
        status="ready",
        size=6,
        sha256="0" * 64,
    )
    document.file.save("secret.txt", ContentFile("机密".encode()), save=True)
    return {"task": str(task.id), "document": str(document.pk)}


def value_for(name: str, ids: dict[str, str]) -> str:
    return ids["document"] if "document" in name else ids["task"]


def operations_with_ids():
    schema = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    for path, methods in schema["paths"].items():
        names = PARAM.findall(path)
        if not names:
            continue
        for method in methods:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, names


def test_every_operation_with_another_users_ids_is_a_404(user, other_user):
    ids = foreign_objects(other_user)
    client = APIClient()
    client.force_authenticate(user)
    leaks = []
    checked = 0
    for method, path, names in operations_with_ids():
        url = path
        for name in names:
            url = url.replace("{" + name + "}", value_for(name, ids))
        response = getattr(client, method)(url, {}, format="json")
        checked += 1
        body = response.content.decode(errors="replace")
        if response.status_code != 404 or ids["task"] in body or "机密" in body:
            leaks.append(f"{method.upper()} {url} → {response.status_code} {body[:200]}")
    assert checked >= 15
    assert leaks == []
    # Nothing was changed either: the other user's task is still there, untouched.
    task = Task.objects.get(pk=ids["task"])
    assert (task.status, task.name) == ("pending", "add")
    assert Document.objects.filter(pk=ids["document"]).exists()


def test_pages_with_another_users_task_are_a_404(client, user, other_user):
    ids = foreign_objects(other_user)
    client.force_login(user)

    assert client.get(f"/tasks/{ids['task']}/").status_code == 404
    listing = client.get("/api/v1/tasks/").json()
    assert ids["task"] not in json.dumps(listing)
    assert client.get("/api/v1/documents/search?q=机密").json()["results"] == []
