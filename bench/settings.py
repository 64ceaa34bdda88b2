"""Settings of the benchmark processes: config.settings.bench plus the bench-only pieces.

The plain-DRF comparison views (bench/urls.py) and the no-op task type (bench/task_types.py)
live here so they never ship in the product. Redis database 9 by default, so a benchmark never
drains another engineer's queues; submit throttles are lifted because the load generators
submit thousands of tasks a minute. The active-task cap stays the product's (200): the API
benchmarks' writes come from 64 users in turn (bench/api.py WRITERS).
"""

import os

os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

from config.settings.bench import *  # noqa: E402, F403
from config.settings.bench import CASEWORK_TASK_MODULES, REST_FRAMEWORK  # noqa: E402

ROOT_URLCONF = "bench.urls"
CASEWORK_TASK_MODULES = [*CASEWORK_TASK_MODULES, "bench.task_types"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "submit": "100000000/min",
    },
}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
