"""The shared Redis cache stores JSON, never pickle."""

import pickle

import pytest
from django.core.cache import cache

from tasks_app.cache_serializer import JSONSerializer


def _raw(key: str) -> bytes:
    client = cache._cache.get_client(key, write=False)
    return client.get(cache.make_and_validate_key(key))


def test_values_are_stored_as_json_and_read_back(clean_redis):
    cache.set("history", [1732270000.25, 1732270001.5], 60)
    cache.set("state", {"queue_depth": {"high_priority": 3}, "workers_online": 2}, 60)

    assert _raw("history") == b"[1732270000.25,1732270001.5]"
    assert cache.get("history") == [1732270000.25, 1732270001.5]
    assert cache.get("state") == {"queue_depth": {"high_priority": 3}, "workers_online": 2}


def test_integers_stay_raw_so_incr_works(clean_redis):
    cache.set("n", 41, 60)
    assert cache.incr("n") == 42
    assert _raw("n") == b"42"


def test_a_pickle_planted_in_redis_is_never_unpickled(clean_redis):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled",))

    client = cache._cache.get_client("planted", write=True)
    client.set(cache.make_and_validate_key("planted"), pickle.dumps(Boom()))
    with pytest.raises(ValueError):
        cache.get("planted")


def test_values_json_cannot_hold_are_refused_when_stored():
    with pytest.raises(TypeError):
        JSONSerializer().dumps({"when": object()})
