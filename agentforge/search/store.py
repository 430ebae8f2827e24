"""The run store: one SQLite file holding everything a search paid for.

Tables:

* ``results``: one row per (candidate key, example id): the example's outcome, usage and a
  compact trajectory (JSON). Written (and committed) as each example finishes.
* ``calls``: meta-model calls, keyed by a hash of the request; replayed on resume.
* ``specs``: candidate key -> the AgentSpec JSON evaluated under it.
* ``meta``: the search configuration (a resume must match it) and the wall time of finished
  sessions.

A killed search that is started again on the same store replays the search from the start:
every evaluation and meta-model call it already paid for is read back (and charged to the
budget as recorded) instead of being made again, so it reaches the same archive and then goes
on with new calls. Rows that ended in an error are not reused (they are run again).

A file that is not a readable SQLite database (damaged, truncated, or another file under the
name) raises a ``UserError`` naming it and the way out, on opening or when a query meets it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentforge.core.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS specs (key TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    cand TEXT NOT NULL, example TEXT NOT NULL, error TEXT, data TEXT NOT NULL,
    PRIMARY KEY (cand, example));
CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, tag TEXT NOT NULL, data TEXT NOT NULL);
"""


class RunStore:
    """A search's SQLite run store (see the module docstring).

    Args:
        path: the database file (created with its folder), or ``None`` for an in-memory store
            (nothing survives the process; for tests and throwaway evaluations).

    Writes are committed immediately (WAL journal), so a kill loses at most the example or call
    in progress. Safe to use from one event loop; a lock serializes access from threads.

    Raises:
        UserError: ``path`` cannot be opened as a SQLite database, or a query finds it damaged
            (``sqlite3.DatabaseError``); the message names the file and says to move it away or
            use another --out.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        db = None
        try:
            db = sqlite3.connect(str(self.path) if self.path else ":memory:", isolation_level=None,
                                 check_same_thread=False)
            if self.path is not None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:  # OperationalError too: e.g. a folder under the name
            if db is not None:
                db.close()
            raise self._corrupt(exc) from None
        self._db = db

    def _corrupt(self, exc: sqlite3.DatabaseError) -> UserError:
        busy = " if another search is using it, wait for it; else" if isinstance(exc, sqlite3.OperationalError) else ""
        return UserError(f"{self.path or 'the in-memory run store'}: not a usable SQLite run store "
                         f"({type(exc).__name__}: {exc});{busy} move it away (with its -wal and -shm files) "
                         "or use another --out")

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the thread lock; a damaged database becomes a ``UserError``
        (``OperationalError``, e.g. a locked database, passes through as is)."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                raise self._corrupt(exc) from None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._guard() as db:
            return db.execute(sql, args).fetchone()

    def _write(self, sql: str, args: tuple) -> None:
        with self._guard() as db:
            db.execute(sql, args)

    # ---- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key`` (``default`` when absent)."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serializable value under ``key``."""
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def bind(self, config: dict[str, Any], resume: bool) -> bool:
        """Tie the store to a search configuration.

        A new store records ``config``. A store that holds a search is reused only with
        ``resume=True`` and the same configuration (JSON-equal).

        Returns:
            True when the store already held this search (a resume), False when it was new.

        Raises:
            UserError: the store holds a search and ``resume`` is False, or it holds a search with
                a different configuration (the message names the differing keys).
        """
        config = json.loads(json.dumps(config, sort_keys=True))
        old = self.get_meta("config")
        if old is None:
            self.set_meta("config", config)
            return False
        where = str(self.path or "the store")
        if not resume:
            raise UserError(f"{where} already holds a search; resume it (--resume) or use another --out")
        if old != config:
            keys = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            raise UserError(f"{where} holds a search with a different configuration (differs in: {', '.join(keys)}); "
                            "use another --out to start a new search")
        return True

    def add_wall(self, seconds: float) -> None:
        """Add a finished (or interrupted) session's wall seconds."""
        self.set_meta("wall_s", self.wall_s() + max(0.0, seconds))

    def wall_s(self) -> float:
        """Wall seconds of earlier sessions."""
        return float(self.get_meta("wall_s", 0.0))

    # ---- specs and results ---------------------------------------------------------------
    def put_spec(self, key: str, spec_json: str) -> None:
        """Record the spec evaluated under candidate ``key`` (first one wins)."""
        self._write("INSERT OR IGNORE INTO specs (key, spec) VALUES (?, ?)", (key, spec_json))

    def get_spec(self, key: str) -> str | None:
        """The spec JSON recorded under ``key``, or None."""
        row = self._one("SELECT spec FROM specs WHERE key = ?", (key,))
        return row[0] if row else None

    def get_result(self, cand: str, example: str) -> dict[str, Any] | None:
        """The stored result of (candidate, example), or None (errored rows included)."""
        row = self._one("SELECT data FROM results WHERE cand = ? AND example = ?", (cand, example))
        return json.loads(row[0]) if row else None

    def put_result(self, cand: str, example: str, data: dict[str, Any]) -> None:
        """Store (replace) the result of (candidate, example); ``data["error"]`` marks a failure."""
        self._write("INSERT OR REPLACE INTO results (cand, example, error, data) VALUES (?, ?, ?, ?)",
                    (cand, example, data.get("error"), json.dumps(data, ensure_ascii=False)))

    def results(self, cand: str | None = None) -> list[dict[str, Any]]:
        """Every stored result (of one candidate when ``cand`` is given), in insertion order."""
        sql, args = "SELECT data FROM results", ()
        if cand is not None:
            sql, args = sql + " WHERE cand = ?", (cand,)
        with self._guard() as db:
            return [json.loads(r[0]) for r in db.execute(sql + " ORDER BY rowid", args).fetchall()]

    # ---- meta-model calls ------------------------------------------------------------------
    def get_call(self, key: str) -> dict[str, Any] | None:
        """A recorded meta-model call (``{"text", "usage"}``), or None."""
        row = self._one("SELECT data FROM calls WHERE key = ?", (key,))
        return json.loads(row[0]) if row else None

    def put_call(self, key: str, tag: str, data: dict[str, Any]) -> None:
        """Record a meta-model call under ``key`` (``tag`` says which proposal step made it)."""
        self._write("INSERT OR REPLACE INTO calls (key, tag, data) VALUES (?, ?, ?)",
                    (key, tag, json.dumps(data, ensure_ascii=False)))

    def counts(self) -> dict[str, int]:
        """Row counts: ``results``, ``errors``, ``calls``, ``specs``."""
        with self._guard() as db:
            q = db.execute
            return {"results": q("SELECT COUNT(*) FROM results").fetchone()[0],
                    "errors": q("SELECT COUNT(*) FROM results WHERE error IS NOT NULL").fetchone()[0],
                    "calls": q("SELECT COUNT(*) FROM calls").fetchone()[0],
                    "specs": q("SELECT COUNT(*) FROM specs").fetchone()[0]}
