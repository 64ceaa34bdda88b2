"""Live task progress over WebSockets.

`ws/tasks/<id>/` streams one task; `ws/tasks/` streams every task of the caller. On connect a
snapshot is sent with the last event sequence number; events follow in order, each with its
`seq`. A client that sees a gap, or reconnects, sends `{"type": "resync"}` and gets a fresh
snapshot, so nothing is missed even when the channel layer dropped a message.
"""

from __future__ import annotations

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import fanout
from .broadcast import EVENT_MESSAGE_TYPE, broadcaster, task_group, user_group
from .fanout import encoded_event
from .models import Task
from .ws_auth import token_still_valid

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
LIST_SNAPSHOT_LIMIT = 50
# Events a watcher holds while it sends a snapshot; past it the newest are dropped and the
# client, seeing the gap in `seq`, asks for a fresh snapshot.
HELD_EVENTS_MAX = 1000


def heartbeat_seconds() -> float:
    return settings.CASEWORK_WS_HEARTBEAT_SECONDS


def task_state(task: Task, seq: int) -> dict:
    state = {
        "task_id": str(task.id),
        "name": task.name,
        "task_type": task.task_type,
        "status": task.status,
        "progress": task.progress,
        "message": task.progress_message,
        "steps": task.steps,
        "attempt": task.attempts,
        "cancel_requested": task.cancel_requested_at is not None,
        "seq": seq,
    }
    if task.status == "succeeded":
        from .lifecycle import summarize_result

        state["result"] = summarize_result(task.result)
    elif task.status in ("failed", "revoked"):
        state["error"] = {"kind": task.error_kind, "message": task.error_message}
    return state


class BaseTaskConsumer(AsyncJsonWebsocketConsumer):
    """Authentication, close codes and heartbeats shared by both streams."""

    groups_to_join: list[str]

    async def connect(self):
        self.groups_to_join = []
        self._joined: list[str] = []
        self._heartbeat: asyncio.Task | None = None
        self._held: list[str] | None = []  # events held during a snapshot; None: live
        user = self.scope.get("user")
        await self.accept()
        if self.scope.get("origin_rejected"):
            await self.close(code=CLOSE_FORBIDDEN_ORIGIN)
            return
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await self.authorize(user):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for group in self.groups_to_join:
            await fanout.join(self, group)
            self._joined.append(group)
        await self.send_snapshot()
        await self._send_held()
        self._heartbeat = asyncio.ensure_future(self.heartbeat())

    async def disconnect(self, code):
        if getattr(self, "_heartbeat", None):
            self._heartbeat.cancel()
        for group in getattr(self, "_joined", ()):
            await fanout.leave(self, group)

    async def deliver(self, text: str) -> None:
        """An event from this process's group membership (tasks_app.fanout)."""
        if self._held is None:
            await self.send(text_data=text)
        elif len(self._held) < HELD_EVENTS_MAX:
            self._held.append(text)

    async def _send_held(self) -> None:
        """Send what arrived during a snapshot, then go live (no event overtakes another)."""
        while self._held:
            await self.send(text_data=self._held.pop(0))
        self._held = None

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            self._held = []
            try:
                await self.send_snapshot()
            finally:
                await self._send_held()
        elif kind == "ping":
            await self.send_json({"type": "pong"})

    async def heartbeat(self):
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(heartbeat_seconds())
                token = self.scope.get("auth_token")
                if token is not None and not await token_still_valid(token):
                    await self.close(code=CLOSE_UNAUTHENTICATED)
                    return
                await self.send_json({"type": "heartbeat"})

    async def dispatch(self, message):
        """Forward broadcasts without Channels' per-message database housekeeping.

        Channels closes old database connections before every handler, through a thread-pool
        hop; a broadcast touches no database, and that hop was a fifth of Daphne's time with a
        hundred watchers (bench/ws_latency.py, profiled with py-spy).
        """
        if message.get("type") == EVENT_MESSAGE_TYPE:
            await self.task_event(message)
        else:
            await super().dispatch(message)

    async def task_event(self, message):
        """A broadcast from tasks_app.broadcast: forward it with its sequence number."""
        await self.send(text_data=encoded_event(message))

    async def authorize(self, user) -> bool:
        raise NotImplementedError

    async def send_snapshot(self):
        raise NotImplementedError


class TaskConsumer(BaseTaskConsumer):
    """One task: `ws/tasks/<task_id>/`."""

    async def authorize(self, user) -> bool:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        visible = await database_sync_to_async(
            Task.objects.visible_to(user).filter(pk=self.task_id).exists
        )()
        if visible:
            self.groups_to_join = [task_group(self.task_id)]
        return visible

    async def send_snapshot(self):
        # The sequence number is read before the row: every event up to it is already in the
        # row (terminal ones always; progress within the write throttle), later ones follow.
        seq = await database_sync_to_async(broadcaster.current_seq)(self.task_id)
        task = await database_sync_to_async(Task.objects.get)(pk=self.task_id)
        await self.send_json({"type": "snapshot", **task_state(task, seq)})


class TaskListConsumer(BaseTaskConsumer):
    """Every task of the caller: `ws/tasks/`."""

    async def authorize(self, user) -> bool:
        self.user = user
        self.groups_to_join = [user_group(user.pk)]
        return True

    async def send_snapshot(self):
        tasks = await database_sync_to_async(self._recent)()
        await self.send_json({"type": "snapshot", "tasks": tasks})

    def _recent(self) -> list[dict]:
        rows = list(
            Task.objects.filter(owner=self.user)
            .defer("result", "traceback", "params", "checkpoint")
            .order_by("-created_at")[:LIST_SNAPSHOT_LIMIT]
        )
        return [
            {
                "task_id": str(t.id),
                "name": t.name,
                "task_type": t.task_type,
                "status": t.status,
                "progress": t.progress,
                "message": t.progress_message,
                "seq": broadcaster.current_seq(t.id),
            }
            for t in rows
        ]
