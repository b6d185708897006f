"""Finding, enabling and calling plugins (pluggy)."""

from __future__ import annotations

import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy
import structlog

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
    enabled: Iterable[str] | None = None, extra_plugins: Iterable[tuple[str, object]] = (), *,
    trace_hooks: bool = False,
) -> pluggy.PluginManager:
    """Load the enabled installed plugins (None: all), then any extra (name, module/object) pairs.

    ``trace_hooks`` (``GATEWAY_TRACE_HOOKS``) logs every hook call from the start, registration included.
    """
    pm = pluggy.PluginManager("partner_gateway")
    pm.add_hookspecs(hookspecs)
    if trace_hooks:
        trace_hook_calls(pm)
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
    impls = load_order(hook)
    tracer = _tracers.get(pm)
    if tracer is not None:
        tracer.before(hook_name, impls, {})
    answers = []
    try:
        for impl in impls:
            answer = impl.function()
            if answer is not None:
                answers.append((owner_of(impl.plugin_name), answer))
    except Exception as error:
        if tracer is not None:
            tracer.after_call(hook_name, impls, {}, None, error=error, in_load_order=True)
        raise
    if tracer is not None:
        tracer.after_call(hook_name, impls, {}, [answer for _, answer in answers], in_load_order=True)
    return answers


class PluginCallError(Exception):
    """An implementation of a hook called by :func:`call_in_load_order` raised; ``plugin`` names it."""

    def __init__(self, plugin: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin!r}: {error}")
        self.plugin = plugin
        self.error = error


async def call_in_load_order(pm: pluggy.PluginManager, hook_name: str, arguments: Mapping[str, object], *,
                             after_each: Callable[[], Awaitable[object]] | None = None) -> list[tuple[str, Any]]:
    """Call each implementation of ``hook_name`` in plugin load order (the core first), one after the other.

    Each gets the ``arguments`` it names and its answer is awaited before the next is called (a seeder
    may rely on what an earlier one wrote); ``after_each`` runs after each (e.g. a session flush).
    Returns (registered plugin name, answer) pairs. Traced like any hook call (GATEWAY_TRACE_HOOKS),
    the time covering the awaited answers. An implementation's error is raised as
    :class:`PluginCallError` naming the plugin.
    """
    impls = load_order(getattr(pm.hook, hook_name))
    tracer = _tracers.get(pm)
    if tracer is not None:
        tracer.before(hook_name, impls, arguments)
    answers: list[tuple[str, Any]] = []
    try:
        for impl in impls:
            try:
                answer = await maybe_await(impl.function(*(arguments[name] for name in impl.argnames)))
            except Exception as error:
                raise PluginCallError(impl.plugin_name, error) from error
            if after_each is not None:
                await after_each()
            answers.append((impl.plugin_name, answer))
    except Exception as error:
        if tracer is not None:
            tracer.after_call(hook_name, impls, arguments, None, error=error, in_load_order=True)
        raise
    if tracer is not None:
        tracer.after_call(hook_name, impls, arguments, [answer for _, answer in answers], in_load_order=True)
    return answers


# ---------------------------------------------------------------- GATEWAY_TRACE_HOOKS
class HookTracer:
    """Logs one ``hook call`` line per hook call: the hook, its implementations in call order, the time taken.

    Argument values are never logged (a session, a token, an event may hold secrets): only each
    argument's name with its type, or its value when it is a number, a boolean or None. The time is
    that of the synchronous call: an async implementation returns an awaitable the host awaits later,
    counted as ``awaitables``. As Datasette's ``DATASETTE_TRACE_PLUGINS``.
    """

    def __init__(self, log: Any = None) -> None:
        self.log = log if log is not None else structlog.get_logger("gateway.hooks")
        self._local = threading.local()

    def _stack(self) -> list[float]:
        stack: list[float] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def before(self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        self._stack().append(time.perf_counter())

    def after(self, outcome: pluggy.Result[Any], hook_name: str, hook_impls: Sequence[pluggy.HookImpl],
              kwargs: Mapping[str, object]) -> None:
        error = outcome.exception
        self.after_call(hook_name, hook_impls, kwargs, None if error else outcome.get_result(), error=error)

    def after_call(self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object],
                   result: object, *, error: BaseException | None = None, in_load_order: bool = False) -> None:
        stack = self._stack()
        started = stack.pop() if stack else time.perf_counter()
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        # pluggy calls the implementations last-registered first; contributions() calls them in load order
        order = list(hook_impls) if in_load_order else list(reversed(hook_impls))
        fields: dict[str, Any] = {
            "hook": hook_name,
            "implementations": [impl.plugin_name for impl in order],
            "ms": elapsed_ms,
            "arguments": {name: safe_value(value) for name, value in kwargs.items()},
        }
        answers = result if isinstance(result, list) else [result]
        awaitables = sum(1 for answer in answers if inspect.isawaitable(answer))
        if awaitables:
            fields["awaitables"] = awaitables
        if error is not None:
            fields["raised"] = type(error).__name__
        self.log.info("hook call", **fields)


def safe_value(value: object) -> object:
    """A number, a boolean or None as itself; anything else as its type's name (never its content)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return type(value).__name__


_tracers: weakref.WeakKeyDictionary[pluggy.PluginManager, HookTracer] = weakref.WeakKeyDictionary()


def trace_hook_calls(pm: pluggy.PluginManager, tracer: HookTracer | None = None) -> HookTracer:
    """Log every call of ``pm``'s hooks (through pluggy's hook-call monitoring and :func:`contributions`)."""
    if not structlog.is_configured():  # a command that configured nothing: log lines to stderr, not stdout
        from gateway.logging import configure_logging

        configure_logging("INFO")
    tracer = tracer or HookTracer()
    _tracers[pm] = tracer
    pm.add_hookcall_monitoring(tracer.before, tracer.after)
    return tracer
