"""The certificates product plugin: certificate subscriptions, current and renewal inventory, renewals.

Registered by the entry point ``certificates = "plugins.certificates.plugin"``; this file
only answers the host's hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.hookspecs import hookimpl
from plugins.certificates.actions import ACTIONS
from plugins.certificates.demo import seed_certificate_catalog, seed_demo
from plugins.certificates.models import CertificateInventory, CertificateType
from plugins.certificates.mutations import CertificateMutations
from plugins.certificates.queries import CertificateQueries
from plugins.certificates.types import CertificateType as CertificateTypeNode
from plugins.certificates.types import SubscriptionCertificateFields, visible_certificate_types


@hookimpl
def gateway_models() -> list[type]:
    return [CertificateType, CertificateInventory]


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return [CertificateTypeNode]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [CertificateQueries, CertificateMutations, SubscriptionCertificateFields]


@hookimpl
def gateway_node_resolvers() -> dict[str, Any]:
    return {"CertificateType": visible_certificate_types}


@hookimpl
def gateway_actions() -> list[Any]:
    return ACTIONS


@hookimpl
def gateway_seed_catalog(session: Any) -> Any:
    return seed_certificate_catalog(session)


@hookimpl
def gateway_seed_demo(session: Any, demo: Any) -> Any:
    return seed_demo(session, demo)
