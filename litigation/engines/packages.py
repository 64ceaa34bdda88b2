"""Analysis packages: the claim elements, evidence checklist and risk rules of a case type.

Packages are data (``litigation/packages/*.json``) so that a lawyer can read and change them
without touching code. ``validate_package`` checks a package dict and returns it with
defaults filled in, raising ``PackageError`` that names the bad field ("elements[2].keywords")
so a broken package is refused with a message someone can act on. Risk rules carry a small
declarative condition, evaluated by ``condition_holds``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litigation.engines.evidence import EVIDENCE_KINDS
from litigation.engines.facts import EVENT_KINDS
from litigation.engines.limitation import DEFAULT_RELEVANT_KINDS, STATUSES

PACKAGES_DIR = Path(__file__).resolve().parent.parent / "packages"
POSITIONS = ("plaintiff", "defendant", "third_party")
SEVERITIES = ("high", "medium", "low")
EVENT_KIND_NAMES = (*EVENT_KINDS, "due")

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_ELEMENT_CONDITIONS = ("element_missing", "element_weak", "element_supported")
_KIND_CONDITIONS = ("evidence_kind_missing", "evidence_kind_present")
_CONDITIONS = (*_ELEMENT_CONDITIONS, *_KIND_CONDITIONS, "limitation_status", "position")


class PackageError(ValueError):
    """A package is malformed; ``field`` is the path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PackageNotFound(PackageError):
    """No package file has the requested key."""


@dataclass(frozen=True)
class ConditionState:
    """What a risk-rule condition can look at: the position and the analysis outcome."""

    position: str
    element_status: Mapping[str, str] = field(default_factory=dict)
    evidence_kinds: frozenset[str] = frozenset()
    limitation_status: str = "unknown"


def list_packages() -> list[dict[str, str]]:
    """Return ``{key, name, case_type, description}`` for every shipped package, by key."""
    return [
        {name: package[name] for name in ("key", "name", "case_type", "description")}
        for package in (load_package(path.stem) for path in sorted(PACKAGES_DIR.glob("*.json")))
    ]


def load_package(key: str) -> dict[str, Any]:
    """Load and validate the shipped package ``key`` (e.g. "loan_dispute_default")."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise PackageNotFound("key", f"{key!r} is not a package key")
    path = PACKAGES_DIR / f"{key}.json"
    if not path.is_file():
        raise PackageNotFound("key", f"no package named {key!r}")
    return validate_package(json.loads(path.read_text(encoding="utf-8")))


def validate_package(data: Any) -> dict[str, Any]:
    """Return a checked copy of a package dict with defaults filled in.

    Element ``required`` defaults to True and ``weight`` to 1; checklist ``required`` to
    False; ``limitation_events`` to the limitation check's defaults. Raises
    ``PackageError`` naming the first bad field.
    """
    if not isinstance(data, Mapping):
        raise PackageError("package", "must be an object")
    package = {name: _string(data, name, name) for name in ("name", "description")}
    package["key"] = _identifier(data, "key", "key")
    package["case_type"] = _identifier(data, "case_type", "case_type")
    package["elements"] = _elements(data.get("elements"))
    element_keys = {element["key"] for element in package["elements"]}
    package["evidence_checklist"] = _checklist(data.get("evidence_checklist"))
    package["key_terms"] = _key_terms(data.get("key_terms", []))
    package["limitation_period_days"] = _positive_int(data, "limitation_period_days")
    package["limitation_basis"] = _string(data, "limitation_basis", "limitation_basis")
    package["limitation_events"] = _limitation_events(
        data.get("limitation_events", list(DEFAULT_RELEVANT_KINDS))
    )
    package["risk_rules"] = _risk_rules(data.get("risk_rules", []), element_keys)
    return package


def validate_condition(when: Any, path: str, element_keys: set[str]) -> dict[str, Any]:
    """Check one risk-rule condition and return it; see ``condition_holds`` for the forms."""
    if not isinstance(when, Mapping) or len(when) != 1:
        raise PackageError(path, "must be an object with exactly one condition")
    ((name, value),) = when.items()
    where = f"{path}.{name}"
    if name in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise PackageError(where, "must be a non-empty list of conditions")
        return {
            name: [
                validate_condition(item, f"{where}[{index}]", element_keys)
                for index, item in enumerate(value)
            ]
        }
    if name == "not":
        return {"not": validate_condition(value, where, element_keys)}
    if name not in _CONDITIONS:
        raise PackageError(where, f"unknown condition; expected one of {', '.join(_CONDITIONS)}")
    allowed = _allowed_values(name, element_keys)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise PackageError(where, "must be a string or a non-empty list of strings")
    for item in values:
        if item not in allowed:
            raise PackageError(where, f"{item!r} is not one of {', '.join(sorted(allowed))}")
    return {name: value}


def condition_holds(when: Mapping[str, Any], state: ConditionState) -> bool:
    """Return True if the condition holds for the analysis ``state``.

    Forms: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``,
    ``{"element_missing" | "element_weak" | "element_supported": key or [keys]}`` (any of),
    ``{"evidence_kind_missing" | "evidence_kind_present": kind or [kinds]}`` (any of),
    ``{"limitation_status": status or [statuses]}``, ``{"position": position or [...]}``.
    """
    ((name, value),) = when.items()
    if name == "all":
        return all(condition_holds(item, state) for item in value)
    if name == "any":
        return any(condition_holds(item, state) for item in value)
    if name == "not":
        return not condition_holds(value, state)
    values = [value] if isinstance(value, str) else list(value)
    if name in _ELEMENT_CONDITIONS:
        wanted = name.removeprefix("element_")
        return any(state.element_status.get(key) == wanted for key in values)
    if name == "evidence_kind_missing":
        return any(kind not in state.evidence_kinds for kind in values)
    if name == "evidence_kind_present":
        return any(kind in state.evidence_kinds for kind in values)
    if name == "limitation_status":
        return state.limitation_status in values
    return state.position in values


def _allowed_values(name: str, element_keys: set[str]) -> set[str]:
    if name in _ELEMENT_CONDITIONS:
        return element_keys
    if name in _KIND_CONDITIONS:
        return set(EVIDENCE_KINDS)
    if name == "limitation_status":
        return set(STATUSES)
    return set(POSITIONS)


def _elements(value: Any) -> list[dict[str, Any]]:
    items = _list_of_objects(value, "elements", allow_empty=False)
    elements = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"elements[{index}]"
        key = _identifier(item, "key", f"{path}.key")
        if key in seen:
            raise PackageError(f"{path}.key", f"duplicate element key {key!r}")
        seen.add(key)
        elements.append(
            {
                "key": key,
                "name": _string(item, "name", f"{path}.name"),
                "description": _string(item, "description", f"{path}.description", default=""),
                "keywords": _strings(item.get("keywords"), f"{path}.keywords"),
                "evidence_kinds": _kinds(item.get("evidence_kinds", []), f"{path}.evidence_kinds"),
                "required": _bool(item, "required", f"{path}.required", default=True),
                "weight": _weight(item, f"{path}.weight"),
            }
        )
    return elements


def _checklist(value: Any) -> list[dict[str, Any]]:
    checklist = []
    for index, item in enumerate(_list_of_objects(value, "evidence_checklist")):
        path = f"evidence_checklist[{index}]"
        kind = _string(item, "kind", f"{path}.kind")
        if kind not in EVIDENCE_KINDS:
            raise PackageError(f"{path}.kind", f"{kind!r} is not an evidence kind")
        checklist.append(
            {
                "kind": kind,
                "name": _string(item, "name", f"{path}.name"),
                "required": _bool(item, "required", f"{path}.required", default=False),
            }
        )
    return checklist


def _key_terms(value: Any) -> list[dict[str, Any]]:
    terms = []
    for index, item in enumerate(_list_of_objects(value, "key_terms")):
        path = f"key_terms[{index}]"
        terms.append(
            {
                "key": _identifier(item, "key", f"{path}.key"),
                "name": _string(item, "name", f"{path}.name"),
                "keywords": _strings(item.get("keywords"), f"{path}.keywords"),
            }
        )
    return terms


def _risk_rules(value: Any, element_keys: set[str]) -> list[dict[str, Any]]:
    rules = []
    seen: set[str] = set()
    for index, item in enumerate(_list_of_objects(value, "risk_rules")):
        path = f"risk_rules[{index}]"
        key = _identifier(item, "key", f"{path}.key")
        if key in seen:
            raise PackageError(f"{path}.key", f"duplicate risk rule key {key!r}")
        seen.add(key)
        severity = _string(item, "severity", f"{path}.severity")
        if severity not in SEVERITIES:
            raise PackageError(f"{path}.severity", f"must be one of {', '.join(SEVERITIES)}")
        rules.append(
            {
                "key": key,
                "severity": severity,
                "title": _string(item, "title", f"{path}.title"),
                "when": validate_condition(item.get("when"), f"{path}.when", element_keys),
                "reason": _string(item, "reason", f"{path}.reason"),
            }
        )
    return rules


def _limitation_events(value: Any) -> list[str]:
    kinds = _strings(value, "limitation_events")
    for kind in kinds:
        if kind not in EVENT_KIND_NAMES:
            raise PackageError(
                "limitation_events",
                f"{kind!r} is not an event kind; expected {', '.join(EVENT_KIND_NAMES)}",
            )
    return kinds


def _list_of_objects(value: Any, path: str, *, allow_empty: bool = True) -> list[Mapping]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise PackageError(
            path, "must be a non-empty list" if not allow_empty else "must be a list"
        )
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise PackageError(f"{path}[{index}]", "must be an object")
    return value


def _string(data: Mapping, name: str, path: str, *, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise PackageError(path, "must be a non-empty string")
    return value


def _identifier(data: Mapping, name: str, path: str) -> str:
    value = _string(data, name, path)
    if not _KEY.match(value):
        raise PackageError(path, "must be lower_snake_case letters, digits and underscores")
    return value


def _strings(value: Any, path: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise PackageError(path, "must be a non-empty list of non-empty strings")
    return list(value)


def _kinds(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise PackageError(path, "must be a list of evidence kinds")
    for kind in value:
        if kind not in EVIDENCE_KINDS:
            raise PackageError(path, f"{kind!r} is not an evidence kind")
    return list(value)


def _bool(data: Mapping, name: str, path: str, *, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise PackageError(path, "must be true or false")
    return value


def _weight(data: Mapping, path: str) -> float:
    value = data.get("weight", 1)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PackageError(path, "must be a positive number")
    return value


def _positive_int(data: Mapping, name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PackageError(name, "must be a positive whole number of days")
    return value


def package_element_keys(package: Mapping[str, Any]) -> Sequence[str]:
    """Return the keys of the package's claim elements, in package order."""
    return [element["key"] for element in package["elements"]]
