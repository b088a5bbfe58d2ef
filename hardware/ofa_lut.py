"""Once-for-All's per-layer latency tables (YAML, e.g. Samsung Note10) in OFA's flat architecture form.

A table maps a layer id such as
``expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0``
to ``{count, mean, std}`` (ms); a network's latency is the sum of its layers' means. The
tables, the architecture and its layer ids are implemented once, in
:mod:`evonas.problems.ofa`; this module takes an OFA-MobileNetV3 (width 1.2) architecture
as OFA's ``ks``/``e`` (20 slots, 4 per stage) and ``d`` (5 stage depths), as OFA's own
latency estimator does.

Usage::

    table = load_ofa_table(ofa_table_path(root, 192))      # {layer id: mean ms}
    ms = ofa_latency_ms(table, ks, e, d, resolution=192)
"""

from __future__ import annotations

from typing import Sequence

from evonas.problems.ofa import MAX_DEPTH, N_STAGES, OFAArch, layer_keys
from evonas.problems.ofa import read_table as load_ofa_table
from evonas.problems.ofa import table_path as ofa_table_path
from evonas.core.errors import UserError

__all__ = ["load_ofa_table", "ofa_latency_ms", "ofa_layer_keys", "ofa_table_path"]


def ofa_layer_keys(ks: Sequence[int], e: Sequence[int], d: Sequence[int], resolution: int) -> list[str]:
    """The layer ids of an OFA-MobileNetV3 architecture at ``resolution``.

    Args:
        ks: depthwise kernel of each of the 20 block slots (slots beyond a stage's depth ignored).
        e: expand ratio of each slot.
        d: depth (2..4) of each of the 5 stages.
        resolution: input height = width.
    """
    slots = N_STAGES * MAX_DEPTH
    if len(ks) != slots or len(e) != slots or len(d) != N_STAGES:
        raise UserError(f"an OFA architecture has 20 ks, 20 e and 5 d values, got {len(ks)}, {len(e)}, {len(d)}")
    return layer_keys(OFAArch.from_slots(ks, e, d, resolution))


def ofa_latency_ms(table: dict[str, float], ks: Sequence[int], e: Sequence[int], d: Sequence[int],
                   resolution: int) -> float:
    """Sum of the table's mean latencies over the architecture's layers (ms).

    Raises:
        UserError: a layer is not in the table (e.g. the table is for another resolution).
    """
    keys = ofa_layer_keys(ks, e, d, resolution)
    missing = [k for k in keys if k not in table]
    if missing:
        raise UserError(f"OFA latency table has no entry {missing[0]!r} ({len(missing)} missing): "
                        f"is it the table for resolution {resolution}?")
    return float(sum(table[k] for k in keys))
