"""``batch_field``: a relation field declared once as a batch resolver (parents in, results out).

    @batch_field(description="The partner the organization is mapped to.")
    async def partner(parents: list[Organization], ctx: Context) -> list[Partner | None]:
        ...

Strawberry gets a generated resolver that hands its parent to a per-request
dataloader keyed by (function, arguments); the dataloader calls the function once
per level with the unique parents. The declaration knows nothing of strawberry, so a
level-batched executor can call it directly.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Awaitable, Callable

import strawberry
from aiodataloader import DataLoader

BatchFn = Callable[..., Awaitable[list[Any]]]


def _item_annotation(annotation: Any) -> Any:
    if isinstance(annotation, str):
        text = annotation.strip()
        if text.startswith("list[") and text.endswith("]"):
            return text[5:-1]
        raise TypeError(f"a batch field returns list[...], got {annotation!r}")
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    raise TypeError(f"a batch field returns list[...], got {annotation!r}")


def batch_field(
    fn: BatchFn | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    deprecation_reason: str | None = None,
) -> Any:
    def wrap(fn: BatchFn) -> Any:
        fn = fn.__func__ if isinstance(fn, staticmethod) else fn  # type: ignore[assignment]
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())[2:]  # drop (parents, ctx)
        item = _item_annotation(signature.return_annotation)

        async def resolver(root: Any, info: Any, **kwargs: Any) -> Any:
            return await info.context.batch_load(fn, root, kwargs)

        resolver.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[
                inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
                *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params),
            ],
            return_annotation=item,
        )
        resolver.__annotations__ = {
            "info": strawberry.Info,
            **{p.name: p.annotation for p in params},
            "return": item,
        }
        resolver.__module__ = fn.__module__
        resolver.__name__ = fn.__name__
        resolver.__qualname__ = fn.__qualname__
        resolver.batch_fn = fn  # type: ignore[attr-defined]
        return strawberry.field(
            resolver=resolver, name=name, description=description or fn.__doc__,
            deprecation_reason=deprecation_reason,
        )

    return wrap(fn) if fn is not None else wrap


def make_batch_loader(fn: BatchFn, ctx: Any, kwargs: dict[str, Any]) -> DataLoader:
    """A non-caching dataloader for one (batch function, arguments) in one request."""

    async def load(parents: list[Any]) -> list[Any]:
        unique = list({id(parent): parent for parent in parents}.values())
        results = await fn(unique, ctx, **kwargs)
        if len(results) != len(unique):
            raise RuntimeError(f"batch field {fn.__qualname__} returned {len(results)} results for {len(unique)} parents")
        by_parent = {id(parent): result for parent, result in zip(unique, results)}
        return [by_parent[id(parent)] for parent in parents]

    return DataLoader(load, cache=False)
