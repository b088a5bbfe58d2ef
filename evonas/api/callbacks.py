"""Callbacks a :class:`~evonas.api.study.Study` calls after every trial, as ``callback(search, trial)``."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, TextIO

from evonas.core.errors import UserError


class JsonLog:
    """Appends one JSON object per evaluated candidate to a file (JSON Lines), for scripts.

    Each line: ``id``, ``genome``, ``parent_id``, ``operator``, ``state``, ``metrics``
    (non-finite values as null), ``error``, ``evaluations`` (told so far), ``failed`` (so far),
    ``front_size``, ``hypervolume`` and ``time`` (Unix seconds). The file is opened for appending,
    so a resumed run continues its log; each line is flushed as it is written.

    Raises:
        UserError: the file cannot be opened for writing.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file: TextIO = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write the JSON log '{self.path}': {exc.strerror or exc}") from None
        self._failed = 0

    def __call__(self, search: Any, trial: Any) -> None:
        self._failed += not trial.ok
        hv = search.hv_history[-1][2] if search.hv_history else 0.0
        record = {"id": trial.id, "genome": str(trial.genome), "parent_id": trial.parent_id,
                  "operator": trial.operator, "state": trial.state.value,
                  "metrics": {k: (v if math.isfinite(v) else None) for k, v in trial.metrics.items()},
                  "error": trial.error, "evaluations": search.n_evaluated, "failed": self._failed,
                  "front_size": len(search.archive), "hypervolume": hv, "time": time.time()}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
