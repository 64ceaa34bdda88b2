"""Analysis packages: the shipped packages load, bad ones are refused naming the field."""

from __future__ import annotations

import copy

import pytest

from litigation.engines.packages import (
    ConditionState,
    PackageError,
    PackageNotFound,
    condition_holds,
    list_packages,
    load_package,
    validate_package,
)


def test_the_four_shipped_packages_load():
    assert [(package["key"], package["case_type"]) for package in list_packages()] == [
        ("contract_dispute_default", "contract_performance"),
        ("labor_dispute_default", "labor_dispute"),
        ("loan_dispute_default", "private_lending"),
        ("sales_contract_default", "sales_contract"),
    ]


def test_limitation_periods_follow_prc_law():
    assert load_package("loan_dispute_default")["limitation_period_days"] == 1095
    assert load_package("labor_dispute_default")["limitation_period_days"] == 365


def test_defaults_are_filled_in():
    package = load_package("loan_dispute_default")
    raw = copy.deepcopy(package)
    del raw["elements"][0]["required"], raw["elements"][0]["weight"], raw["limitation_events"]

    validated = validate_package(raw)

    assert validated["elements"][0]["required"] is True
    assert validated["elements"][0]["weight"] == 1
    assert validated["limitation_events"] == ["due", "payment", "demand", "acknowledgment"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("name"), "name"),
        (lambda p: p.update(elements=[]), "elements"),
        (lambda p: p["elements"][2].update(keywords=[]), "elements[2].keywords"),
        (lambda p: p["elements"][1].update(evidence_kinds=["fax"]), "elements[1].evidence_kinds"),
        (lambda p: p["elements"][1].update(key="loan_agreement"), "elements[1].key"),
        (lambda p: p["evidence_checklist"][0].update(kind="fax"), "evidence_checklist[0].kind"),
        (lambda p: p.update(limitation_period_days="3 years"), "limitation_period_days"),
        (lambda p: p["risk_rules"][0].update(severity="fatal"), "risk_rules[0].severity"),
        (
            lambda p: p["risk_rules"][0].update(when={"element_missing": "no_such"}),
            "risk_rules[0].when.element_missing",
        ),
        (
            lambda p: p["risk_rules"][1].update(when={"all": [{"phase": "x"}]}),
            "risk_rules[1].when.all[0].phase",
        ),
        (lambda p: p.update(limitation_events=["birthday"]), "limitation_events"),
    ],
)
def test_a_bad_package_is_refused_naming_the_field(change, field):
    package = copy.deepcopy(load_package("loan_dispute_default"))
    change(package)

    with pytest.raises(PackageError) as error:
        validate_package(package)

    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")


@pytest.mark.parametrize("key", ["no_such_package", "../settings", ""])
def test_unknown_package_keys_are_not_found(key):
    with pytest.raises(PackageNotFound):
        load_package(key)


def test_conditions_combine_over_the_analysis_state():
    state = ConditionState(
        position="plaintiff",
        element_status={"fund_delivery": "missing", "demand": "supported"},
        evidence_kinds=frozenset({"contract", "chat_record"}),
        limitation_status="expiring_soon",
    )

    assert condition_holds({"element_missing": "fund_delivery"}, state)
    assert condition_holds({"element_supported": ["fund_delivery", "demand"]}, state)
    assert condition_holds({"evidence_kind_missing": "bank_record"}, state)
    assert not condition_holds({"evidence_kind_present": "bank_record"}, state)
    assert condition_holds(
        {
            "all": [
                {"position": ["plaintiff", "third_party"]},
                {"limitation_status": "expiring_soon"},
            ]
        },
        state,
    )
    assert not condition_holds(
        {"any": [{"position": "defendant"}, {"not": {"position": "plaintiff"}}]}, state
    )
