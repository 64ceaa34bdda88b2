"""The benchmarks' plain-DRF baselines (bench/plain.py) answer what the product answers.

A baseline that fails is a benchmark that measures nothing (a 500 answers fast); one that
reads more or less than the product flatters or wrongs it.
"""

import pytest
from django.test import override_settings

from tasks_app.models import Task, TaskStatus
from tests.tasks_app.api_support import client_for

pytestmark = pytest.mark.django_db


@override_settings(ROOT_URLCONF="bench.urls")
@pytest.mark.parametrize("query", ["", "?status=failed&task_type=add", "?limit=2&offset=1"])
def test_the_default_paginator_list_pages_the_rows_the_product_list_does(user, staff_user, query):
    Task.objects.bulk_create(
        Task(
            owner=None if i % 3 == 0 else user,  # system runs too
            name=f"t{i}",
            task_type="add" if i % 2 else "example",
            status=TaskStatus.FAILED if i % 4 else TaskStatus.SUCCEEDED,
        )
        for i in range(12)
    )
    client = client_for(staff_user)

    product = client.get(f"/api/v1/tasks/{query}")
    baseline = client.get(f"/bench/default-paginator/tasks/{query}")

    assert (product.status_code, baseline.status_code) == (200, 200)
    assert baseline.json()["results"] == product.json()["results"]
    assert baseline.json()["count"] == product.json()["count"]
    assert product.json()["results"]
