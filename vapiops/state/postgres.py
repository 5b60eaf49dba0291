"""The Postgres backend: snapshot, journal and lock holder as table rows; the lock is a session advisory lock."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from vapiops.errors import StateError
from vapiops.state.backend import LockInfo
from vapiops.state.journaled import (
    LOCK_POLL_SECONDS,
    apply_record,
    decode_snapshot,
    encode_holder,
    encode_record,
    encode_snapshot,
    locked_error,
    lost_lock_error,
    missing_extra,
    new_holder,
    parse_holder,
)
from vapiops.state.model import State

log = logging.getLogger(__name__)

# One table per purpose, created on first use ({schema} is quoted as an identifier).
_TABLES = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {schema}.states (environment text PRIMARY KEY, serial bigint NOT NULL, "
    "body text NOT NULL, backup text)",
    "CREATE TABLE IF NOT EXISTS {schema}.journal (environment text NOT NULL, serial bigint NOT NULL, "
    "body text NOT NULL, PRIMARY KEY (environment, serial))",
    "CREATE TABLE IF NOT EXISTS {schema}.locks (environment text PRIMARY KEY, lock_id text NOT NULL, "
    "holder text NOT NULL, backend_pid integer NOT NULL)",
)
_DDL_LOCK = 7_361_736  # a transaction-level advisory lock key: two first uses never race on CREATE


class PostgresBackend:
    """One environment's state in tables of `schema`: `states` (the snapshot and the one before),
    `journal` (one row per recorded call since the snapshot) and `locks` (who holds the lock).

    The lock is `pg_try_advisory_lock` on a session opened for the run and kept for its length: it
    ends with the session, so a killed run never leaves a lock behind. While the lock is held every
    write goes through that session and checks, in the same statement, that the holder row is still
    ours: a run whose session died or whose lock was force-released writes nothing more.
    """

    def __init__(self, dsn: str, schema: str, environment: str, *, where: str):
        try:
            import psycopg
            from psycopg import sql
        except ImportError as exc:
            raise missing_extra("postgres", "psycopg") from exc
        self._psycopg = psycopg
        self._sql = sql
        self.dsn = dsn
        self.schema = schema
        self.environment = environment
        self.where = where  # names the table, never the DSN (it may hold a password)
        self.mutex = threading.RLock()
        self._session: Any = None  # the lock's connection while held
        self._lock_id: str | None = None
        self._ready = False

    def describe(self) -> str:
        return self.where

    # -- connections --------------------------------------------------------------------------

    def _q(self, text: str) -> Any:
        return self._sql.SQL(text).format(schema=self._sql.Identifier(self.schema))

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as exc:
            raise StateError(
                f"cannot connect to the state database ({_first_line(exc)})",
                where=self.where,
                hint="check the DSN in the variable `dsn_env` names, and that the server is up",
            ) from exc
        if not self._ready:
            # Creating is checked before existing (even with IF NOT EXISTS, PostgreSQL asks for CREATE
            # on the database first), so the DDL runs only when a table is missing: a role with the
            # grants docs/state.md lists, and no CREATE, works once the tables are there.
            try:
                if not self._tables_exist(conn):
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                        for statement in _TABLES:
                            conn.execute(self._q(statement))
            except self._psycopg.Error as exc:
                conn.close()
                raise StateError(
                    f"cannot find or create the state tables in schema {self.schema} ({_first_line(exc)})",
                    where=self.where,
                    hint="run one command once with a role that may CREATE on the database, then grant the "
                    "runners' role what docs/state.md (Permissions) lists",
                ) from exc
            self._ready = True
        return conn

    def _tables_exist(self, conn: Any) -> bool:
        schema = '"' + self.schema.replace('"', '""') + '"'  # quoted, as _q quotes it in the DDL
        row = conn.execute(
            "SELECT count(to_regclass(t)) FROM unnest(%s::text[]) AS t",
            ([f"{schema}.{table}" for table in ("states", "journal", "locks")],),
        ).fetchone()
        return bool(row and row[0] == 3)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Any]:
        """The lock's session while held (its death is a lost lock), else a short-lived one."""
        if self._session is not None:
            try:
                yield self._session
            except self._psycopg.OperationalError as exc:
                raise lost_lock_error(
                    self.environment, self.where, f"its database session ended: {_first_line(exc)}"
                ) from exc
            except self._psycopg.Error as exc:
                raise StateError(f"state database error: {_first_line(exc)}", where=self.where) from exc
            return
        conn = self._connect()
        try:
            yield conn
        except self._psycopg.Error as exc:
            raise StateError(f"state database error: {_first_line(exc)}", where=self.where) from exc
        finally:
            conn.close()

    def _check_held(self, conn: Any) -> None:
        if self._lock_id is None:
            return
        row = conn.execute(
            self._q("SELECT 1 FROM {schema}.locks WHERE environment = %s AND lock_id = %s"),
            (self.environment, self._lock_id),
        ).fetchone()
        if row is None:
            raise lost_lock_error(self.environment, self.where, "its lock was released by `state unlock`")

    # -- reading and writing ------------------------------------------------------------------

    def exists(self) -> bool:
        with self.mutex, self._conn() as conn:
            row = conn.execute(
                self._q("SELECT 1 FROM {schema}.states WHERE environment = %s"), (self.environment,)
            )
            return row.fetchone() is not None

    def load(self) -> State:
        with self.mutex, self._conn() as conn, conn.transaction():
            row = conn.execute(
                self._q("SELECT body, backup IS NOT NULL FROM {schema}.states WHERE environment = %s"),
                (self.environment,),
            ).fetchone()
            records = conn.execute(
                self._q("SELECT serial, body FROM {schema}.journal WHERE environment = %s ORDER BY serial"),
                (self.environment,),
            ).fetchall()
        if row is None:
            if records:
                raise StateError(
                    "the state snapshot row is missing, but journal rows of it exist",
                    where=self.where,
                    hint="restore the `states` row from a database backup, then re-run",
                )
            return State(environment=self.environment)
        state = decode_snapshot(row[0], self.environment, self.where)
        for serial, body in records:
            apply_record(state, body, f"{self.where} journal serial {serial}")
        return state

    def record(self, state: State, address: str) -> None:
        with self.mutex:
            state.serial += 1
            try:
                with self._conn() as conn:
                    self._check_held(conn)
                    inserted = conn.execute(
                        self._q(
                            "INSERT INTO {schema}.journal (environment, serial, body) "
                            "SELECT %s, %s, %s WHERE EXISTS (SELECT 1 FROM {schema}.states WHERE environment = %s)"
                        ),
                        (
                            self.environment,
                            state.serial,
                            encode_record(state, address).decode("utf-8"),
                            self.environment,
                        ),
                    ).rowcount
            except BaseException:
                state.serial -= 1
                raise
            if inserted == 0:
                state.serial -= 1
                self.save(state)  # records apply to a snapshot (and its lineage): make the first one

    def save(self, state: State) -> None:
        with self.mutex:
            state.serial += 1
            try:
                with self._conn() as conn, conn.transaction():
                    self._check_held(conn)
                    conn.execute(
                        self._q(
                            "INSERT INTO {schema}.states (environment, serial, body) VALUES (%s, %s, %s) "
                            "ON CONFLICT (environment) DO UPDATE SET serial = EXCLUDED.serial, "
                            "body = EXCLUDED.body, backup = {schema}.states.body"
                        ),
                        (self.environment, state.serial, encode_snapshot(state).decode("utf-8")),
                    )
                    conn.execute(
                        self._q("DELETE FROM {schema}.journal WHERE environment = %s AND serial <= %s"),
                        (self.environment, state.serial),
                    )
            except BaseException:
                state.serial -= 1  # not saved: the next save must reuse this serial
                raise

    # -- the lock -----------------------------------------------------------------------------

    def _lock_key(self) -> Any:
        return f"vapiops:{self.schema}:{self.environment}"

    @contextlib.contextmanager
    def lock(self, *, who: str | None = None, timeout: float = 0.0) -> Iterator[LockInfo]:
        info, holder = new_holder(who)
        session = self._connect()
        deadline = time.monotonic() + timeout
        try:
            while True:
                got = session.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key(),)
                ).fetchone()
                if got[0]:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    row = session.execute(
                        self._q("SELECT holder FROM {schema}.locks WHERE environment = %s"),
                        (self.environment,),
                    ).fetchone()
                    raise locked_error(self.environment, parse_holder(row[0] if row else None), self.where)
                time.sleep(min(LOCK_POLL_SECONDS, remaining))
            session.execute(
                self._q(
                    "INSERT INTO {schema}.locks (environment, lock_id, holder, backend_pid) "
                    "VALUES (%s, %s, %s, pg_backend_pid()) ON CONFLICT (environment) DO UPDATE SET "
                    "lock_id = EXCLUDED.lock_id, holder = EXCLUDED.holder, backend_pid = EXCLUDED.backend_pid"
                ),
                (self.environment, info.id, encode_holder(holder).decode("utf-8")),
            )
        except BaseException:
            session.close()
            raise
        with self.mutex:
            self._session, self._lock_id = session, info.id
        try:
            yield info
        finally:
            with self.mutex:
                self._session, self._lock_id = None, None
            with contextlib.suppress(self._psycopg.Error):
                session.execute(
                    self._q("DELETE FROM {schema}.locks WHERE environment = %s AND lock_id = %s"),
                    (self.environment, info.id),
                )
            session.close()  # ends the session, and with it the advisory lock

    def unlock(self, lock_id: str) -> None:
        """Force-release the hold `lock_id`: end its database session (its advisory lock goes with it)."""
        with self._conn() as conn:
            row = conn.execute(
                self._q("SELECT lock_id, backend_pid FROM {schema}.locks WHERE environment = %s"),
                (self.environment,),
            ).fetchone()
            if row is None or row[0] != lock_id:
                held = f"held under ID {row[0]}" if row else "not locked"
                raise StateError(
                    f"env {self.environment} is {held}, not under {lock_id}",
                    where=self.where,
                    hint="copy the ID from the latest lock error",
                )
            conn.execute(
                self._q("DELETE FROM {schema}.locks WHERE environment = %s AND lock_id = %s"),
                (self.environment, lock_id),
            )
            conn.execute("SELECT pg_terminate_backend(%s)", (row[1],))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
