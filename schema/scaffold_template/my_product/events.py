"""My product's domain events: plain frozen dataclasses, emitted in the transaction of the change."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class MyProductStorageChanged(DomainEvent):
    """An organization's My product storage was set (``gateway_event`` receivers see it at once)."""

    type = "my_product.storage_changed"
    organization_id: int
    storage_gb: int
    previous_storage_gb: int
