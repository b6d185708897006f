"""``batch_field``: a relation field declared once as a batch resolver (parents in, results out).

    @batch_field(description="The partner the organization is mapped to.")
    @staticmethod
    async def partner(parents: list[Organization], ctx: Context) -> list[Partner | None | Exception]:
        ...

Strawberry gets a generated resolver that hands its parent to a per-request
dataloader keyed by (function, arguments); the dataloader calls the function once
per level with the unique parents. The declaration knows nothing of strawberry, so a
level-batched executor can call it directly (``BatchField.batch_fn``).

A result per parent is the value or the exception failing that parent alone (the
dataloader raises it for that parent): a ``GatewayError`` refusal the client sees, or an
unexpected error that ``MaskUnexpectedErrors`` masks. The GraphQL type of the field is the
item type of the returned list without its exception members.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import operator
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeAlias, TypeVar, overload

import strawberry
from aiodataloader import DataLoader
from strawberry.types.field import StrawberryField

if TYPE_CHECKING:  # the context imports this module to build its loaders
    from gateway.context import Context

ParentT = TypeVar("ParentT")
ItemT = TypeVar("ItemT")
P = ParamSpec("P")

# ``async def f(parents: list[Parent], ctx: Context, *, <field arguments>) -> list[Item | Exception]``
BatchFn: TypeAlias = Callable[Concatenate[list[ParentT], "Context", P], Awaitable[Sequence[ItemT | Exception]]]


class BatchField(StrawberryField, Generic[ParentT, P, ItemT]):
    """A strawberry field whose resolver hands its parent to the request's batch of ``batch_fn``."""

    batch_fn: BatchFn[ParentT, P, ItemT]

    def __copy__(self) -> Self:
        # strawberry copies fields (generic types, inherited fields): the copy keeps its batch function
        copied = super().__copy__()
        copied.batch_fn = self.batch_fn
        return copied


def _is_exception(name: str, namespace: Mapping[str, object]) -> bool:
    found = namespace.get(name, getattr(builtins, name, None))
    return isinstance(found, type) and issubclass(found, BaseException)


def _without_errors(text: str, namespace: Mapping[str, object]) -> str:
    """``"Partner | None | Exception"`` -> ``"Partner | None"`` (a string annotation's union; names of
    exception classes are looked up where the batch function is defined)."""
    tree = ast.parse(text, mode="eval").body
    members: list[ast.expr] = []

    def flatten(node: ast.expr) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            flatten(node.left)
            flatten(node.right)
        else:
            members.append(node)

    flatten(tree)
    kept = [m for m in members if not (isinstance(m, ast.Name) and _is_exception(m.id, namespace))]
    if len(kept) == len(members):
        return text
    if not kept:
        raise TypeError(f"a batch field returns values, not only errors: {text!r}")
    return " | ".join(typing.cast(str, ast.get_source_segment(text, m)) for m in kept)


def _item_annotation(annotation: object, namespace: Mapping[str, object] | None = None) -> object:
    """The GraphQL type of a batch field: ``list[Item | Exception]`` -> ``Item``."""
    if isinstance(annotation, str):
        text = annotation.strip()
        if text.startswith("list[") and text.endswith("]"):
            return _without_errors(text[5:-1].strip(), namespace or {})
        raise TypeError(f"a batch field returns list[...], got {annotation!r}")
    if typing.get_origin(annotation) is list:
        item = typing.get_args(annotation)[0]
        if typing.get_origin(item) in (typing.Union, types.UnionType):
            kept = [a for a in typing.get_args(item) if not (isinstance(a, type) and issubclass(a, BaseException))]
            if not kept:
                raise TypeError(f"a batch field returns values, not only errors: {annotation!r}")
            return functools.reduce(operator.or_, kept)
        return item
    raise TypeError(f"a batch field returns list[...], got {annotation!r}")


@overload
def batch_field(fn: BatchFn[ParentT, P, ItemT], /) -> BatchField[ParentT, P, ItemT]: ...


@overload
def batch_field(
    *, name: str | None = None, description: str | None = None, deprecation_reason: str | None = None,
) -> Callable[[BatchFn[ParentT, P, ItemT]], BatchField[ParentT, P, ItemT]]: ...


def batch_field(
    fn: BatchFn[Any, ..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    deprecation_reason: str | None = None,
) -> BatchField[Any, ..., Any] | Callable[[BatchFn[Any, ..., Any]], BatchField[Any, ..., Any]]:
    def wrap(declared: BatchFn[Any, ..., Any]) -> BatchField[Any, ..., Any]:
        # ``@staticmethod`` under ``@batch_field`` (so the class body may call it plainly) hands over the descriptor
        fn: BatchFn[Any, ..., Any] = declared.__func__ if isinstance(declared, staticmethod) else declared
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())[2:]  # drop (parents, ctx)
        item = _item_annotation(signature.return_annotation, getattr(fn, "__globals__", {}))

        async def resolver(root: Any, info: strawberry.Info[Context, None], **kwargs: Any) -> object:
            return await info.context.batch_load(fn, root, kwargs)

        # strawberry reads the field's arguments and type from the resolver's signature and annotations
        setattr(resolver, "__signature__", signature.replace(
            parameters=[
                inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
                *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params),
            ],
            return_annotation=item,
        ))
        resolver.__annotations__ = {
            "info": strawberry.Info,
            **{p.name: p.annotation for p in params},
            "return": item,
        }
        resolver.__module__ = fn.__module__
        resolver.__name__ = fn.__name__
        resolver.__qualname__ = fn.__qualname__
        field: BatchField[Any, ..., Any] = BatchField(
            python_name=None, graphql_name=name, description=description or fn.__doc__,
            deprecation_reason=deprecation_reason,
        )
        field.batch_fn = fn
        return field(resolver)

    return wrap(fn) if fn is not None else wrap


def make_batch_loader(
    fn: BatchFn[Any, ..., Any], ctx: Context, kwargs: dict[str, Any],
) -> DataLoader[Any, Any]:
    """A non-caching dataloader for one (batch function, arguments) in one request."""

    async def load(parents: list[Any]) -> list[Any]:
        unique = list({id(parent): parent for parent in parents}.values())
        results = await fn(unique, ctx, **kwargs)
        if len(results) != len(unique):
            raise RuntimeError(f"batch field {fn.__qualname__} returned {len(results)} results for {len(unique)} parents")
        by_parent = {id(parent): result for parent, result in zip(unique, results, strict=True)}
        return [by_parent[id(parent)] for parent in parents]

    return DataLoader(load, cache=False)
