"""Broadcast task events to the channel-layer groups `task.<id>` and `user.<owner id>`.

Every event gets a per-task sequence number so a browser can tell it missed something and ask
for a snapshot. With the Redis pub/sub channel layer (the configured default) a group message is
a single PUBLISH of the layer's msgpack encoding, so one Lua script call over one long-lived
Redis connection per process numbers the event and publishes it to both groups: one socket
write, no event loop, no `async_to_sync(group_send)` per call (4.7 ms each, measured here).
Any other layer (an in-memory one in a test) goes through `group_send`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
import time

import msgpack
import redis
from asgiref.sync import async_to_sync
from django.conf import settings

logger = logging.getLogger(__name__)

PUBSUB_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"
SEQ_KEY = "casework:seq:{task_id}"
SEQ_TTL_SECONDS = 7 * 24 * 3600
EVENT_MESSAGE_TYPE = "task.event"
# Replies of written events are read once this many wait (and by flush and send).
READ_REPLIES_EVERY = 64
# flush() waits at most this long for the sender thread to write what it was handed.
FLUSH_TIMEOUT_SECONDS = 5.0
# After Redis could not be reached, events are dropped for this long before the next try.
SEND_RETRY_PAUSE_SECONDS = 5.0
# A connection unused this long is checked (one PING) before the next event is written to it:
# a write to a connection Redis closed meanwhile would be lost without an error.
IDLE_CHECK_SECONDS = 30.0
CONNECTION_NAME = "casework-events"

# One event. KEYS: its sequence counter, then its group channels. ARGV: the counter's time to
# live and the msgpack map missing only its last value (the sequence number). The script numbers
# the event, appends the number, publishes it to every group and returns the number.
_PUBLISH_SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local payload = ARGV[2] .. cmsgpack.pack(seq)
for i = 2, #KEYS do
  redis.call('PUBLISH', KEYS[i], payload)
end
return seq
"""
_PUBLISH_SCRIPT_SHA = hashlib.sha1(_PUBLISH_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis's


def task_group(task_id) -> str:
    return f"task.{task_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def _groups(task_id, owner_id) -> list[str]:
    groups = [task_group(task_id)]
    if owner_id is not None:
        groups.append(user_group(owner_id))
    return groups


def _map_without_last_value(message: dict, last_key: str) -> bytes:
    """Encode `message` plus `last_key` as a msgpack map missing only the last value: the
    map's one packing with its header counting one entry more."""
    packed = msgpack.packb(message, use_bin_type=True, default=str)
    size = len(message) + 1
    header = bytes([0x80 | size]) if size < 16 else struct.pack(">BH", 0xDE, size)
    skip = 1 if len(message) < 16 else 3
    return header + packed[skip:] + msgpack.packb(last_key, use_bin_type=True)


class Broadcaster:
    """One per process; lazily connects, reconnects after fork, never raises into a task.

    On the Redis pub/sub layer events are written to one connection per process without
    waiting for Redis's reply: Redis runs a connection's commands in the order they arrive, so
    the events of a process keep their order, and the replies (the sequence numbers, which only
    `send` needs) are read later in bulk. A status change is written by the thread that
    publishes it: one socket write, where handing it to a sender thread cost a pool child
    0.3 ms of CPU a task in wake-ups and hand-overs (bench/throughput.py). A progress event is
    handed to the process's sender thread (`publish_soon`), so a task's progress call costs a
    queue put; a status change published while progress events wait goes behind them.
    """

    def __init__(self):
        self._lock = threading.Lock()  # guards everything below
        self._pid: int | None = None
        self._client: redis.Redis | None = None
        self._url: str | None = None
        self._conn = None  # the connection events are written to (pub/sub layer)
        self._conn_pid: int | None = None
        self._unread = 0  # replies of written events not read yet
        self._down_until = 0.0  # after a failure, events are dropped until then
        self._last_write = 0.0
        self._queue: queue.SimpleQueue | None = None  # the sender thread's
        self._queue_pid: int | None = None
        self._queued = 0  # events handed to the sender thread and not written yet

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def publish(self, *, task_id, owner_id, event: dict) -> None:
        """Write the event to Redis now, unless progress events handed to the sender thread
        still wait (then it goes behind them); the caller waits for no reply.

        Events published by one process go out in the order they were published, so a
        progress event published before a status change is numbered and delivered before it.
        """
        if not self._uses_pubsub():
            self.send(task_id=task_id, owner_id=owner_id, event=event)
            return
        command = self._event_command(task_id, owner_id, event)
        with self._lock:
            if not self._waiting_in_queue():
                self._write(command)
                return
        self._hand_over((task_id, owner_id, event))

    def publish_soon(self, *, task_id, owner_id, event: dict) -> None:
        """Hand the event to this process's sender thread, which encodes and writes it: for
        progress events, so a task's progress call does no I/O."""
        if not self._uses_pubsub():
            self.send(task_id=task_id, owner_id=owner_id, event=event)
            return
        self._hand_over((task_id, owner_id, event))

    def publish_now(self, *, task_id, owner_id, event: dict) -> None:
        """Send the event and wait until Redis has published it (and everything before it)."""
        self.publish(task_id=task_id, owner_id=owner_id, event=event)
        self.flush()

    def flush(self) -> None:
        """Wait until Redis has run every event this process published so far (bounded by
        FLUSH_TIMEOUT_SECONDS for the sender thread and the socket timeout for Redis)."""
        self._wait_for_sender()
        with self._lock:
            self._read_replies()

    def _wait_for_sender(self) -> None:
        """Wait until the sender thread has written every event handed to it so far."""
        with self._lock:
            events = self._queue if self._waiting_in_queue() else None
        if events is not None:
            done = threading.Event()
            events.put(done)
            done.wait(FLUSH_TIMEOUT_SECONDS)

    def _waiting_in_queue(self) -> bool:
        """Events handed to this process's sender thread are not all written yet (caller
        holds the lock)."""
        return self._queued > 0 and self._queue_pid == os.getpid()

    def _event_command(self, task_id, owner_id, event: dict) -> tuple:
        task_id = str(task_id)  # once, for the counter and the group names
        return self._script_command(task_id, _groups(task_id, owner_id), event)

    def _hand_over(self, item: tuple) -> None:
        with self._lock:
            if self._queue_pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._queue_pid = os.getpid()
                self._queued = 0
                threading.Thread(
                    target=self._send_queued,
                    args=(self._queue,),
                    name="casework-broadcast",
                    daemon=True,
                ).start()
            self._queued += 1
            events = self._queue
        events.put(item)

    def _send_queued(self, events: queue.SimpleQueue) -> None:
        """The sender thread: write each handed-over event in turn; answer flush markers."""
        while True:
            item = events.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                command = self._event_command(*item)
            except Exception:  # noqa: BLE001 - one bad event must not stop the thread
                logger.warning("could not encode a broadcast event", exc_info=True)
                command = None
            with self._lock:
                if command is not None:
                    self._write(command)
                self._queued -= 1

    def _write(self, command: tuple) -> None:
        """Write one command to the event connection (caller holds the lock); read the replies
        once READ_REPLIES_EVERY wait. A failure drops this event and, for
        SEND_RETRY_PAUSE_SECONDS, the ones after it: a broadcast is best effort, and a task
        must not wait on an unreachable Redis for every event."""
        if time.monotonic() < self._down_until:
            return
        for attempt in (1, 2):
            try:
                conn = self._connection()
                if time.monotonic() - self._last_write >= IDLE_CHECK_SECONDS:
                    conn = self._checked_connection()
                conn.send_command(*command, check_health=False)
                self._unread += 1
                self._last_write = time.monotonic()
                if self._unread >= READ_REPLIES_EVERY:
                    self._read_replies()
                return
            except (redis.RedisError, OSError):
                # A connection Redis closed while idle fails on first use: one more try on
                # a new connection.
                self._drop_connection()
                if attempt == 2:
                    self._down_until = time.monotonic() + SEND_RETRY_PAUSE_SECONDS
                    logger.warning(
                        "broadcast failed; dropping events for %s s",
                        SEND_RETRY_PAUSE_SECONDS,
                        exc_info=True,
                    )

    def _read_replies(self) -> int | None:
        """Read the replies of every event written so far (caller holds the lock); the last
        one's, or None."""
        last = None
        if self._conn_pid != os.getpid():
            self._conn, self._unread = None, 0  # the parent's connection and replies
            return None
        try:
            while self._unread:
                self._unread -= 1
                try:
                    last = self._conn.read_response()
                except redis.exceptions.NoScriptError:
                    # The script cache was flushed: reconnecting loads it again.
                    logger.warning("broadcast script was not loaded in Redis", exc_info=True)
                    self._drop_connection()
                except redis.ResponseError:
                    logger.warning("broadcast script failed in Redis", exc_info=True)
        except (redis.RedisError, OSError):
            logger.warning("reading broadcast replies failed", exc_info=True)
            self._drop_connection()
        return last

    def _connection(self):
        """The event connection of this process, connected, with the script loaded."""
        if self._conn is None or self._conn_pid != os.getpid():
            # A connection inherited over a fork is the parent's: never written to here.
            self._conn, self._unread = None, 0
            conn = self._client_locked().connection_pool.make_connection()
            conn.client_name = CONNECTION_NAME
            conn.connect()
            conn.send_command("SCRIPT", "LOAD", _PUBLISH_SCRIPT, check_health=False)
            conn.read_response()
            self._conn, self._conn_pid = conn, os.getpid()
            self._last_write = time.monotonic()
        return self._conn

    def _checked_connection(self):
        """The event connection after one round trip on it (raises if Redis closed it)."""
        self._read_replies()  # drops the connection if it fails
        conn = self._connection()
        conn.send_command("PING", check_health=False)
        conn.read_response()
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None and self._conn_pid == os.getpid():
            self._conn.disconnect()
        self._conn, self._unread = None, 0

    def _layer_config(self) -> dict:
        return settings.CHANNEL_LAYERS.get("default", {})

    def _uses_pubsub(self) -> bool:
        return self._layer_config().get("BACKEND") == PUBSUB_BACKEND

    def _redis(self) -> redis.Redis:
        with self._lock:
            return self._client_locked()

    def _client_locked(self) -> redis.Redis:
        """This process's client (caller holds the lock); a new one after a fork."""
        host = self._layer_config().get("CONFIG", {}).get("hosts", [settings.REDIS_URL])[0]
        url = host if isinstance(host, str) else host["address"]
        if self._client is None or self._pid != os.getpid() or self._url != url:
            self._url = url
            self._client = redis.Redis.from_url(
                url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
            )
            self._pid = os.getpid()
        return self._client

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._drop_connection()
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def current_seq(self, task_id) -> int:
        """The sequence number of the last event sent for the task (0 if none)."""
        try:
            value = self._redis().get(SEQ_KEY.format(task_id=task_id))
        except redis.RedisError:
            logger.warning("could not read event sequence of task %s", task_id, exc_info=True)
            return 0
        return int(value or 0)

    def send(self, *, task_id, owner_id, event: dict) -> int | None:
        """Send `event` to the task's and the owner's groups; return its sequence number.

        A broadcast is best effort: the row holds the truth and a client that missed an event
        resynchronises from a snapshot, so a Redis failure is logged, not raised.
        """
        groups = _groups(task_id, owner_id)
        try:
            if self._uses_pubsub():
                return self._send_pubsub(task_id, groups, event)
            return self._send_layer(task_id, groups, event)
        except (redis.RedisError, OSError):
            logger.warning("broadcast of task %s event failed", task_id, exc_info=True)
            return None

    def _send_pubsub(self, task_id, groups: list[str], event: dict) -> int | None:
        command = self._script_command(task_id, groups, event)
        self._wait_for_sender()  # behind what the sender thread was handed
        with self._lock:
            self._read_replies()  # so the next reply read is this event's
            self._write(command)
            seq = self._read_replies()
        return None if seq is None else int(seq)

    def _script_command(self, task_id, groups: list[str], event: dict) -> tuple:
        """The script call that numbers the event and publishes it to `groups`."""
        prefix = self._layer_config().get("CONFIG", {}).get("prefix", "asgi")
        keys = [SEQ_KEY.format(task_id=task_id), *(f"{prefix}__group__{g}" for g in groups)]
        message = {"type": EVENT_MESSAGE_TYPE, "event": event}
        args = [SEQ_TTL_SECONDS, _map_without_last_value(message, "seq")]
        return ("EVALSHA", _PUBLISH_SCRIPT_SHA, len(keys), *keys, *args)

    def _send_layer(self, task_id, groups: list[str], event: dict) -> int:
        from channels.layers import get_channel_layer

        seq = int(self._redis().incr(SEQ_KEY.format(task_id=task_id)))
        layer = get_channel_layer()
        message = {"type": EVENT_MESSAGE_TYPE, "event": event, "seq": seq}
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
        return seq


broadcaster = Broadcaster()
# A fork can happen while another thread holds the lock (the sender thread mid-write); the
# child starts with a free one. Its connection and sender thread are remade on first use.
os.register_at_fork(after_in_child=broadcaster._reset_lock)
