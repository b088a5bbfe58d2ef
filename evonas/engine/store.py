"""The run store: one SQLite database per run, written as each candidate starts and finishes.

``runs/<name>/run.db`` holds the run's config (table ``meta``) and every candidate
(table ``candidates``): genome string, parent, operator, status, fidelity, metrics, error
and timings. Each write is one transaction under WAL journaling, so a crash, even
``kill -9``, loses at most the candidates being evaluated (recorded as ``running``).
Artifacts (trained weights) live beside it in ``weights/<id>.pt``, written atomically.

One process writes a run at a time: a writer holds an exclusive ``flock`` on
``runs/<name>/.lock`` (released by the kernel when the process dies, so the lock of a
killed process is taken over at once); readers (``front``, ``history``, ``export``) take none.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.core.errors import UserError
from evonas.core.problem import TrialState
from evonas.core.version import evonas_version

if TYPE_CHECKING:
    import torch

DB_NAME = "run.db"
LOCK_NAME = ".lock"
SCHEMA_VERSION = 5
TABLES = ("meta", "candidates", "measurements")  # every version has these; later ones add to them

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    genome TEXT NOT NULL,
    parent_id INTEGER,
    operator TEXT NOT NULL,
    status TEXT NOT NULL,
    fidelity REAL,
    metrics TEXT NOT NULL,
    violation REAL NOT NULL DEFAULT 0,
    error TEXT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    eval_seconds REAL NOT NULL,
    tell_order INTEGER,
    asked_before INTEGER,
    cost REAL
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    candidate_id INTEGER,
    genome TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    measured_at REAL NOT NULL
);
"""
_REMEASURES = """CREATE TABLE IF NOT EXISTS remeasures (
    seq INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    second_id INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    measured_at REAL NOT NULL
)"""
_SCORES = """CREATE TABLE IF NOT EXISTS scores (
    candidate_id INTEGER PRIMARY KEY,
    scores TEXT NOT NULL
)"""


@dataclass(frozen=True)
class CandidateRow:
    """One stored candidate, as read back from the database."""

    id: int
    genome: str
    parent_id: int | None
    operator: str
    status: TrialState
    fidelity: float | None
    metrics: dict[str, float]
    violation: float
    error: str | None
    started_at: float
    finished_at: float
    eval_seconds: float
    tell_order: int | None = None
    asked_before: int | None = None
    """When it was told: ``tell_order`` counts the tells before it and ``asked_before`` the
    candidates asked by then, so a resume replays asks and tells in their original interleaving
    (with several workers, a candidate is told while later ones are being evaluated)."""
    cost: float | None = None
    """The epochs it really trained, where the problem reported them (:attr:`Evaluation.cost`;
    schema 5); None: its fidelity increment."""


@dataclass(frozen=True)
class Measurement:
    """One stored hardware measurement (a latency with the environment it was taken in).

    Attributes:
        candidate_id: the candidate it was taken for.
        genome: that candidate's genome string (measurements are reused by genome).
        target: the target's name.
        result: the target's measurement record (median, IQR, raw runs, flags...).
        fingerprint: the machine and software it was measured on.
        measured_at: when (seconds since the epoch).
    """

    candidate_id: int | None
    genome: str
    target: str
    result: dict[str, Any]
    fingerprint: dict[str, Any]
    measured_at: float


class RunStore:
    """A run directory with its SQLite database. Use :meth:`create` or :meth:`open`."""

    def __init__(self, run_dir: Path, connection: sqlite3.Connection, lock: "_WriterLock | None" = None):
        self.run_dir = run_dir
        self._db = connection
        self._lock = lock

    # -- opening ---------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path, config: dict[str, Any]) -> "RunStore":
        """Start a new run in ``run_dir`` (created if missing).

        Raises:
            UserError: ``run_dir`` already holds a run, or is a file, or is not writable.
        """
        run_dir = Path(run_dir)
        check_new_run_dir(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create run directory '{run_dir}': {exc.strerror}") from None
        if not os.access(run_dir, os.W_OK):
            raise UserError(f"run directory '{run_dir}' is not writable")
        lock = _WriterLock.acquire(run_dir)
        store = cls(run_dir, _connect(run_dir / DB_NAME, create=True), lock)
        with store._db:
            store._db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema_version", json.dumps(SCHEMA_VERSION)),
                ("created_at", json.dumps(time.time())),
                ("config", json.dumps(config)),
                ("versions", json.dumps([_version_record("created")])),
            ])
        return store

    @classmethod
    def open(cls, run_dir: str | Path, writer: bool = False) -> "RunStore":
        """Open an existing run; a ``writer`` (a resumed search) takes the run's lock.

        Raises:
            UserError: ``run_dir`` holds no run database, or an empty, corrupt or foreign
                one (which is left untouched), or another process is writing it.
        """
        run_dir = Path(run_dir)
        path = run_dir / DB_NAME
        if not path.is_file():
            raise UserError(f"'{run_dir}' is not a run directory (no {DB_NAME} in it)")
        if path.stat().st_size == 0:
            raise UserError(f"run database '{path}' is empty (0 bytes); it holds no run")
        lock = _WriterLock.acquire(run_dir) if writer else None
        try:
            db = _connect(path, create=False)
            if writer:
                _migrate(db)
            return cls(run_dir, db, lock)
        except UserError:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata ----------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    @property
    def config(self) -> dict[str, Any]:
        return self.get_meta("config", {})

    def versions(self) -> list[dict[str, str]]:
        """The evonas versions that wrote this run, oldest first: one record (keys ``version``,
        ``event``: "created" or "resumed", ``at``: ISO 8601 UTC) for its creation and each resume.
        A run created before versions were recorded has none until its first resume."""
        return self.get_meta("versions", [])

    def record_resume(self) -> None:
        """Append this evonas's version to :meth:`versions` as resuming the run (writers only)."""
        if self._lock is None:
            raise RuntimeError("only the run's writer records a resume (open it with writer=True)")
        self.set_meta("versions", [*self.versions(), _version_record("resumed")])

    # -- candidates ----------------------------------------------------------------
    def next_id(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM candidates").fetchone()
        return int(row[0])

    def record(self, row: CandidateRow, measurement: dict[str, Any] | None = None,
               scores: dict[str, float] | None = None) -> None:
        """Write one candidate (running, or finished over its running row), with its hardware
        ``measurement`` (keys target, result, fingerprint) and held-out ``scores`` if any, in
        one transaction."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (row.id, row.genome, row.parent_id, row.operator, row.status.value, row.fidelity,
                 json.dumps(row.metrics), row.violation, row.error, row.started_at,
                 row.finished_at, row.eval_seconds, row.tell_order, row.asked_before, row.cost),
            )
            if measurement is not None:
                self._insert_measurement(row.id, row.genome, measurement["target"], measurement["result"],
                                         measurement["fingerprint"])
            if scores:
                self._db.execute("INSERT OR REPLACE INTO scores VALUES (?, ?)", (row.id, json.dumps(scores)))

    def candidates(self, include_running: bool = False) -> list[CandidateRow]:
        """Every finished candidate in id order (and those still running, if asked)."""
        where = "" if include_running else " WHERE status != 'running'"
        rows = self._db.execute(f"SELECT * FROM candidates{where} ORDER BY id").fetchall()
        return [CandidateRow(*r[:4], TrialState(r[4]), r[5], json.loads(r[6]), *r[7:]) for r in rows]

    def scores(self) -> dict[int, dict[str, float]]:
        """Held-out scores (metrics no strategy sees) by candidate id; empty for runs that have none."""
        if not self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'scores'").fetchone():
            return {}  # a run written before schema 4, opened read-only
        return {r[0]: json.loads(r[1]) for r in self._db.execute("SELECT candidate_id, scores FROM scores")}

    def told_in_order(self) -> list[CandidateRow]:
        """Every finished candidate in the order it was told (id order for runs of one worker)."""
        rows = self.candidates()
        return sorted(rows, key=lambda r: (r.id if r.tell_order is None else r.tell_order, r.id))

    def _insert_measurement(self, candidate_id, genome, target, result, fingerprint) -> None:
        self._db.execute(
            "INSERT INTO measurements (candidate_id, genome, target, result, fingerprint, measured_at)"
            " VALUES (?,?,?,?,?,?)",
            (candidate_id, genome, target, json.dumps(result), json.dumps(fingerprint), time.time()),
        )

    def latest_measurement(self, genome: str) -> dict[str, Any] | None:
        """The most recent hardware measurement of ``genome`` (keys target, result, fingerprint), if any."""
        row = self._db.execute("SELECT target, result, fingerprint FROM measurements WHERE genome = ? "
                               "ORDER BY id DESC LIMIT 1", (genome,)).fetchone()
        return None if row is None else {"target": row[0], "result": json.loads(row[1]),
                                         "fingerprint": json.loads(row[2])}

    def measurements(self) -> list[Measurement]:
        """Every stored hardware measurement, in the order taken."""
        rows = self._db.execute(
            "SELECT candidate_id, genome, target, result, fingerprint, measured_at FROM measurements ORDER BY id")
        return [Measurement(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5]) for r in rows]

    def record_remeasure(self, first_id: int, second_id: int, metrics: list[dict[str, float]]) -> None:
        """Store the metrics two candidates got when measured again side by side (noise-aware dominance)."""
        with self._db:
            self._db.execute("INSERT INTO remeasures (first_id, second_id, metrics, measured_at) VALUES (?,?,?,?)",
                             (first_id, second_id, json.dumps(metrics), time.time()))

    def remeasures(self) -> list[tuple[int, int, list[dict[str, float]]]]:
        """Every side-by-side re-measurement, in the order taken: (first id, second id, [metrics, metrics])."""
        if not self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'remeasures'").fetchone():
            return []  # a run written before schema 3, opened read-only
        rows = self._db.execute("SELECT first_id, second_id, metrics FROM remeasures ORDER BY seq")
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    # -- artifacts -------------------------------------------------------------------
    def weights_path(self, candidate_id: int) -> Path:
        return weights_path(self.run_dir, candidate_id)

    def save_weights(self, candidate_id: int, state_dict: dict[str, torch.Tensor]) -> None:
        """Write a candidate's weights atomically (a crash never leaves a half file)."""
        _save_atomically(self.weights_path(candidate_id), state_dict)

    def load_weights(self, candidate_id: int) -> dict[str, torch.Tensor]:
        return load_weights(self.run_dir, candidate_id)

    def state_path(self, candidate_id: int) -> Path:
        """Where a rung's training state (optimizer, schedule position) is kept beside its weights."""
        return self.run_dir / "checkpoints" / f"{candidate_id}.pt"

    def save_state(self, candidate_id: int, state: Any) -> None:
        """Write a rung's training state atomically, for the promotion that may continue it."""
        _save_atomically(self.state_path(candidate_id), state)

    def load_state(self, candidate_id: int) -> Any:
        import torch

        return torch.load(self.state_path(candidate_id), map_location="cpu", weights_only=False)

    def prune_weights(self, keep: set[int]) -> None:
        """Delete stored weights and training states of candidates not in ``keep``."""
        for folder in (self.run_dir / "weights", self.run_dir / "checkpoints"):
            if folder.is_dir():
                for path in folder.glob("*.pt"):
                    if int(path.stem) not in keep:
                        path.unlink()


def _save_atomically(path: Path, value: Any) -> None:
    """``torch.save`` to a temporary file renamed over ``path``: a crash never leaves a half file."""
    import torch  # only runs with trained networks need it

    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    tmp.replace(path)


def weights_path(run_dir: str | Path, candidate_id: int) -> Path:
    """Where a run keeps a candidate's trained weights (read without opening the database)."""
    return Path(run_dir) / "weights" / f"{candidate_id}.pt"


def load_weights(run_dir: str | Path, candidate_id: int) -> dict[str, torch.Tensor]:
    """A candidate's stored weights.

    Raises:
        UserError: the run kept none for it, or the file is damaged.
    """
    import torch  # only runs with trained networks need it

    path = weights_path(run_dir, candidate_id)
    if not path.is_file():
        raise UserError(f"run '{run_dir}' has no weights for candidate {candidate_id}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, pickle errors... for a damaged file
        raise UserError(f"weights file '{path}' is truncated or corrupt ({type(exc).__name__})") from None


def check_new_run_dir(run_dir: Path) -> None:
    """Raise :class:`UserError` unless ``run_dir`` can hold a new run without overwriting anything."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output '{run_dir}' exists and is not a directory")
    if (run_dir / DB_NAME).exists():
        raise UserError(f"output directory '{run_dir}' already holds a run; choose another --out or --resume it")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise UserError(f"output directory '{run_dir}' is not empty; choose a new or empty directory")


def _version_record(event: str) -> dict[str, str]:
    """This evonas's version, what it did to the run, and when (UTC)."""
    return {"version": evonas_version(), "event": event,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection to the run database; an existing one is checked, never altered, first."""
    try:
        db = sqlite3.connect(path)
        if create:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(_REMEASURES)
            db.execute(_SCORES)
        else:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not set(TABLES) <= tables or db.execute(
                    "SELECT 1 FROM meta WHERE key = 'schema_version'").fetchone() is None:
                db.close()
                raise UserError(f"'{path}' is an SQLite database but not an evonas run (no evonas tables)")
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise UserError(f"run database '{path}' is corrupt or not a database: {exc}") from None
    return db


_ADDED_COLUMNS = ((2, (("tell_order", "INTEGER"), ("asked_before", "INTEGER"))), (5, (("cost", "REAL"),)))
"""(schema version, the candidates' columns it added): what a migration adds to an older run."""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a run written by an older evonas up to :data:`SCHEMA_VERSION` (only a writer does).

    Version 1 ran one candidate at a time, so its ask/tell interleaving is implied by the ids
    and the new columns stay empty (``NULL`` reads as sequential). Version 3 added the
    ``remeasures`` table, version 4 the ``scores`` table, version 5 the candidates' ``cost``
    (empty for older rows: their cost is their fidelity increment, as it was counted then).
    """
    version = json.loads(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise UserError(f"run database was written by a newer evonas (schema {version}, this one reads "
                        f"{SCHEMA_VERSION}); upgrade evonas to resume it")
    if version < SCHEMA_VERSION:
        with db:
            for added_in, columns in _ADDED_COLUMNS:
                for name, kind in columns if version < added_in else ():
                    db.execute(f"ALTER TABLE candidates ADD COLUMN {name} {kind}")
            db.execute(_REMEASURES)
            db.execute(_SCORES)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (json.dumps(SCHEMA_VERSION),))


class _WriterLock:
    """An exclusive ``flock`` on the run directory's lock file, holding the writer's pid and host."""

    def __init__(self, handle):
        self.handle = handle

    @classmethod
    def acquire(cls, run_dir: Path) -> "_WriterLock":
        path = run_dir / LOCK_NAME
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise UserError(f"cannot lock run directory '{run_dir}': {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(f"run directory '{run_dir}' is in use by {holder}; wait for it to finish "
                            "or stop it (one search writes a run at a time)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
