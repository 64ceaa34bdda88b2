"""The optional model refinement of review suggestions, against a local OpenAI-compatible
server: used when configured, and a failing model never fails the review."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug import Response

from tasks_app.models import TaskStatus
from tests.fixtures.litigation import load_document
from tests.litigation.conftest import run_task, steps_of

pytestmark = pytest.mark.django_db

CONTRACT = load_document("买卖合同_风险.txt")["text"]
TERMINATION = "甲方有权随时单方解除本合同，且无需承担任何责任。"
REWORDED = "任何一方均可提前三十日书面通知对方解除本合同，并依法承担相应责任。"


@pytest.fixture
def model(settings, httpserver):
    settings.LITIGATION_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.LITIGATION_LLM_API_KEY = "test-key"
    settings.LITIGATION_LLM_MODEL = "test-model"
    settings.LITIGATION_LLM_TIMEOUT_SECONDS = 2.0
    return httpserver


def completion(content: str) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


def review(user):
    return run_task(user, "litigation.contract_review", {"text": CONTRACT})


def test_a_configured_model_rewords_the_suggestions_beside_the_rules_own(user, model):
    asked = []

    def answer(request):
        asked.append(request.get_json())
        findings = json.loads(asked[-1]["messages"][1]["content"])
        target = next(item["index"] for item in findings if item["clause"] == TERMINATION)
        body = {"suggestions": [{"index": target, "text": REWORDED}, {"index": 999, "text": "x"}]}
        return Response(json.dumps(completion(json.dumps(body, ensure_ascii=False))), 200)

    model.expect_request(
        "/v1/chat/completions", method="POST", headers={"Authorization": "Bearer test-key"}
    ).respond_with_handler(answer)

    task = review(user)

    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert [name for name, _ in steps_of(task)] == [
        "load document",
        "review clauses",
        "refine wording",
        "report",
    ]
    assert task.result["refinement"] == {"status": "refined", "model": "test-model", "count": 1}
    termination = next(f for f in task.result["findings"] if f["rule"] == "unilateral_termination")
    assert termination["refined_suggestion"] == REWORDED
    assert termination["suggestion"] != REWORDED
    others = [f for f in task.result["findings"] if f is not termination]
    assert all("refined_suggestion" not in f for f in others)
    assert asked[0]["model"] == "test-model"
    assert asked[0]["temperature"] == 0
    # Findings about something missing cite no clause and are not sent.
    sent = json.loads(asked[0]["messages"][1]["content"])
    assert all(item["clause"] for item in sent)


def test_an_error_status_leaves_the_rules_wording_and_the_review_succeeds(user, model):
    model.expect_request("/v1/chat/completions").respond_with_data("overloaded", status=503)

    task = review(user)

    assert task.status == TaskStatus.SUCCEEDED
    assert task.result["refinement"] == {
        "status": "failed",
        "model": "test-model",
        "error": "the model answered HTTP 503",
    }
    assert all("refined_suggestion" not in f for f in task.result["findings"])


def test_a_slow_model_is_abandoned_after_the_timeout(user, model, settings):
    settings.LITIGATION_LLM_TIMEOUT_SECONDS = 0.2

    def slow(request):
        time.sleep(0.6)
        return Response(json.dumps(completion('{"suggestions": []}')), 200)

    model.expect_request("/v1/chat/completions").respond_with_handler(slow)

    started = time.monotonic()
    task = review(user)

    assert task.status == TaskStatus.SUCCEEDED
    assert task.result["refinement"]["error"] == "the model did not answer within 0.2 s"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "content",
    ["Sure! Here are better suggestions.", '{"suggestions": "none"}', "[]"],
    ids=["prose", "wrong-type", "not-an-object"],
)
def test_an_answer_that_is_not_the_json_asked_for_is_ignored(user, model, content):
    model.expect_request("/v1/chat/completions").respond_with_json(completion(content))

    task = review(user)

    assert task.status == TaskStatus.SUCCEEDED
    assert task.result["refinement"]["status"] == "failed"
    assert task.result["refinement"]["error"] == "the model's answer is not the JSON asked for"


def test_without_a_model_nothing_is_called_and_no_step_is_added(user, httpserver):
    task = review(user)

    assert task.result["refinement"] == {"status": "off"}
    assert "refine wording" not in [name for name, _ in steps_of(task)]
    assert httpserver.log == []
