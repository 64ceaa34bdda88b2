"""One group membership per process for the task streams' watchers, on the pub/sub layer.

With Channels' usual pattern every WebSocket consumer joins the group itself, so an event for a
task with a hundred watchers in one Daphne process is taken from Redis once and then decoded,
queued, woken and dispatched a hundred times, once per consumer, before each sends its frame
(the per-watcher half of Daphne's time at 100 watchers in bench/ws_latency.py). Here the
process joins a group once, on a channel of its own, and one loop per group decodes each
event once, encodes its text once and hands the text straight to every local watcher's socket,
in arrival order.

Only for `channels_redis.pubsub` (Casework's transport, where tasks_app.broadcast publishes);
with any other layer the consumers join their groups themselves, as Channels does.

A watcher holds events while it sends a snapshot (on connect and on resync), then sends them
after it, as a consumer's own queue did: a client never sees an event before the snapshot that
precedes it. Messages of another type sent to a group go to each watcher's own channel, so
its handlers run in its own loop as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import OrderedDict
from typing import Protocol

from channels.consumer import AsyncConsumer
from channels_redis.pubsub import RedisPubSubChannelLayer

from .broadcast import EVENT_MESSAGE_TYPE

logger = logging.getLogger(__name__)

# Events encoded lately, by (task id, seq): a task's event reaches its task group and its
# owner's group, so it is encoded once per process, not once per group. The event is compared
# too: a sequence restarts if Redis lost its counters.
ENCODED_EVENTS_KEPT = 256
RECEIVE_RETRY_SECONDS = 0.5
_encoded_events: OrderedDict[tuple, tuple[dict, str]] = OrderedDict()


def encoded_event(message: dict) -> str:
    """The text sent for a broadcast `message`: its event with its sequence number."""
    seq = message.get("seq")
    event = message["event"]
    key = (event.get("task_id"), seq)
    cached = _encoded_events.get(key)
    if cached is not None and cached[0] == event:
        return cached[1]
    text = json.dumps({**event, "seq": seq})
    if None not in key:
        _encoded_events[key] = (event, text)
        if len(_encoded_events) > ENCODED_EVENTS_KEPT:
            _encoded_events.popitem(last=False)
    return text


class Watcher(Protocol):
    channel_name: str

    async def deliver(self, text: str) -> None: ...


def shared(layer) -> bool:
    """Whether watchers on `layer` share their process's group membership."""
    return isinstance(layer, RedisPubSubChannelLayer)


async def join(consumer: AsyncConsumer, group: str) -> None:
    """Have `consumer` receive what is sent to `group`: through its process's one membership
    on the pub/sub layer, as a member itself on any other."""
    layer = consumer.channel_layer
    if shared(layer):
        await hub(layer).join(group, consumer)
    else:
        await layer.group_add(group, consumer.channel_name)


async def leave(consumer: AsyncConsumer, group: str) -> None:
    layer = consumer.channel_layer
    if shared(layer):
        await hub(layer).leave(group, consumer)
    else:
        await layer.group_discard(group, consumer.channel_name)


class _Group:
    def __init__(self):
        self.watchers: dict[Watcher, None] = {}  # insertion-ordered set
        self.channel: str | None = None
        self.joined = asyncio.Event()
        self.pump: asyncio.Task | None = None


class Hub:
    """The groups watched in one event loop, each joined once on a channel of its own."""

    def __init__(self, layer):
        self.layer = layer
        self._groups: dict[str, _Group] = {}

    def watchers(self, group: str) -> int:
        entry = self._groups.get(group)
        return len(entry.watchers) if entry else 0

    async def join(self, group: str, watcher: Watcher) -> None:
        """Return once events sent to `group` from now on reach `watcher`."""
        entry = self._groups.get(group)
        if entry is None:
            entry = self._groups[group] = _Group()
            entry.watchers[watcher] = None
            try:
                entry.channel = await self.layer.new_channel()
                await self.layer.group_add(group, entry.channel)
            except BaseException:
                self._groups.pop(group, None)
                entry.joined.set()
                raise
            entry.pump = asyncio.ensure_future(self._pump(group, entry))
            entry.joined.set()
            return
        entry.watchers[watcher] = None
        try:
            await entry.joined.wait()
        except BaseException:  # cancelled while the first watcher joined: not a watcher
            await self.leave(group, watcher)
            raise
        if self._groups.get(group) is not entry:  # the first join failed
            entry.watchers.pop(watcher, None)
            await self.join(group, watcher)

    async def leave(self, group: str, watcher: Watcher) -> None:
        entry = self._groups.get(group)
        if entry is None or watcher not in entry.watchers:
            return
        del entry.watchers[watcher]
        if entry.watchers or not entry.joined.is_set():
            return
        del self._groups[group]
        if entry.pump is not None:
            entry.pump.cancel()  # the layer unsubscribes the channel
            with contextlib.suppress(asyncio.CancelledError):
                await entry.pump
        # The layer keeps a group's channels in a set and queues its Redis (un)subscribes in
        # order, so a new watcher joining meanwhile ends subscribed.
        await self.layer.group_discard(group, entry.channel)

    async def _pump(self, group: str, entry: _Group) -> None:
        while True:
            try:
                message = await self.layer.receive(entry.channel)
            except Exception:
                # A message that does not decode is dropped (the clients see the gap in `seq`
                # and resync); a failed subscription is retried after a pause, not in a spin.
                logger.warning("receive for %s failed", group, exc_info=True)
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                continue
            if message.get("type") == EVENT_MESSAGE_TYPE:
                text = encoded_event(message)
                for watcher in tuple(entry.watchers):
                    try:
                        await watcher.deliver(text)
                    except Exception:
                        logger.warning("event for %s not delivered", group, exc_info=True)
            else:
                for watcher in tuple(entry.watchers):
                    await self.layer.send(watcher.channel_name, message)


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hub(layer) -> Hub:
    """This event loop's hub for `layer`."""
    loop = asyncio.get_running_loop()
    per_loop = _hubs.get(loop)
    if per_loop is None or per_loop.layer is not layer:
        per_loop = _hubs[loop] = Hub(layer)
    return per_loop
