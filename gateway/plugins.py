"""Finding, enabling and calling plugins (pluggy)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from gateway import hookspecs

ENTRY_POINT_GROUP = "partner_gateway.plugins"
ALWAYS_ON = frozenset({"core"})
PART_SEPARATOR = "."  # a plugin registered by another (gateway_register_plugins) is named "<owner>.<part>"


class PluginError(Exception):
    """A plugin could not be loaded or contributes something the host cannot accept."""


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    module: str
    version: str


def available_plugins() -> dict[str, EntryPoint]:
    """Every plugin installed under the entry point group, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def create_plugin_manager(
    enabled: Iterable[str] | None = None, extra_plugins: Iterable[tuple[str, object]] = ()
) -> pluggy.PluginManager:
    """Load the enabled installed plugins (None: all), then any extra (name, module/object) pairs."""
    pm = pluggy.PluginManager("partner_gateway")
    pm.add_hookspecs(hookspecs)
    # Historic: each plugin registered from now on declares its hooks, then registers its own parts.
    pm.hook.gateway_add_hookspecs.call_historic(kwargs={"pm": pm})
    pm.hook.gateway_register_plugins.call_historic(kwargs={"pm": pm})
    installed = available_plugins()
    wanted = set(installed) if enabled is None else set(enabled) | ALWAYS_ON
    unknown = wanted - set(installed)
    if unknown:
        raise PluginError(
            f"GATEWAY_PLUGINS names unknown plugin(s) {', '.join(sorted(unknown))}; "
            f"installed: {', '.join(sorted(installed))}"
        )
    ordered = ["core", *sorted(name for name in wanted if name != "core")]
    for name in ordered:
        entry_point = installed[name]
        try:
            module = entry_point.load()
        except Exception as error:  # an import error in a plugin names the plugin
            raise PluginError(f"plugin {name!r} ({entry_point.value}) failed to load: {error}") from error
        pm.register(module, name=name)
    for name, plugin in extra_plugins:
        pm.register(plugin, name=name)
    return pm


def part_name(owner: str, part: str) -> str:
    """The registration name of ``owner``'s part ``part`` (e.g. ``core.billing``)."""
    return f"{owner}{PART_SEPARATOR}{part}"


def owner_of(plugin_name: str) -> str:
    """The enabled plugin a registered plugin belongs to: itself, or the plugin that registered it as a part."""
    return plugin_name.split(PART_SEPARATOR, 1)[0]


def enabled_plugins(pm: pluggy.PluginManager) -> list[tuple[str, object]]:
    """(name, module) of the enabled plugins in load order, without the parts they registered themselves."""
    return [(name, plugin) for name, plugin in pm.list_name_plugin() if owner_of(name) == name]


def loaded_plugins(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    installed = available_plugins()
    result = []
    for name, plugin in enabled_plugins(pm):
        module = getattr(plugin, "__name__", type(plugin).__name__)
        entry_point = installed.get(name)
        version = entry_point.dist.version if entry_point is not None and entry_point.dist else "local"
        result.append(LoadedPlugin(name=name, module=module, version=version))
    return result


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def call_hook(hook: pluggy.HookCaller, **kwargs: object) -> list[Any]:
    """Call a collecting hook and await every awaitable answer, in plugin order."""
    return [await maybe_await(result) for result in hook(**kwargs)]


async def call_firstresult(hook: pluggy.HookCaller, **kwargs: object) -> Any:
    return await maybe_await(hook(**kwargs))


def load_order(hook: pluggy.HookCaller) -> list[pluggy.HookImpl]:
    """A hook's implementations in plugin load order (the core first); ``tryfirst``/``trylast`` still apply.

    ``get_hookimpls()`` lists them in registration order and pluggy *calls* them last-registered
    first, so neither is the order a collecting hook wants.
    """
    impls = hook.get_hookimpls()
    return ([i for i in impls if i.tryfirst] + [i for i in impls if not i.tryfirst and not i.trylast]
            + [i for i in impls if i.trylast])


def contributions(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """(enabled plugin name, answer) for each plugin implementing a collecting, synchronous hook.

    A part's answer is credited to the plugin that registered it (``core``, not ``core.billing``):
    that is the name users enable, and the one clash messages and the access matrix show.
    """
    hook = getattr(pm.hook, hook_name)
    answers = []
    for impl in load_order(hook):
        answer = impl.function()
        if answer is not None:
            answers.append((owner_of(impl.plugin_name), answer))
    return answers
