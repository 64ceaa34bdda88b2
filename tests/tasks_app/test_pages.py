"""The task pages render for their owner and never show another user's task."""

import pytest

from tasks_app import services

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client):
    response = client.get("/tasks/")
    assert response.status_code == 302
    assert response["Location"].startswith("/api-auth/login/")


def test_list_detail_and_new_pages_render(client, user):
    task = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 2}).task
    client.force_login(user)

    listing = client.get("/tasks/")
    detail = client.get(f"/tasks/{task.id}/")
    new = client.get("/tasks/new/")

    assert listing.status_code == detail.status_code == new.status_code == 200
    assert f'data-task-id="{task.id}"' in detail.content.decode()
    page = new.content.decode()
    assert '<option value="example">' in page
    assert 'name="seconds" data-kind="number" value="5"' in page
    assert "maintenance.sweep" not in page  # system-only types are not offered


def test_a_foreign_task_page_is_a_404(client, user, other_user):
    task = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 2}).task
    client.force_login(other_user)

    assert client.get(f"/tasks/{task.id}/").status_code == 404


def test_admin_change_page_has_the_live_progress_widget(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    task = services.task_submit(owner=staff_user, task_type="add", params={"x": 1, "y": 2}).task
    client.force_login(staff_user)

    page = client.get(f"/admin/tasks_app/task/{task.id}/change/").content.decode()

    assert f'id="live-progress" data-task-id="{task.id}"' in page
    assert "task_ws.js" in page
