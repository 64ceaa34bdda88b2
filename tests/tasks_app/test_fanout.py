"""One group membership per process for a task's watchers (tasks_app.fanout), on real Redis."""

import asyncio
import contextlib
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer

from tasks_app import fanout
from tasks_app.broadcast import broadcaster, task_group
from tasks_app.consumers import TaskConsumer

from .test_consumers import connect, running_task, session_headers

pytestmark = pytest.mark.django_db(transaction=True)


def send_progress(task, owner, progress: int):
    return database_sync_to_async(broadcaster.send)(
        task_id=task.id,
        owner_id=owner.pk,
        event={"type": "progress", "task_id": str(task.id), "progress": progress},
    )


def group_channel(group: str) -> str:
    """The Redis pub/sub channel of `group` (the layer's prefix is the tests' own)."""
    return get_channel_layer()._get_layer()._get_group_channel_name(group)


async def subscribers(redis_client, group: str) -> int:
    channel = group_channel(group)
    return dict(await asyncio.to_thread(redis_client.pubsub_numsub, channel))[channel.encode()]


def test_watchers_in_one_process_share_one_membership_and_each_gets_every_event(user, clean_redis):
    task = running_task(user)
    group = task_group(task.id)
    headers = session_headers(user)

    async def scenario():
        layer = get_channel_layer()
        comms = [await connect(f"/ws/tasks/{task.id}/", headers) for _ in range(3)]
        for comm in comms:
            assert (await comm.receive_json_from(timeout=3))["type"] == "snapshot"
        members = len(layer._get_layer().groups[group_channel(group)])
        watching = fanout.hub(layer).watchers(group)
        numsub = await subscribers(clean_redis, group)

        for p in (10, 20):
            await send_progress(task, user, p)
        everyone = [[await c.receive_json_from(timeout=3) for _ in range(2)] for c in comms]

        await comms[0].disconnect()
        await send_progress(task, user, 30)
        rest = [await c.receive_json_from(timeout=3) for c in comms[1:]]
        assert await comms[0].receive_nothing(timeout=0.2)

        for comm in comms[1:]:
            await comm.disconnect()
        await asyncio.sleep(0.1)
        after = (
            fanout.hub(layer).watchers(group),
            group_channel(group) in layer._get_layer().groups,
            await subscribers(clean_redis, group),
        )
        return members, watching, numsub, everyone, rest, after

    members, watching, numsub, everyone, rest, after = asyncio.run(scenario())

    assert (members, watching, numsub) == (1, 3, 1)
    for events in everyone:
        assert [(e["progress"], e["seq"]) for e in events] == [(10, 3), (20, 4)]
    assert [(e["progress"], e["seq"]) for e in rest] == [(30, 5), (30, 5)]
    # The last watcher gone, the process leaves the group and Redis drops the subscription.
    assert after == (0, False, 0)


def test_an_event_that_arrives_during_a_snapshot_is_sent_after_it(user, clean_redis, monkeypatch):
    task = running_task(user)
    original = TaskConsumer.send_snapshot
    progress = iter((10, 20))

    async def snapshot_with_an_event_meanwhile(self):
        # The event reaches this watcher while it is busy with its snapshot.
        await send_progress(task, user, next(progress))
        for _ in range(300):
            if self._held:
                break
            await asyncio.sleep(0.01)
        assert self._held, "the event was not held"
        await original(self)

    monkeypatch.setattr(TaskConsumer, "send_snapshot", snapshot_with_an_event_meanwhile)
    headers = session_headers(user)

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        on_connect = [await comm.receive_json_from(timeout=3) for _ in range(2)]
        await comm.send_json_to({"type": "resync"})
        on_resync = [await comm.receive_json_from(timeout=3) for _ in range(2)]
        await send_progress(task, user, 30)
        live = await comm.receive_json_from(timeout=3)
        await comm.disconnect()
        return on_connect, on_resync, live

    on_connect, on_resync, live = asyncio.run(scenario())

    assert [m["type"] for m in on_connect] == ["snapshot", "progress"]
    assert on_connect[1]["progress"] == 10
    assert [m["type"] for m in on_resync] == ["snapshot", "progress"]
    assert on_resync[1]["progress"] == 20
    assert (live["progress"], live["seq"]) == (30, 5)


def test_another_message_type_sent_to_the_group_reaches_each_watchers_own_handler(
    user, clean_redis, monkeypatch
):
    task = running_task(user)

    async def task_note(self, message):
        await self.send_json({"type": "note", "text": message["text"]})

    monkeypatch.setattr(TaskConsumer, "task_note", task_note, raising=False)
    headers = session_headers(user)

    async def scenario():
        comms = [await connect(f"/ws/tasks/{task.id}/", headers) for _ in range(2)]
        for comm in comms:
            await comm.receive_json_from(timeout=3)
        await get_channel_layer().group_send(
            task_group(task.id), {"type": "task.note", "text": "hello"}
        )
        notes = [await c.receive_json_from(timeout=3) for c in comms]
        for comm in comms:
            await comm.disconnect()
        return notes

    assert asyncio.run(scenario()) == [{"type": "note", "text": "hello"}] * 2


def test_on_another_layer_each_consumer_joins_the_group_itself(user, clean_redis, settings):
    task = running_task(user)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends = {}
    headers = session_headers(user)

    async def scenario():
        layer = get_channel_layer()
        comms = [await connect(f"/ws/tasks/{task.id}/", headers) for _ in range(2)]
        for comm in comms:
            await comm.receive_json_from(timeout=3)
        members = len(layer.groups[task_group(task.id)])
        await send_progress(task, user, 10)
        events = [await c.receive_json_from(timeout=3) for c in comms]
        for comm in comms:
            await comm.disconnect()
        return members, fanout.shared(layer), events

    try:
        members, shared, events = asyncio.run(scenario())
    finally:
        channel_layers.backends = {}

    assert (members, shared) == (2, False)
    assert [(e["progress"], e["seq"]) for e in events] == [(10, 3), (10, 3)]


def test_a_message_that_does_not_decode_does_not_stop_the_groups_events(user, clean_redis):
    task = running_task(user)
    group = task_group(task.id)
    headers = session_headers(user)

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        await comm.receive_json_from(timeout=3)
        # Not a message the layer wrote: it fails to decode in the process's one receive loop.
        await asyncio.to_thread(clean_redis.publish, group_channel(group), b"\xc1" * 16)
        await send_progress(task, user, 10)
        event = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return event

    event = asyncio.run(scenario())

    assert (event["progress"], event["seq"]) == (10, 3)


class Collector:
    """A watcher that keeps what it is handed."""

    def __init__(self, channel_name: str = "unused"):
        self.channel_name = channel_name
        self.texts: list[str] = []

    async def deliver(self, text: str) -> None:
        self.texts.append(text)


def test_a_watcher_joining_as_the_last_one_leaves_still_gets_events(user, clean_redis):
    task = running_task(user)
    group = task_group(task.id)

    async def scenario():
        layer = get_channel_layer()
        hub = fanout.hub(layer)
        first, second = Collector(), Collector()
        await hub.join(group, first)
        # The group's last watcher leaves (the process unsubscribes) while a new one joins (it
        # subscribes): whatever the order, the new one is subscribed at the end.
        await asyncio.gather(hub.leave(group, first), hub.join(group, second))
        await send_progress(task, user, 10)
        for _ in range(300):
            if second.texts:
                break
            await asyncio.sleep(0.01)
        numsub = await subscribers(clean_redis, group)
        await hub.leave(group, second)
        return first.texts, second.texts, numsub

    first, second, numsub = asyncio.run(scenario())

    assert first == []
    assert [json.loads(t)["progress"] for t in second] == [10]
    assert numsub == 1


def test_a_watcher_cancelled_while_waiting_to_join_is_not_left_behind(user, clean_redis):
    task = running_task(user)
    group = task_group(task.id)

    async def scenario():
        hub = fanout.hub(get_channel_layer())
        first, second = Collector(), Collector()
        joining = asyncio.ensure_future(hub.join(group, first))
        waiting = asyncio.ensure_future(hub.join(group, second))
        await asyncio.sleep(0)  # both started: the second waits for the first's subscription
        waiting.cancel()
        await joining
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        watching = hub.watchers(group)
        await hub.leave(group, first)
        await asyncio.sleep(0.1)
        return watching, hub.watchers(group), await subscribers(clean_redis, group)

    assert asyncio.run(scenario()) == (1, 0, 0)
