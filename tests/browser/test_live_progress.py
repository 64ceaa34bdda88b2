"""The live pages in headless Chromium against Daphne, a real worker and Redis."""

import re

import pytest
from playwright.sync_api import expect

from tasks_app.models import Task
from tests.browser.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"


def test_start_a_task_from_the_page_and_watch_it_finish(daphne, worker, browser):
    UserFactory(username="alice")
    page = log_in(browser, daphne, "alice", PASSWORD)

    page.goto(f"{daphne}/tasks/new/")
    page.select_option("#task-type", "example")
    page.fill("fieldset[data-type=example] input[name=seconds]", "3")
    page.fill("fieldset[data-type=example] input[name=name]", "browser run")
    page.click("#new-task [type=submit]")
    page.wait_for_url(re.compile(r".*/tasks/[0-9a-f-]{36}/$"))

    expect(page.locator("#mode")).to_have_text("● live")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#percent")).to_have_text("100")
    expect(page.locator("#bar")).to_have_attribute("style", "width: 100%;")
    expect(page.locator("#result")).to_contain_text('"name": "browser run"')
    expect(page.locator("#events li")).to_have_count(4)
    task = Task.objects.get()
    assert task.status == "succeeded"
    assert task.params == {"name": "browser run", "seconds": 3}


def test_a_cut_socket_falls_back_to_polling_and_still_shows_completion(daphne, worker, browser):
    UserFactory(username="bob")
    page = log_in(
        browser, daphne, "bob", PASSWORD, ws_options="{backoffBase: 100, pollInterval: 500}"
    )
    routes, cut = [], {"on": False}

    def route(ws):
        if cut["on"]:
            ws.close(code=4000, reason="cut by the test")
            return
        routes.append(ws)
        ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/ws/tasks/.*"), route)
    page.goto(f"{daphne}/tasks/new/")
    page.select_option("#task-type", "example")
    page.fill("fieldset[data-type=example] input[name=seconds]", "6")
    page.click("#new-task [type=submit]")
    page.wait_for_url(re.compile(r".*/tasks/[0-9a-f-]{36}/$"))
    expect(page.locator("#mode")).to_have_text("● live")
    expect(page.locator("#status")).to_have_text("running", timeout=10_000)

    cut["on"] = True
    for ws in routes:
        ws.close(code=4000, reason="cut by the test")

    expect(page.locator("#mode")).to_have_text("○ polling", timeout=10_000)
    expect(page.locator("#status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#percent")).to_have_text("100")
    assert Task.objects.get().status == "succeeded"


def test_a_second_users_pages_never_show_the_first_users_task(daphne, worker, browser):
    UserFactory(username="carol")
    UserFactory(username="dave")
    carol = log_in(browser, daphne, "carol", PASSWORD)
    carol.goto(f"{daphne}/tasks/new/")
    carol.select_option("#task-type", "add")
    carol.fill("fieldset[data-type=add] input[name=x]", "2")
    carol.fill("fieldset[data-type=add] input[name=y]", "3")
    carol.click("#new-task [type=submit]")
    carol.wait_for_url(re.compile(r".*/tasks/[0-9a-f-]{36}/$"))
    expect(carol.locator("#status")).to_have_text("succeeded", timeout=20_000)
    task_id = str(Task.objects.get().id)

    dave = log_in(browser, daphne, "dave", PASSWORD)
    expect(dave.locator("#empty")).to_be_visible()
    expect(dave.locator(f"tr[data-task-id='{task_id}']")).to_have_count(0)
    response = dave.goto(f"{daphne}/tasks/{task_id}/")
    assert response.status == 404
    carol.goto(f"{daphne}/tasks/")
    expect(carol.locator(f"tr[data-task-id='{task_id}']")).to_have_count(1)


def test_a_contract_review_report_is_linked_and_shown_on_the_task_page(daphne, worker, browser):
    from tasks_app import services

    owner = UserFactory(username="erin")
    contract = (
        "买卖合同\n第一条 甲方向乙方购买设备，总价款人民币100万元。\n"
        "第二条 本合同期满后自动续期一年。\n第三条 乙方违约的，应支付合同总价款50%的违约金。\n"
    )
    task = services.task_submit(
        owner=owner, task_type="litigation.contract_review", params={"text": contract}
    ).task
    page = log_in(browser, daphne, "erin", PASSWORD)

    page.goto(f"{daphne}/tasks/{task.id}/")

    expect(page.locator("#status")).to_have_text("succeeded", timeout=30_000)
    links = page.locator("#downloads a.download")
    expect(links).to_have_count(3)
    expect(page.locator("#report iframe")).to_have_attribute("sandbox", "")
    frame = page.frame_locator("#report iframe")
    expect(frame.locator("body")).to_contain_text("自动续期")
