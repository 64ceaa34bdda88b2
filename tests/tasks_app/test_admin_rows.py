"""Changelist rows written a string each (tasks_app/admin_rows.py) are Django's own markup."""

import datetime
import re

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import result_list
from django.test import RequestFactory
from django.urls import resolve, reverse

from tasks_app.admin import TaskAdmin
from tasks_app.admin_rows import rendered_rows, rows_result_list
from tasks_app.models import Task, TaskStatus

from .api_support import in_status, submit

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tasks_app_task_changelist")


@pytest.fixture
def varied_tasks(user):
    """Rows that take every branch of the task changelist's columns."""
    in_status(user, TaskStatus.SUCCEEDED, name='odd <b>"name"</b> & more')
    in_status(user, TaskStatus.FAILED, name="failed one")
    in_status(user, TaskStatus.RUNNING, name="running one")
    submit(user, name="   ")  # a blank name shows as the empty value, as a link
    system = submit(user, name="a system run")
    Task.objects.filter(pk=system.pk).update(owner=None, priority=4)


def changelist(model_admin, operator, query: str = ""):
    request = RequestFactory().get(f"{CHANGELIST}?{query}" if query else CHANGELIST)
    request.user = operator
    request.resolver_match = resolve(CHANGELIST)  # filters are preserved on the changelist
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None  # as changelist_view sets it without list_editable
    return cl


def djangos_rows(cl) -> list[str]:
    return ["".join(row) for row in result_list(cl)["results"]]


@pytest.mark.parametrize(
    "query",
    ["", "status__exact=failed", "q=one", "o=2.-7", "priority__exact=4", "_popup=1"],
)
def test_task_rows_are_djangos_markup(operator, varied_tasks, query):
    """The tag's context is Django's, rows included (a popup takes Django's own path)."""
    cl = changelist(admin.site._registry[Task], operator, query)
    assert cl.result_list, "the query should list some rows"

    ours = rows_result_list(cl)
    theirs = result_list(cl)

    assert ["".join(row) for row in ours["results"]] == djangos_rows(cl)
    assert ours["result_headers"] == theirs["result_headers"]
    assert ours["num_sorted_fields"] == theirs["num_sorted_fields"]


def test_a_filtered_rows_links_keep_the_filters(operator, varied_tasks):
    cl = changelist(admin.site._registry[Task], operator, "status__exact=failed")

    (row,) = rendered_rows(cl)

    assert "?_changelist_filters=status__exact%3Dfailed" in row


def test_the_changelist_page_renders_djangos_rows(client, operator, varied_tasks, monkeypatch):
    """The whole result table through the override is the table Django's template writes."""
    client.force_login(operator)
    ours = client.get(CHANGELIST).content.decode()
    monkeypatch.setattr(admin.site._registry[Task], "change_list_template", None)
    theirs = client.get(CHANGELIST).content.decode()

    def table(page: str) -> str:
        return re.search(r'<div class="results">.*?</table>', page, re.S).group(0)

    assert "odd &lt;b&gt;&quot;name&quot;&lt;/b&gt; &amp; more" in table(ours)
    assert table(ours) == table(theirs)
    assert ours.count('class="action-select"') == 5


def started_label(task):
    return task.started_at


@admin.display(boolean=True, description="held")
def held(task):
    return task.legal_hold


class EveryColumnAdmin(TaskAdmin):
    """The column kinds items_for_result tells apart, on the task model."""

    list_display = (
        "id",
        "name",
        "legal_hold",
        "started_at",
        "progress",
        "params",
        "callback_url",
        "status",
        "owner",
        "owner_id",
        "duration_seconds",
        held,
        started_label,
        "created_day",
        "nothing",
        "missing_owner_name",
    )
    list_display_links = ("name", "owner")

    @admin.display(description="day")
    def created_day(self, task):
        return task.created_at.date()

    @admin.display(description="nothing", empty_value="(none)")
    def nothing(self, task):
        return None

    @admin.display(description="owner name")
    def missing_owner_name(self, task):
        if task.owner is None:
            raise Task.DoesNotExist  # items_for_result shows the empty value
        return task.owner.username


@pytest.mark.parametrize("links", [("name", "owner"), (), None])
def test_every_column_kind_is_djangos_markup(operator, user, links):
    done = in_status(user, TaskStatus.SUCCEEDED, name="done")
    Task.objects.filter(pk=done.pk).update(callback_url="https://example.test/cb")
    task = submit(user, name="plain")
    Task.objects.filter(pk=task.pk).update(
        owner=None, legal_hold=True, started_at=datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    )
    model_admin = EveryColumnAdmin(Task, admin.site)
    model_admin.list_display_links = links
    cl = changelist(model_admin, operator)

    assert len(cl.result_list) == 2
    assert rendered_rows(cl) == djangos_rows(cl)
