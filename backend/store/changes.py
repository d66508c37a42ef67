"""Which tables a request read, and which tables committed writes changed.

The GraphQL response cache (backend.http.graphql_cache) keeps a public answer only as long
as every table it was computed from is unchanged. Nothing has to declare that by hand: the
engine's own events tell us

- for each SELECT run while a ``ReadTracker`` is active (one per cacheable request), the
  tables it reads and their version at that moment;
- for each INSERT/UPDATE/DELETE, the table it writes; committing the transaction bumps
  that table's version in ``TableVersions``.

A write is bumped twice: when the commit starts (before the database has applied it) and
again when the connection goes back to the pool (after it has). A reader that recorded the
version between the two read the old rows, and the second bump makes its answer stale; a
reader after the second reads the new rows. So no interleaving caches old data as new.

SQL the tracker cannot see into (``text()`` statements) makes the request uncacheable, and
a textual write or DDL bumps every table at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import find_tables

# execution options for a write that changes no data (SQLite's scene lock): no bump
CHANGES_NOTHING = {"twinland_changes_nothing": True}
EVERY_TABLE = "*"  # a version every answer depends on: bumped by writes we cannot see into
_TOUCHED = "twinland.touched_tables"  # Connection.info: tables written in this transaction
_COMMITTED = "twinland.committed_tables"  # written and committed, bumped again at check-in
_TABLES_ATTR = "_twinland_read_tables"  # memo on SQLAlchemy's cached compiled statement


class TableVersions:
    """A version per table, raised by every committed write to it (in this process, and,
    through ``listen``, from other instances)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {EVERY_TABLE: 0}
        self._listeners: list[Callable[[frozenset[str]], None]] = []

    def version(self, table: str) -> int:
        return self._versions.get(table, 0)

    def current(self, dependencies: Iterable[tuple[str, int]]) -> bool:
        """Whether every (table, version) pair is still the table's version."""
        versions = self._versions
        return all(versions.get(table, 0) == seen for table, seen in dependencies)

    def bump(self, tables: Iterable[str], *, announce: bool = True) -> None:
        """``tables`` changed; listeners (other instances) hear of it unless it came from
        them (``announce=False``)."""
        changed = frozenset(tables)
        for table in changed:
            self._versions[table] = self._versions.get(table, 0) + 1
        if announce and changed:
            for listener in self._listeners:
                listener(changed)

    def listen(self, listener: Callable[[frozenset[str]], None]) -> None:
        self._listeners.append(listener)


class ReadTracker:
    """What one request's SQL read: (table, version seen) pairs, or why it cannot say."""

    __slots__ = ("dependencies", "refused")

    def __init__(self) -> None:
        self.dependencies: dict[str, int] = {}
        self.refused: str | None = None

    def refuse(self, reason: str) -> None:
        if self.refused is None:
            self.refused = reason


READ_TRACKER: ContextVar[ReadTracker | None] = ContextVar("twinland_read_tracker", default=None)


def track_changes(engine: AsyncEngine, versions: TableVersions) -> None:
    """Wire ``engine``'s events to ``versions`` and to the active ``ReadTracker``."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: DefaultExecutionContext | None,
        _executemany: bool,
    ) -> None:
        compiled = getattr(context, "compiled", None)
        if context is not None and context.execution_options.get("twinland_changes_nothing"):
            pass
        elif context is not None and (context.isinsert or context.isupdate or context.isdelete):
            table = getattr(getattr(compiled, "statement", None), "table", None)
            name = getattr(table, "name", None)
            conn.info.setdefault(_TOUCHED, set()).add(name or EVERY_TABLE)
        elif context is not None and getattr(context, "isddl", False):
            conn.info.setdefault(_TOUCHED, set()).add(EVERY_TABLE)
        elif not _reads_only(statement):
            conn.info.setdefault(_TOUCHED, set()).add(EVERY_TABLE)  # textual write
        tracker = READ_TRACKER.get()
        if tracker is None or tracker.refused is not None:
            return
        if compiled is None or not isinstance(compiled.statement, Select):
            tracker.refuse("SQL that is not a SELECT construct")
            return
        read = tracker.dependencies
        read.setdefault(EVERY_TABLE, versions.version(EVERY_TABLE))
        for table in _read_tables(compiled):
            read.setdefault(table, versions.version(table))

    @event.listens_for(sync_engine, "commit")
    def _commit(conn: Connection) -> None:
        touched = conn.info.pop(_TOUCHED, None)
        if touched:
            versions.bump(touched, announce=False)  # before: see the module docstring
            conn.info.setdefault(_COMMITTED, set()).update(touched)

    @event.listens_for(sync_engine, "rollback")
    def _rollback(conn: Connection) -> None:
        conn.info.pop(_TOUCHED, None)

    @event.listens_for(sync_engine.pool, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        info = getattr(record, "info", None)
        committed = info.pop(_COMMITTED, None) if info is not None else None
        if committed:
            versions.bump(committed)  # after: the rows are visible now


_NOT_WRITES = frozenset({"SELECT", "WITH", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "SHOW"})


def _reads_only(statement: str) -> bool:
    words = statement.lstrip()[:16].split(None, 1)
    return bool(words) and words[0].upper() in _NOT_WRITES


def _read_tables(compiled: Any) -> tuple[str, ...]:
    # SQLAlchemy caches the compiled form of each statement shape, so this walk runs once
    # per shape, not once per query.
    tables: tuple[str, ...] | None = getattr(compiled, _TABLES_ATTR, None)
    if tables is None:
        # aliases and joins are walked into, so this names the tables under them
        found = find_tables(compiled.statement)
        tables = tuple(sorted({table.name for table in found}))
        setattr(compiled, _TABLES_ATTR, tables)
    return tables
