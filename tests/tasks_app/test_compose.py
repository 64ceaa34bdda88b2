"""docker-compose.yml: it parses, and every module, command, queue and setting it names exists."""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from tasks_app.management.commands.check_casework import CHECKS
from tasks_app.models import Queue

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SETTINGS_SOURCE = "\n".join(p.read_text() for p in (REPO / "config" / "settings").glob("*.py"))
ENV_EXAMPLE = (REPO / ".env.example").read_text()
WORKERS = {
    "worker-high": ("high_priority", 2),
    "worker-medium": ("medium_priority,default", 2),
    "worker-low": ("low_priority", 1),
}


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_stack_has_every_service():
    assert set(SERVICES) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker-high",
        "worker-medium",
        "worker-low",
        "beat",
        "relay",
        "flower",
    }


@pytest.mark.parametrize("service", sorted(WORKERS))
def test_workers_consume_their_queues_with_their_concurrency_and_check_their_own_node(service):
    queues, concurrency = WORKERS[service]
    argv = command_of(service)
    assert argv[:4] == ["celery", "-A", "config", "worker"]
    assert option(argv, "-Q") == queues
    assert set(queues.split(",")) <= set(Queue.values)
    assert int(option(argv, "-c")) == concurrency
    node = option(argv, "-n")
    health = SERVICES[service]["healthcheck"]["test"]
    assert health[:4] == ["CMD", "python", "manage.py", "check_casework"]
    assert option(health, "--worker") == node
    assert set(option(health, "--only").split(",")) <= set(CHECKS)
    assert SERVICES[service]["restart"] == "unless-stopped"


def test_beat_runs_the_database_scheduler_and_is_checked_by_its_heartbeat():
    argv = command_of("beat")
    assert argv[:4] == ["celery", "-A", "config", "beat"]
    health = SERVICES["beat"]["healthcheck"]["test"]
    assert "beat" in option(health, "--only").split(",")


def test_the_relay_runs_as_a_process_of_its_own_and_is_checked():
    assert COMPOSE["x-app"]["environment"]["CASEWORK_RELAY"] == "process"
    assert command_of("relay") == ["python", "manage.py", "relay"]
    health = SERVICES["relay"]["healthcheck"]["test"]
    assert "relay" in option(health, "--only").split(",")
    assert SERVICES["relay"]["restart"] == "unless-stopped"


def test_every_manage_py_command_named_exists():
    commands = get_commands()
    named = set()
    for service in SERVICES.values():
        texts = [service.get("command", "")]
        texts.append(" ".join(service.get("healthcheck", {}).get("test", [])))
        for text in texts:
            named |= set(re.findall(r"manage\.py (\w+)", str(text)))
    assert named >= {"migrate", "ensure_admin", "setup_periodic_tasks", "check_casework", "relay"}
    assert named <= set(commands)


def test_every_module_named_exists():
    app = SERVICES["web"]["command"].split()[-1]
    module, _, attribute = app.partition(":")
    assert (module, attribute) == ("config.asgi", "application")
    for name in (module, "config.celery_app", "tasks_app.beat"):
        assert importlib.util.find_spec(name) is not None, name
    settings_module = COMPOSE["x-app"]["environment"]["DJANGO_SETTINGS_MODULE"]
    assert importlib.util.find_spec(settings_module) is not None


def test_every_setting_named_is_read_by_the_settings_and_listed_in_env_example():
    names = set(COMPOSE["x-app"]["environment"]) - {"DJANGO_SETTINGS_MODULE"}
    text = (REPO / "docker-compose.yml").read_text()
    names |= set(re.findall(r"\$\{(\w+)", text))
    compose_only = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH"}
    for name in names - compose_only:
        assert f'"{name}"' in SETTINGS_SOURCE, f"{name} is not read by config/settings"
    for name in names:
        assert re.search(rf"^{name}=", ENV_EXAMPLE, re.M), f"{name} missing from .env.example"


def test_secrets_have_no_defaults_and_redis_is_durable():
    text = (REPO / "docker-compose.yml").read_text()
    for secret in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "CASEWORK_WEBHOOK_SECRET",
    ):
        uses = re.findall(rf"\$\{{{secret}([^}}]*)\}}", text)
        assert uses and all(use.startswith(":?") for use in uses), secret
    redis = SERVICES["redis"]["command"]
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    assert "--requirepass" in redis
    assert "--basic-auth=${FLOWER_BASIC_AUTH" in SERVICES["flower"]["command"]
    assert set(COMPOSE["volumes"]) == {"pgdata", "redisdata", "media"}
