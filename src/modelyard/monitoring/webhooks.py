"""Webhook subscriptions and their durable delivery outbox.

An event is written to the outbox (one row per subscription) in the same transaction
that records it, before any attempt is made; a worker delivers due rows with the
Standard Webhooks signature, retrying with jittered exponential backoff. Rows live in
the database, so a restart loses nothing: the next worker picks them up.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.domain.refs import check_name
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.security.outbound import OutboundPolicy, check_url, post_capped, safe_client
from modelyard.security.webhook_signing import generate_secret, headers_for
from modelyard.store.orm import DeliveryRow, WebhookRow, utcnow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store

log = logging.getLogger("modelyard.webhooks")

EVENT_TYPES = (
    "alert.firing",
    "alert.resolved",
    "drift.detected",
    "job.cancelled",
    "job.failed",
    "job.succeeded",
    "rollout.changed",
    "webhook.test",
)
MAX_ATTEMPTS = 12
BASE_DELAY_S = 2.0
MAX_DELAY_S = 3600.0


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    event_types: list[str]
    created_by: str
    created_at: datetime


def _entity(row: WebhookRow) -> Webhook:
    return Webhook(row.name, row.url, list(row.event_types), row.created_by, row.created_at)


def backoff_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": uniform in [c/2, c], c = min(cap, base*2^n)."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(attempts - 1, 0)))
    return (rng or random.Random()).uniform(ceiling / 2, ceiling)


def enqueue(session: Session, event_type: str, payload: dict[str, Any]) -> int:
    """Persist one delivery per matching subscription (call inside the event's transaction)."""
    count = 0
    for hook in session.scalars(select(WebhookRow)):
        if event_type in hook.event_types or "*" in hook.event_types:
            session.add(
                DeliveryRow(
                    id=f"msg_{uuid.uuid4().hex}",
                    webhook_id=hook.id,
                    event_type=event_type,
                    payload={
                        "type": event_type,
                        "timestamp": utcnow().isoformat(),
                        "data": payload,
                    },
                    status="pending",
                    attempts=0,
                    next_attempt_at=utcnow(),
                )
            )
            count += 1
    session.flush()
    return count


class WebhookService:
    def __init__(self, store: Store, policy: OutboundPolicy) -> None:
        self.store = store
        self.policy = policy

    def create(
        self, *, name: str, url: str, event_types: list[str], actor: str, secret: str | None = None
    ) -> tuple[Webhook, str]:
        """Subscribe ``url``; returns the signing secret (shown once)."""
        check_name(name, what="webhook")
        check_url(url, self.policy)
        unknown = sorted(set(event_types) - {*EVENT_TYPES, "*"})
        if not event_types or unknown:
            raise InvalidInputError(
                f"unknown event type {unknown[0]!r}; allowed: {', '.join(EVENT_TYPES)} or *"
                if unknown
                else "give at least one event type",
                field="event_types",
            )
        secret = secret or generate_secret()
        with self.store.session() as session:
            if session.scalars(select(WebhookRow).where(WebhookRow.name == name)).first():
                raise ConflictError(f"webhook {name!r} already exists")
            row = WebhookRow(
                name=name,
                url=url,
                event_types=sorted(set(event_types)),
                secret=secret,
                created_by=actor,
            )
            session.add(row)
            session.flush()
            AuditRepository(session).append(
                actor=actor,
                action="webhook.create",
                target=f"webhook:{name}",
                after={"url": url, "event_types": sorted(set(event_types))},
            )
            return _entity(row), secret

    def all(self) -> list[Webhook]:
        with self.store.session() as session:
            return [
                _entity(r) for r in session.scalars(select(WebhookRow).order_by(WebhookRow.name))
            ]

    def delete(self, name: str, *, actor: str) -> None:
        with self.store.session() as session:
            row = session.scalars(select(WebhookRow).where(WebhookRow.name == name)).first()
            if row is None:
                raise NotFoundError(f"webhook {name!r} not found")
            for delivery in session.scalars(
                select(DeliveryRow).where(DeliveryRow.webhook_id == row.id)
            ):
                session.delete(delivery)
            session.delete(row)
            AuditRepository(session).append(
                actor=actor, action="webhook.delete", target=f"webhook:{name}"
            )

    def send_test(self, name: str) -> str:
        """Queue a ``webhook.test`` delivery to one subscription; returns its message id."""
        with self.store.session() as session:
            row = session.scalars(select(WebhookRow).where(WebhookRow.name == name)).first()
            if row is None:
                raise NotFoundError(f"webhook {name!r} not found")
            delivery = DeliveryRow(
                id=f"msg_{uuid.uuid4().hex}",
                webhook_id=row.id,
                event_type="webhook.test",
                payload={
                    "type": "webhook.test",
                    "timestamp": utcnow().isoformat(),
                    "data": {"webhook": name},
                },
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
            session.add(delivery)
            return delivery.id

    def deliveries(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as session:
            query = select(DeliveryRow).order_by(DeliveryRow.created_at)
            if status:
                query = query.where(DeliveryRow.status == status)
            return [
                {
                    "id": d.id,
                    "event_type": d.event_type,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
                for d in session.scalars(query)
            ]

    def deliver_due(self, limit: int = 50) -> int:
        """Attempt every due delivery once; returns how many were delivered."""
        now = utcnow()
        with self.store.session() as session:
            due = [
                (d.id, d.payload, d.webhook_id)
                for d in session.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
                    .order_by(DeliveryRow.next_attempt_at)
                    .limit(limit)
                )
            ]
            hooks = {h.id: (h.url, h.secret) for h in session.scalars(select(WebhookRow))}
        delivered = 0
        if not due:
            return 0
        with safe_client(self.policy) as client:
            for msg_id, payload, hook_id in due:
                if hook_id not in hooks:
                    continue
                url, secret = hooks[hook_id]
                body = json.dumps(payload, separators=(",", ":")).encode()
                headers = {"content-type": "application/json", **headers_for(secret, msg_id, body)}
                error: str | None = None
                try:
                    result = post_capped(client, url, body, headers, policy=self.policy)
                    if not result.ok:
                        error = f"HTTP {result.status}"
                except Exception as exc:  # noqa: BLE001 - any failure is retried later
                    error = f"{type(exc).__name__}: {exc}"[:500]
                self._record(msg_id, error)
                delivered += error is None
        return delivered

    def _record(self, msg_id: str, error: str | None) -> None:
        with self.store.session() as session:
            row = session.get(DeliveryRow, msg_id)
            if row is None:
                return
            row.attempts += 1
            if error is None:
                row.status = "delivered"
                row.delivered_at = utcnow()
                row.last_error = None
                return
            row.last_error = error
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                log.error("webhook delivery %s failed for good: %s", msg_id, error)
            else:
                row.next_attempt_at = datetime.now(UTC) + timedelta(
                    seconds=backoff_delay(row.attempts)
                )
