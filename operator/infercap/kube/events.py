"""Events by the conventions of events.k8s.io/v1: reported by the `infercap` controller (not `kopf`),
from this pod as the reporting instance, each with the action it is about, regarding one object.

Kopf's own poster names itself `kopf` and every action "Action?", so the operator posts its events here."""

from __future__ import annotations

import datetime
import logging
import socket
from collections.abc import Mapping
from typing import Any

from lightkube import ApiError
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.events_v1 import Event

from infercap.api.conditions import EVENT_FIELD_LIMIT, EVENT_NOTE_LIMIT, truncate
from infercap.kube.client import Kube

REPORTING_CONTROLLER = "infercap"
NOTE_LIMIT = EVENT_NOTE_LIMIT
FIELD_LIMIT = EVENT_FIELD_LIMIT

log = logging.getLogger(__name__)


def event(
    regarding: Mapping[str, Any], type: str, reason: str, action: str, note: str, instance: str, now: datetime.datetime
) -> Event:
    """The Event object (pure: the clock and the instance come in)."""
    meta = regarding["metadata"]
    # Named as client-go's recorder names them (object name and time in hex): events reject a generateName
    # ending in a dot.
    name = f"{meta['name']}.{int(now.timestamp() * 1_000_000):x}"
    return Event(
        metadata=ObjectMeta(name=name, namespace=meta.get("namespace") or "default"),
        eventTime=now,
        reportingController=REPORTING_CONTROLLER,
        reportingInstance=truncate(instance, FIELD_LIMIT),
        action=truncate(action, FIELD_LIMIT),
        reason=truncate(reason, FIELD_LIMIT),
        note=truncate(note, NOTE_LIMIT),
        type=type,
        regarding=ObjectReference(
            apiVersion=regarding.get("apiVersion"),
            kind=regarding.get("kind"),
            name=meta["name"],
            namespace=meta.get("namespace"),
            uid=meta.get("uid"),
            resourceVersion=meta.get("resourceVersion"),
        ),
    )


class Recorder:
    """Posts events; a failure to post is logged, never raised: events are auxiliary to reconciling."""

    def __init__(self, kube: Kube, instance: str | None = None) -> None:
        self.kube = kube
        self.instance = instance or f"{REPORTING_CONTROLLER}-{socket.gethostname()}"

    async def record(self, regarding: Mapping[str, Any], type: str, reason: str, action: str, note: str) -> None:
        obj = event(regarding, type, reason, action, note, self.instance, datetime.datetime.now(datetime.UTC))
        try:
            await self.kube.client.create(obj)
        except ApiError as e:
            log.warning("could not post event %s on %s: %s", reason, regarding["metadata"]["name"], e.status.message)
