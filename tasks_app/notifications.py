"""Notifications: email and signed webhooks when a task finishes, and the mail/HTTP they send.

`notify_finished` runs on commit of a task's terminal transition (see `lifecycle`) and submits
the deliveries as tasks of their own (`notifications.send_email`, `notifications.webhook`),
so a slow mail server or a down webhook receiver is retried with backoff by the engine and
never holds the worker that finished the task.

A webhook POSTs a JSON body signed with HMAC-SHA256 over the raw body:
`X-Casework-Signature: sha256=<hex>`, keyed with CASEWORK_WEBHOOK_SECRET. Its URL goes
through the same SSRF guard as document URLs (`documents.fetch`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, reverse
from rest_framework import serializers

from .models import Task, TaskStatus
from .registry import PermanentError, TransientError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Casework-Signature"
EVENT_HEADER = "X-Casework-Event"
DELIVERY_HEADER = "X-Casework-Delivery"
WEBHOOK_TIMEOUT_SECONDS = 10.0
# Task types whose own completion never notifies (a failing webhook must not call itself).
NOTIFICATION_TYPES = ("notifications.send_email", "notifications.send_notification")
WEBHOOK_TYPE = "notifications.webhook"


class WebhookRejected(PermanentError):
    """The receiver answered 4xx or the URL is not allowed: retrying won't help."""


# --- on a task's finish ---------------------------------------------------------------------


def wants_notification(task: Task) -> bool:
    """Whether a finished task asks for an email or a webhook (read from the locked row)."""
    return bool(task.notify_email or task.callback_url) and task.task_type not in (
        *NOTIFICATION_TYPES,
        WEBHOOK_TYPE,
    )


def notify_finished(task_id) -> list[Task]:
    """Submit the email and webhook deliveries a finished task asked for; return them.

    Called after the terminal transition commits. Each delivery is a system task (no owner)
    whose parent is the finished task, keyed so that a second call submits nothing new.
    """
    from . import services

    task = Task.objects.select_related("owner").filter(pk=task_id).first()
    if task is None or not task.is_terminal or not wants_notification(task):
        return []
    submitted = []
    if task.notify_email and task.owner is not None and task.owner.email:
        submitted.append(
            services.task_submit(
                owner=None,
                task_type="notifications.send_email",
                params={
                    "to": task.owner.email,
                    "subject": finished_subject(task),
                    "body": finished_body(task),
                },
                name=f"email: {task.name}"[:200],
                parent=task,
                idempotency_key=f"notify-email:{task.id}",
                system=True,
            ).task
        )
    if task.callback_url:
        submitted.append(
            services.task_submit(
                owner=None,
                task_type=WEBHOOK_TYPE,
                params={"url": task.callback_url, "payload": webhook_payload(task)},
                name=f"webhook: {task.name}"[:200],
                parent=task,
                idempotency_key=f"notify-webhook:{task.id}",
                system=True,
            ).task
        )
    return submitted


def notify_finished_safely(task_id) -> None:
    """notify_finished for an on-commit hook: a failure is logged, the finish stands."""
    try:
        notify_finished(task_id)
    except Exception:
        logger.exception("could not submit the notifications of task %s", task_id)


def finished_subject(task: Task) -> str:
    verb = {
        TaskStatus.SUCCEEDED: "finished",
        TaskStatus.FAILED: "failed",
        TaskStatus.REVOKED: "was cancelled",
    }.get(task.status, task.status)
    return f"Casework: {task.name or task.task_type} {verb}"


def finished_body(task: Task) -> str:
    lines = [
        f"Task: {task.name} ({task.task_type})",
        f"Id: {task.id}",
        f"Status: {task.status}",
    ]
    if task.finished_at:
        lines.append(f"Finished at: {task.finished_at.isoformat()}")
    if task.duration_seconds is not None:
        lines.append(f"Duration: {task.duration_seconds:.1f} s")
    if task.status != TaskStatus.SUCCEEDED and task.error_message:
        lines.append(f"Error: {task.error_message[:2000]}")
    link = _task_link(task)
    if link:
        lines.append(f"Details: {link}")
    return "\n".join(lines) + "\n"


def _task_link(task: Task) -> str:
    base = settings.CASEWORK_BASE_URL.rstrip("/")
    if not base:
        return ""
    try:
        return base + reverse("pages:task-detail", args=[task.id])
    except NoReverseMatch:
        return ""


def webhook_payload(task: Task) -> dict:
    """The JSON a webhook receives: what finished, how, and its result or error."""
    from .lifecycle import summarize_result

    payload = {
        "event": "task.finished",
        "task_id": str(task.id),
        "task_type": task.task_type,
        "name": task.name,
        "status": task.status,
        "attempts": task.attempts,
        "finished_at": task.finished_at.isoformat() if task.finished_at else None,
        "duration_seconds": task.duration_seconds,
    }
    if task.status == TaskStatus.SUCCEEDED:
        payload["result"] = summarize_result(task.result)
    else:
        payload["error"] = {"kind": task.error_kind, "message": task.error_message[:2000]}
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


# --- email ----------------------------------------------------------------------------------


def send_mail_now(*, to: list[str], subject: str, body: str) -> int:
    """Send one message through Django's email backend; transient failures are retryable."""
    message = EmailMessage(subject=subject, body=body, to=to)
    try:
        return message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"recipients refused: {sorted(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentError(f"the mail server refused: {exc.smtp_code}") from None
        raise TransientError(f"the mail server answered {exc.smtp_code}") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"could not reach the mail server: {exc}") from None


class SendEmailParams(serializers.Serializer):
    to = serializers.EmailField()
    subject = serializers.CharField(max_length=998)
    body = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SendNotificationParams(serializers.Serializer):
    recipients = serializers.ListField(child=serializers.EmailField(), min_length=1, max_length=500)
    subject = serializers.CharField(max_length=998)
    body = serializers.CharField(allow_blank=True, trim_whitespace=False)


# --- webhooks -------------------------------------------------------------------------------


class WebhookParams(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    payload = serializers.DictField()

    def validate_url(self, value: str) -> str:
        return check_callback_url(value)


def check_callback_url(url: str) -> str:
    """Return the URL if a webhook may be sent to it; ValidationError saying why not."""
    from documents.fetch import UnsafeUrl, check_url

    try:
        return check_url(url)
    except UnsafeUrl as exc:
        raise serializers.ValidationError(str(exc)) from None


def sign(body: bytes, secret: str | None = None) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 hex digest of the body."""
    key = (secret or settings.CASEWORK_WEBHOOK_SECRET).encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def deliver_webhook(*, url: str, payload: dict, delivery_id: str = "") -> dict:
    """POST the signed payload once. 2xx succeeds; 429, 5xx and network errors are transient
    (TransientError, retried with backoff); any other answer or a blocked address is final."""
    from requests_hardened.ip_filter import InvalidIPAddress

    from documents.fetch import UnsafeUrl, _session, check_url

    body = encode_payload(payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body),
        EVENT_HEADER: str(payload.get("event", "task.finished")),
        DELIVERY_HEADER: delivery_id,
    }
    try:
        check_url(url)
        with _session(WEBHOOK_TIMEOUT_SECONDS) as session:
            response = session.post(url, data=body, headers=headers, allow_redirects=False)
    except (UnsafeUrl, InvalidIPAddress) as exc:
        raise WebhookRejected(f"webhook URL not allowed: {exc}") from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientError(f"webhook receiver unreachable: {exc}") from None
    code = response.status_code
    logger.info("webhook %s answered %s", url, code)
    if code == 429 or code >= 500:
        raise TransientError(f"webhook receiver answered {code}")
    if not 200 <= code < 300:
        raise WebhookRejected(f"webhook receiver answered {code}; not retried")
    return {"status_code": code, "bytes": len(body)}
