"""JSON, not pickle, for values in the shared Redis cache.

Django's RedisCache pickles what it stores, so anyone who can write to that Redis could make
every web process and worker run code when it next reads a key. Everything Casework caches
(broker state, beat's heartbeat) is plain JSON. Integers stay raw, as
Django's own serializer keeps them, so `incr`/`decr` work.
"""

from __future__ import annotations

import json


class JSONSerializer:
    def dumps(self, obj) -> bytes | int:
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes):
        try:
            return int(data)
        except ValueError:
            return json.loads(data)
