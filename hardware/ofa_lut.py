"""Import of Once-for-All's per-layer latency tables (YAML, e.g. Samsung Note10).

A table maps a layer id such as
``expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0``
to ``{count, mean, std}`` (ms); a network's latency is the sum of its layers' means.
:func:`ofa_layer_keys` lists the layers of an OFA-MobileNetV3 (width 1.2) architecture given
as OFA's ``ks``/``e`` (20 slots, 4 per stage) and ``d`` (5 stage depths), as OFA's own
latency estimator does.

Usage::

    table = load_ofa_table(ofa_table_path(root, 192))      # {layer id: mean ms}
    ms = ofa_latency_ms(table, ks, e, d, resolution=192)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import yaml

from evonas.core.errors import UserError

# OFA-MobileNetV3 width 1.2: per stage output width, first-block stride, SE and h-swish flags.
STAGE_WIDTHS = (32, 48, 96, 136, 192)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_SE = (0, 1, 0, 1, 1)
STAGE_HS = (0, 0, 1, 1, 1)
STEM_WIDTH, FINAL_EXPAND, FEATURE_MIX, CLASSES = 24, 1152, 1536, 1000
MAX_DEPTH = 4


def ofa_table_path(root: str | Path, resolution: int) -> Path:
    """``root/<resolution>_lookup_table.yaml`` (OFA's file naming)."""
    return Path(root) / f"{resolution}_lookup_table.yaml"


def load_ofa_table(path: str | Path) -> dict[str, float]:
    """An OFA YAML latency table as ``{layer id: mean latency in ms}``.

    Raises:
        UserError: the file is missing or is not an OFA latency table.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C loader: ~10x faster
    except OSError as exc:
        raise UserError(f"cannot read OFA latency table '{path}': {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"'{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "mean" in v for v in raw.values()):
        raise UserError(f"'{path}' is not an OFA latency table (expected 'layer id: {{count, mean, std}}' entries)")
    return {str(k): float(v["mean"]) for k, v in raw.items()}


def _size(resolution: int, stride: int) -> int:
    return (resolution - 1) // stride + 1


def _block_key(r_in: int, c_in: int, c_out: int, expand: int, kernel: int, stride: int, idskip: int,
               se: int, hs: int) -> str:
    r_out = _size(r_in, stride)
    return (f"expanded_conv-input:{r_in}x{r_in}x{c_in}-output:{r_out}x{r_out}x{c_out}-expand:{expand}"
            f"-kernel:{kernel}-stride:{stride}-idskip:{idskip}-se:{se}-hs:{hs}")


def ofa_layer_keys(ks: Sequence[int], e: Sequence[int], d: Sequence[int], resolution: int) -> list[str]:
    """The layer ids of an OFA-MobileNetV3 architecture at ``resolution``.

    Args:
        ks: depthwise kernel of each of the 20 block slots (slots beyond a stage's depth ignored).
        e: expand ratio of each slot.
        d: depth (2..4) of each of the 5 stages.
        resolution: input height = width.
    """
    if len(ks) != 5 * MAX_DEPTH or len(e) != 5 * MAX_DEPTH or len(d) != 5:
        raise UserError(f"an OFA architecture has 20 ks, 20 e and 5 d values, got {len(ks)}, {len(e)}, {len(d)}")
    r = _size(resolution, 2)
    keys = [f"Conv-input:{resolution}x{resolution}x3-output:{r}x{r}x{STEM_WIDTH}",
            _block_key(r, STEM_WIDTH, STEM_WIDTH, STEM_WIDTH, 3, 1, 1, 0, 0)]
    c = STEM_WIDTH
    for s, width in enumerate(STAGE_WIDTHS):
        for j in range(d[s]):
            slot, stride = s * MAX_DEPTH + j, STAGE_STRIDES[s] if j == 0 else 1
            keys.append(_block_key(r, c, width, round(c * e[slot]), ks[slot], stride, int(j > 0),
                                   STAGE_SE[s], STAGE_HS[s]))
            r, c = _size(r, stride), width
    keys += [f"Conv_1-input:{r}x{r}x{c}-output:{r}x{r}x{FINAL_EXPAND}",
             f"AvgPool2D-input:{r}x{r}x{FINAL_EXPAND}-output:1x1x{FINAL_EXPAND}",
             f"Conv_2-input:1x1x{FINAL_EXPAND}-output:1x1x{FEATURE_MIX}",
             f"Logits-input:1x1x{FEATURE_MIX}-output:{CLASSES}"]
    return keys


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
