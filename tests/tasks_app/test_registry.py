"""The registry: what a task type's params become on the row and in the body."""

import pytest
from rest_framework import serializers

from tasks_app.registry import EmptyParams, TaskType


def _noop(ctx):
    return None


class OneParam(serializers.Serializer):
    x = serializers.IntegerField()


@pytest.mark.parametrize("params", [{}, {"unexpected": 1}])
def test_a_type_without_params_keeps_none_exactly_as_its_serializer_would(params):
    kind = TaskType(name="t.none", body=_noop, params=EmptyParams)
    serializer = EmptyParams(data=params)
    assert serializer.is_valid()

    assert kind.validate(params) == dict(serializer.validated_data) == {}
    assert kind.to_json_params(params) == dict(serializer.data) == {}


def test_a_type_with_params_validates_them_and_names_the_field():
    kind = TaskType(name="t.one", body=_noop, params=OneParam)

    assert kind.to_json_params({"x": "3"}) == {"x": 3}
    assert kind.validate({"x": 3}) == {"x": 3}
    with pytest.raises(serializers.ValidationError) as raised:
        kind.validate({"x": "three"})
    assert list(raised.value.detail) == ["x"]
