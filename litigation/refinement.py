"""Optional polishing of contract-review suggestions by an OpenAI-compatible model.

The rules decide what is a finding and cite its span; a model, when one is configured
(``LITIGATION_LLM_BASE_URL``), may only reword each finding's suggested revision so it reads
naturally against the clause it revises. Its text is kept beside the rule's own
(``refined_suggestion``), never instead of it, and any failure — unreachable, slow, an error
status, an answer that isn't the JSON asked for — leaves the findings as the rules wrote them
and is reported in the result, never as a failed review.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings

MAX_SUGGESTION_CHARS = 2000

_SYSTEM_PROMPT = (
    "You are a careful contracts lawyer. For each finding of a contract review you get the "
    "clause text and a suggested revision written by a rule. Rewrite each suggestion as a "
    "concrete revised clause in the contract's language ({language}), keeping its legal "
    "effect; do not add findings or change their meaning. Answer with JSON only: "
    '{{"suggestions": [{{"index": <int>, "text": "<revised wording>"}}]}}.'
)


class RefinementFailed(Exception):
    """The model could not be asked or did not answer as asked."""


def refinement_enabled() -> bool:
    return bool(settings.LITIGATION_LLM_BASE_URL)


def refine_suggestions(findings: list[dict[str, Any]], *, language: str) -> dict[str, Any]:
    """Add ``refined_suggestion`` to the findings the model reworded; return what happened.

    Returns ``{"status": "off"}`` without a configured model, ``{"status": "refined", "model",
    "count"}`` on success and ``{"status": "failed", "model", "error"}`` otherwise.
    """
    if not refinement_enabled():
        return {"status": "off"}
    model = settings.LITIGATION_LLM_MODEL
    candidates = {
        index: finding
        for index, finding in enumerate(findings)
        if finding.get("citation") and finding.get("suggestion")
    }
    if not candidates:
        return {"status": "refined", "model": model, "count": 0}
    try:
        answer = _ask(model, _prompt(candidates), language)
        suggestions = _suggestions(answer, set(candidates))
    except RefinementFailed as exc:
        return {"status": "failed", "model": model, "error": str(exc)}
    for index, text in suggestions.items():
        candidates[index]["refined_suggestion"] = text
    return {"status": "refined", "model": model, "count": len(suggestions)}


def _prompt(candidates: dict[int, dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "index": index,
                "title": finding["title"],
                "clause": finding["citation"]["quote"],
                "suggestion": finding["suggestion"],
            }
            for index, finding in candidates.items()
        ],
        ensure_ascii=False,
    )


def _ask(model: str, prompt: str, language: str) -> str:
    url = settings.LITIGATION_LLM_BASE_URL.rstrip("/") + "/chat/completions"
    headers = {}
    if settings.LITIGATION_LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.LITIGATION_LLM_API_KEY}"
    body = {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": _SYSTEM_PROMPT.format(language=language)},
            {"role": "user", "content": prompt},
        ],
    }
    try:
        response = requests.post(
            url,
            json=body,
            headers=headers,
            timeout=settings.LITIGATION_LLM_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise RefinementFailed(
            f"the model did not answer within {settings.LITIGATION_LLM_TIMEOUT_SECONDS:g} s"
        ) from None
    except requests.RequestException as exc:
        raise RefinementFailed(f"the model could not be reached: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise RefinementFailed(f"the model answered HTTP {response.status_code}")
    try:
        return response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise RefinementFailed("the model's answer is not a chat completion") from None


def _suggestions(content: str, indexes: set[int]) -> dict[int, str]:
    """Parse the model's JSON, keeping only non-empty rewordings of findings it was given."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        items = json.loads(text)["suggestions"]
    except (ValueError, KeyError, TypeError):
        raise RefinementFailed("the model's answer is not the JSON asked for") from None
    if not isinstance(items, list):
        raise RefinementFailed("the model's answer is not the JSON asked for")
    suggestions = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        index, reworded = item.get("index"), item.get("text")
        if index in indexes and isinstance(reworded, str) and reworded.strip():
            suggestions[index] = reworded.strip()[:MAX_SUGGESTION_CHARS]
    return suggestions
