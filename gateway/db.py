"""Database engine, sessions and the one declarative ``Base`` every part's tables use."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric, TypeDecorator, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session

from gateway import card_guard
from gateway.input_limits import install_length_checks

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class MoneyAmount(TypeDecorator[Decimal]):
    """An exact amount with 4 decimals (Decimal in, Decimal out, never float)."""

    impl = Numeric(18, 4, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, not float")
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.0001"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UtcDateTime(), Decimal: MoneyAmount()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CheckedSession(Session):
    """The sync session under every SerializedSession: text too long for its column is refused at flush."""


install_length_checks(CheckedSession)


class SerializedSession(AsyncSession):
    """An AsyncSession that runs one statement at a time.

    Dataloaders of one request dispatch their batches as concurrent tasks; an
    AsyncSession refuses concurrent use, so statements queue on a lock instead.
    """

    sync_session_class = CheckedSession

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._statement_lock = asyncio.Lock()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._statement_lock:
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._statement_lock:
            return await super().scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._statement_lock:
            return await super().get(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._statement_lock:
            await super().flush(*args, **kwargs)

    # A non-null field's error makes graphql-core cancel its siblings, but a dataloader batch already
    # running a statement goes on; ending the session must wait for that statement (asyncpg refuses
    # "another operation is in progress").
    async def rollback(self) -> None:
        async with self._statement_lock:
            await super().rollback()

    async def close(self) -> None:
        async with self._statement_lock:
            await super().close()


# A client-side bound a little past the server's statement_timeout: the server normally cancels a
# slow statement first (the connection stays usable); this one fires only when the server is gone
# or frozen and cannot answer at all.
CLIENT_TIMEOUT_MARGIN = 2.0


def create_engine(database_url: str, *, connect_timeout: float = 5.0, statement_timeout: float | None = None,
                  pool_timeout: float = 5.0, **kwargs: Any) -> AsyncEngine:
    """An engine whose waits are bounded: connecting, each statement, and waiting for a pooled connection.

    ``statement_timeout`` None leaves statements unbounded (migrations may run long); the runtime
    passes ``GATEWAY_DB_STATEMENT_TIMEOUT``.
    """
    connect_args = dict(kwargs.pop("connect_args", {}))
    if database_url.startswith("sqlite"):
        # SQLite has no server to lose; what can block is a lock held by another writer.
        lock_wait = statement_timeout if statement_timeout is not None else 30.0
        connect_args.setdefault("timeout", lock_wait)
        engine = create_async_engine(database_url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
            cursor.close()

        return engine
    connect_args.setdefault("timeout", connect_timeout)
    if statement_timeout is not None:
        server_settings = dict(connect_args.get("server_settings") or {})
        server_settings.setdefault("statement_timeout", str(int(statement_timeout * 1000)))
        connect_args["server_settings"] = server_settings
        connect_args.setdefault("command_timeout", statement_timeout + CLIENT_TIMEOUT_MARGIN)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(database_url, pool_pre_ping=True, pool_timeout=pool_timeout,
                               connect_args=connect_args, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[SerializedSession]:
    return async_sessionmaker(engine, class_=SerializedSession, expire_on_commit=False)


# No table ever receives a card number or CVV, whichever code writes it (gateway.card_guard).
card_guard.install()
