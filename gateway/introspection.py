"""What the loaded plugins contribute, and the access matrix: the data behind `gateway plugins` / `gateway actions`."""

from __future__ import annotations

from typing import Any

import pluggy

from gateway.composition import EXTENDS_ATTR
from gateway.plugins import contributions, enabled_plugins, loaded_plugins, owner_of
from gateway.policy import ActionRegistry


def _graphql_name(field: Any) -> str:
    import strawberry

    return strawberry.schema.config.StrawberryConfig().name_converter.get_graphql_name(field)


def plugin_contributions(pm: pluggy.PluginManager) -> dict[str, dict[str, list[str]]]:
    """``{plugin: {"types": [...], "fields": ["Organization.mail", ...], "actions", "routes", "models", "commands"}}``."""
    result: dict[str, dict[str, list[str]]] = {name: {} for name, _ in enabled_plugins(pm)}

    def add(plugin: str, kind: str, items: list[str]) -> None:
        result.setdefault(plugin, {}).setdefault(kind, []).extend(items)

    for plugin, classes in contributions(pm, "gateway_types"):
        add(plugin, "types", [c.__strawberry_definition__.name for c in classes
                              if hasattr(c, "__strawberry_definition__")])
    for plugin, classes in contributions(pm, "gateway_type_extensions"):
        for cls in classes:
            target = getattr(cls, EXTENDS_ATTR, None)
            target_name = target.__strawberry_definition__.name if target is not None else "?"
            add(plugin, "fields", [f"{target_name}.{_graphql_name(f)}" for f in cls.__strawberry_definition__.fields])
    for plugin, actions in contributions(pm, "gateway_actions"):
        add(plugin, "actions", [a.name for a in actions])
    for plugin, routes in contributions(pm, "gateway_routes"):
        add(plugin, "routes", [getattr(r, "path", repr(r)) for r in routes])
    for plugin, models in contributions(pm, "gateway_models"):
        add(plugin, "models", [getattr(m, "__table__", m).name for m in models])
    for plugin, commands in contributions(pm, "gateway_cli_commands"):
        add(plugin, "commands", [c.name for c in commands])
    return result


def describe_plugins(pm: pluggy.PluginManager) -> str:
    found = plugin_contributions(pm)
    lines = []
    for plugin in loaded_plugins(pm):
        lines.append(f"{plugin.name} {plugin.version} ({plugin.module})")
        parts = found.get(plugin.name, {})
        if not any(parts.values()):
            lines.append("  contributes nothing yet")
        for kind in ("types", "fields", "actions", "routes", "models", "commands"):
            items = parts.get(kind)
            if items:
                lines.append(f"  {kind} ({len(items)}): {', '.join(items)}")
    return "\n".join(lines)


def hooks_implemented(pm: pluggy.PluginManager) -> dict[str, dict[str, list[str]]]:
    """``{plugin: {registered name: [hook names]}}``: each enabled plugin's own hooks and its parts' hooks."""
    found: dict[str, dict[str, list[str]]] = {name: {} for name, _ in enabled_plugins(pm)}
    for name, plugin in pm.list_name_plugin():
        callers = pm.get_hookcallers(plugin) or []
        found.setdefault(owner_of(name), {})[name] = sorted(caller.name for caller in callers)
    return found


def plugins_report(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What ``gateway plugins --json`` prints: one object per enabled plugin, in load order.

    ``fields`` maps each extended type to the field names the plugin adds to it (``Mutation``'s are
    ``mutations``); ``hooks`` lists the hooks the plugin and its parts implement; ``parts`` the
    plugins it registered itself, with their hooks; ``migrations`` its Alembic version folders.
    """
    found = plugin_contributions(pm)
    hooks = hooks_implemented(pm)
    migrations: dict[str, list[str]] = {}
    for owner, path in contributions(pm, "gateway_migrations_path"):
        migrations.setdefault(owner, []).append(str(path))
    report = []
    for plugin in loaded_plugins(pm):
        parts = found.get(plugin.name, {})
        fields: dict[str, list[str]] = {}
        for coordinate in parts.get("fields", []):
            target, _, name = coordinate.partition(".")
            fields.setdefault(target, []).append(name)
        own_hooks = hooks.get(plugin.name, {})
        report.append({
            "name": plugin.name,
            "module": plugin.module,
            "version": plugin.version,
            "hooks": sorted({hook for names in own_hooks.values() for hook in names}),
            "parts": {name: names for name, names in own_hooks.items() if name != plugin.name},
            "types": parts.get("types", []),
            "fields": {target: names for target, names in fields.items() if target != "Mutation"},
            "mutations": fields.get("Mutation", []),
            "actions": parts.get("actions", []),
            "routes": parts.get("routes", []),
            "models": parts.get("models", []),
            "commands": parts.get("commands", []),
            "migrations": migrations.get(plugin.name, []),
        })
    return report


def action_registry(pm: pluggy.PluginManager) -> ActionRegistry:
    registry = ActionRegistry(pm.hook.gateway_suspended_refusal())
    for plugin, actions in contributions(pm, "gateway_actions"):
        registry.register(plugin, actions)
    return registry


def grant_columns(pm: pluggy.PluginManager, registry: ActionRegistry) -> list[str]:
    """The matrix's columns: the ``gateway_grant_columns`` answer (the core's vocabulary order) plus any
    grant an action uses that it does not list; without an answer, every used grant, sorted."""
    declared = pm.hook.gateway_grant_columns() if hasattr(pm.hook, "gateway_grant_columns") else None
    used = sorted({g for action in registry for g in (*action.allowed, *action.restricted)})
    columns = list(declared or [])
    return columns + [g for g in used if g not in columns]


def actions_markdown(registry: ActionRegistry, columns: list[str]) -> str:
    """A Markdown table: one row per action, one column per grant (✓ allowed, R restricted by a product rule)."""
    header = "| Action | Plugin | " + " | ".join(f"`{c}`" for c in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    owners = {a.name: a.owner for a in registry}
    descriptions = {a.name: a.description for a in registry}
    for name, marks in registry.matrix(columns):
        cells = ["✓" if m == "yes" else "R" if m == "restricted" else "" for m in marks]
        lines.append(f"| `{name}` — {descriptions[name]} | {owners[name]} | " + " | ".join(cells) + " |")
    codes = sorted({a.restricted_code for a in registry if a.restricted})
    example = f" (e.g. `{codes[0]}`)" if codes else ""
    lines += ["", f"✓ allowed; R refused by a product rule with a user error{example}; empty: refused with `FORBIDDEN`."]
    return "\n".join(lines)


def actions_text(registry: ActionRegistry, columns: list[str]) -> str:
    order = {c: i for i, c in enumerate(columns)}
    lines = []
    for action in registry:
        allowed = sorted(action.allowed, key=lambda g: order.get(g, len(order)))
        lines.append(f"{action.name} ({action.owner}): {action.description}")
        lines.append(f"    allowed: {', '.join(allowed) or 'nobody'}")
        if action.restricted:
            restricted = sorted(action.restricted, key=lambda g: order.get(g, len(order)))
            lines.append(f"    restricted ({action.restricted_code}): {', '.join(restricted)}")
    return "\n".join(lines)
