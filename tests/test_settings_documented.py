"""Every setting read from the environment is listed in .env.example."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READ = re.compile(r'env(?:\.[a-z_]+)?\(\s*"([A-Z0-9_]+)"')


def test_every_environment_setting_is_in_env_example():
    settings_files = ["base.py", "local.py", "production.py"]
    names = set()
    for name in settings_files:
        names |= set(READ.findall((REPO / "config" / "settings" / name).read_text()))
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))

    assert len(names) > 40
    assert sorted(names - listed) == []
