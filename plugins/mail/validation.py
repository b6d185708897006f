"""Shape checks of what users type: addresses, the dashboard layout, policy rules, image URLs.

Each check raises ``DomainError`` with a stable code and the input field it concerns.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import DomainError

LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")

DASHBOARD_WIDGETS = frozenset({"STORAGE", "USERS", "ALIASES", "POLICIES", "SECURITY", "ACTIVITY"})
DASHBOARD_COLUMNS = 4
DASHBOARD_MAX_WIDGETS = 24
DEFAULT_DASHBOARD: dict[str, Any] = {"widgets": [
    {"type": "USERS", "row": 0, "column": 0},
    {"type": "STORAGE", "row": 0, "column": 1},
    {"type": "SECURITY", "row": 1, "column": 0},
]}

POLICY_MATCH_KEYS = frozenset({"from", "to", "subject", "attachmentExtension"})
POLICY_ACTIONS = frozenset({"ALLOW", "BLOCK", "QUARANTINE", "TAG"})
POLICY_MAX_RULES = 50
IMAGE_URL_MAX = 2000


def normalize_address(address: str, domain: str, field: str) -> str:
    """A full address in ``domain`` (case-insensitive), lower-cased; else INVALID_ADDRESS / ADDRESS_OUTSIDE_DOMAIN."""
    value = (address or "").strip().lower()
    local, at, host = value.rpartition("@")
    if not at or not LOCAL_PART.match(local) or ".." in local:
        raise DomainError("INVALID_ADDRESS", f"{address!r} is not a valid mail address (name@{domain}).", field)
    if host != domain.lower():
        raise DomainError("ADDRESS_OUTSIDE_DOMAIN",
                          f"{value} is not in the organization's domain; use an address ending in @{domain}.", field)
    return value


def validate_name(name: str, field: str, *, maximum: int = 200) -> str:
    value = (name or "").strip()
    if not 1 <= len(value) <= maximum:
        raise DomainError("INVALID_NAME", f"A name must be 1 to {maximum} characters.", field)
    return value


def validate_dashboard(dashboard: object) -> dict[str, Any]:
    """``{"widgets": [{"type": <widget>, "row": int >= 0, "column": 0..3, "title"?: str}]}``, no overlapping cells."""

    def bad(message: str, *path: object) -> DomainError:
        return DomainError("INVALID_DASHBOARD", message, ["dashboard", *(str(p) for p in path)])

    if not isinstance(dashboard, dict) or set(dashboard) != {"widgets"}:
        raise bad('The dashboard must be an object with exactly one key, "widgets".')
    widgets = dashboard["widgets"]
    if not isinstance(widgets, list) or len(widgets) > DASHBOARD_MAX_WIDGETS:
        raise bad(f'"widgets" must be a list of at most {DASHBOARD_MAX_WIDGETS} widgets.', "widgets")
    cells: set[tuple[int, int]] = set()
    clean = []
    for i, widget in enumerate(widgets):
        if not isinstance(widget, dict) or not {"type", "row", "column"} <= set(widget) <= {"type", "row", "column", "title"}:
            raise bad('A widget is an object with "type", "row", "column" and an optional "title".', "widgets", i)
        if widget["type"] not in DASHBOARD_WIDGETS:
            raise bad(f"Unknown widget type {widget['type']!r}; use one of {', '.join(sorted(DASHBOARD_WIDGETS))}.",
                      "widgets", i, "type")
        row, column = widget["row"], widget["column"]
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise bad('"row" must be a whole number from 0.', "widgets", i, "row")
        if not isinstance(column, int) or isinstance(column, bool) or not 0 <= column < DASHBOARD_COLUMNS:
            raise bad(f'"column" must be a whole number from 0 to {DASHBOARD_COLUMNS - 1}.', "widgets", i, "column")
        if "title" in widget and (not isinstance(widget["title"], str) or len(widget["title"]) > 100):
            raise bad('"title" must be text of at most 100 characters.', "widgets", i, "title")
        if (row, column) in cells:
            raise bad(f"Two widgets are placed at row {row}, column {column}.", "widgets", i)
        cells.add((row, column))
        clean.append(dict(widget))
    return {"widgets": clean}


def validate_rules(rules: object) -> list[dict[str, Any]]:
    """``[{"match": {<from|to|subject|attachmentExtension>: text}, "action": ALLOW|BLOCK|QUARANTINE|TAG}]``."""

    def bad(message: str, *path: object) -> DomainError:
        return DomainError("INVALID_POLICY_RULES", message, ["rules", *(str(p) for p in path)])

    if not isinstance(rules, list) or not 1 <= len(rules) <= POLICY_MAX_RULES:
        raise bad(f"rules must be a list of 1 to {POLICY_MAX_RULES} rules.")
    clean = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {"match", "action"}:
            raise bad('A rule is an object with exactly "match" and "action".', i)
        match = rule["match"]
        if not isinstance(match, dict) or not match or not set(match) <= POLICY_MATCH_KEYS:
            raise bad(f'"match" must name at least one of {", ".join(sorted(POLICY_MATCH_KEYS))}.', i, "match")
        for key, value in match.items():
            if not isinstance(value, str) or not 1 <= len(value) <= 200:
                raise bad(f'"match.{key}" must be text of 1 to 200 characters.', i, "match", key)
        if rule["action"] not in POLICY_ACTIONS:
            raise bad(f'"action" must be one of {", ".join(sorted(POLICY_ACTIONS))}.', i, "action")
        clean.append({"match": dict(match), "action": rule["action"]})
    return clean


def validate_image_url(url: str | None) -> str | None:
    """An absolute https URL with a host (None clears the image)."""
    if url is None:
        return None
    value = url.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme != "https" or not parts.hostname or len(value) > IMAGE_URL_MAX
            or any(ch.isspace() for ch in value) or parts.username or parts.password):
        raise DomainError("INVALID_IMAGE_URL",
                          f"The profile image must be an https:// URL with a host, at most {IMAGE_URL_MAX} characters.",
                          "imageUrl")
    return value
