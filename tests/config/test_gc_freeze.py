"""config.gc_freeze: what a web process loaded is frozen, the URLconf's view modules included."""

import gc
import importlib
import sys

import pytest

from config.gc_freeze import freeze_loaded


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_loads_the_urlconf_first_and_freezes_what_is_alive(unfrozen, monkeypatch):
    frozen_when_loaded = []

    class Resolver:
        @property
        def url_patterns(self):
            frozen_when_loaded.append(gc.get_freeze_count())
            return []

    monkeypatch.setattr("django.urls.get_resolver", Resolver)
    freeze_loaded()

    assert frozen_when_loaded == [0]  # the URLconf was loaded before the freeze
    assert gc.get_freeze_count() > 50_000
    assert gc.get_count()[0] < 100  # a collection ran just before the freeze


def test_the_wsgi_entry_point_freezes(unfrozen):
    sys.modules.pop("config.wsgi", None)
    import config.wsgi  # noqa: F401

    assert gc.get_freeze_count() > 50_000


def test_the_worker_freezes_before_its_pool_forks():
    from celery import signals

    celery_app = importlib.import_module("config.celery_app")  # `config.celery_app` is the app
    receivers = [ref() for _, ref in signals.worker_init.receivers]  # weak references
    assert celery_app._freeze_before_the_pool_forks in receivers
