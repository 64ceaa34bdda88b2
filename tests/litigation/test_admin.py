"""Analysis packages in the admin and from manage.py: edits the engine would refuse are
refused naming the bad field; loading the shipped packages is idempotent."""

from __future__ import annotations

import copy
import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from litigation import services
from litigation.models import AnalysisPackage
from tests.factories import UserFactory
from tests.litigation.conftest import run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def change_url(package: AnalysisPackage) -> str:
    return reverse("admin:litigation_analysispackage_change", args=[package.pk])


def form_data(package: AnalysisPackage, definition: dict, **extra) -> dict:
    return {
        "is_active": "on",
        "definition": json.dumps(definition, ensure_ascii=False),
        **extra,
    }


def test_admin_refuses_a_definition_naming_the_bad_field(admin_client, packages):
    package = AnalysisPackage.objects.get(key="loan_dispute_default")
    broken = copy.deepcopy(package.definition)
    broken["elements"][2]["keywords"] = "还款"
    before = package.updated_at

    response = admin_client.post(change_url(package), form_data(package, broken))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["definition"]
    assert errors == ["elements[2].keywords: must be a non-empty list of non-empty strings"]
    package.refresh_from_db()
    assert package.updated_at == before
    assert isinstance(package.definition["elements"][2]["keywords"], list)


def test_admin_edit_takes_effect_in_the_next_analysis(admin_client, user, packages, loan_case):
    package = AnalysisPackage.objects.get(key="loan_dispute_default")
    edited = copy.deepcopy(package.definition)
    edited["name"] = "民间借贷（本所版）"
    edited["limitation_period_days"] = 365

    response = admin_client.post(change_url(package), form_data(package, edited))

    assert response.status_code == 302, response.context["adminform"].form.errors
    package.refresh_from_db()
    assert package.name == "民间借贷（本所版）"
    result = run_task(
        user,
        "litigation.case_analysis",
        {
            "package_id": "loan_dispute_default",
            "case_position": "plaintiff",
            "document_ids": [document.pk for document in loan_case],
            "today": "2026-11-22",
        },
    ).result
    assert result["package"]["name"] == "民间借贷（本所版）"
    assert result["limitation"]["status"] == "expired"


def test_admin_changelist_and_change_page_render(
    admin_client, packages, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        changelist = admin_client.get(reverse("admin:litigation_analysispackage_changelist"))
    page = admin_client.get(change_url(AnalysisPackage.objects.get(key="labor_dispute_default")))

    assert changelist.status_code == page.status_code == 200
    assert "labor_dispute_default" in changelist.content.decode()


def test_a_definition_whose_key_differs_from_the_package_is_refused(packages):
    package = AnalysisPackage.objects.get(key="loan_dispute_default")
    package.definition = {**package.definition, "key": "other_key"}

    with pytest.raises(ValidationError) as error:
        package.full_clean()

    assert error.value.message_dict["definition"] == [
        "key: must be 'loan_dispute_default', the package's key, not 'other_key'"
    ]


def test_package_save_names_the_bad_field(packages):
    with pytest.raises(ValidationError) as error:
        services.package_save(definition={"key": "x", "name": "x"})

    assert error.value.message_dict["definition"][0].startswith("description:")


def test_loading_the_shipped_packages_is_idempotent_and_keeps_admin_edits(packages):
    AnalysisPackage.objects.filter(key="sales_contract_default").delete()
    AnalysisPackage.objects.filter(key="loan_dispute_default").update(name="edited")
    out = StringIO()

    call_command("load_analysis_packages", stdout=out)
    call_command("load_analysis_packages", stdout=out)

    assert out.getvalue().splitlines() == [
        "created: 1 (sales_contract_default)",
        "updated: 0",
        "unchanged: 3 (contract_dispute_default, labor_dispute_default, loan_dispute_default)",
        "created: 0",
        "updated: 0",
        "unchanged: 4 (contract_dispute_default, labor_dispute_default, loan_dispute_default, "
        "sales_contract_default)",
    ]
    assert AnalysisPackage.objects.get(key="loan_dispute_default").name == "edited"


def test_overwrite_restores_the_shipped_definition(packages):
    package = AnalysisPackage.objects.get(key="loan_dispute_default")
    shipped = package.definition
    services.package_save(definition={**shipped, "limitation_period_days": 365}, package=package)

    call_command("load_analysis_packages", "--overwrite", stdout=StringIO())

    package.refresh_from_db()
    assert package.definition == shipped


def test_loading_a_broken_package_file_is_refused_and_changes_nothing(packages, tmp_path):
    (tmp_path / "a_good.json").write_text(
        json.dumps(
            {
                **AnalysisPackage.objects.get(key="loan_dispute_default").definition,
                "key": "new_package",
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "b_broken.json").write_text(json.dumps({"key": "broken"}), encoding="utf-8")

    with pytest.raises(CommandError, match="refused: name"):
        call_command("load_analysis_packages", "--dir", str(tmp_path), stdout=StringIO())

    assert not AnalysisPackage.objects.filter(key="new_package").exists()


def test_artifact_changelist_links_each_file_to_its_task_and_download(admin_client, user, packages):
    task = run_task(user, "litigation.contract_review", {"text": "第一条 付款\n尽快付款。"})

    response = admin_client.get(reverse("admin:litigation_artifact_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("admin:tasks_app_task_change", args=[task.pk]) in page
    assert page.count("report.") >= 3
