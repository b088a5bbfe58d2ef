"""The report's figures, drawn with matplotlib's object API (no pyplot, no global figure state).

Two objectives get one scatter of every candidate with the front's progress drawn over it.
More objectives get every pairwise projection (the front highlighted, because a member that is
non-dominated in k dimensions can look dominated in any one projection) and a
parallel-coordinates view, which shows each member's whole profile at once.
"""

from __future__ import annotations

import io
import itertools
import math
import re

import numpy as np
from matplotlib.figure import Figure
from matplotlib import colormaps, rc_context
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.transforms import blended_transform_factory

from evonas.core.objectives import Direction, Objective
from evonas.report.view import RunView, finite

FRONT_COLOUR = "#d62728"
LABELLED_MEMBERS = 12
"""Up to this many front members are labelled with their ids in the parallel-coordinates view."""
FAILED_COLOUR = "#7f7f7f"
SVG_STYLE = {"svg.fonttype": "path", "svg.hashsalt": "evonas-report"}  # text as paths: no font requests


def label(objective: Objective) -> str:
    arrow = "higher is better" if objective.direction is Direction.MAXIMIZE else "lower is better"
    unit = f" ({objective.unit})" if objective.unit else ""
    return f"{objective.name}{unit}, {arrow}"


def figures(view: RunView) -> dict[str, Figure]:
    """The report's figures by file stem: ``front`` (or ``projections`` and ``parallel``) and ``hypervolume``."""
    if len(view.objectives) == 2:
        out = {"front": front_figure(view, view.objectives[1], view.objectives[0])}
    else:
        out = {"projections": projections_figure(view), "parallel": parallel_figure(view)}
    out["hypervolume"] = hypervolume_figure(view)
    return out


def front_figure(view: RunView, x: Objective, y: Objective) -> Figure:
    """Every told candidate of the run on (x, y): dominated ones coloured by when they were
    evaluated, the front's earlier positions dashed, the final front in red, failures marked."""
    fig = Figure(figsize=(8, 5.2), layout="constrained")
    ax = fig.add_subplot()
    _draw_pair(ax, view, x, y, colorbar=True)
    for i, snap in enumerate(view.snapshots):
        pts = [(finite(m, x.name), finite(m, y.name)) for _, m in snap.members]
        _step(ax, [p for p in pts if None not in p], color=str(0.75 - 0.2 * i), linestyle="--", linewidth=1,
              label=f"front after {snap.evaluations} evaluations")
    for r in view.front:
        ax.annotate(f"#{r.id}", (finite(r.metrics, x.name), finite(r.metrics, y.name)), fontsize=7,
                    xytext=(4, 4), textcoords="offset points", color=FRONT_COLOUR)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"Pareto front: {y.name} vs {x.name} ({len(view.front)} members, {len(view.told)} evaluated)")
    return fig


def _draw_pair(ax, view: RunView, x: Objective, y: Objective, colorbar: bool = False) -> None:
    """One projection: evaluated candidates, infeasible and failed ones, and the final front."""
    front_ids = {r.id for r in view.front}
    ok = [(n, r) for n, r in enumerate(view.told, 1) if r.ok and r.id not in front_ids]
    feasible = [(n, r) for n, r in ok if r.violation <= 0]
    pts = np.array([(finite(r.metrics, x.name), finite(r.metrics, y.name), n) for n, r in feasible
                    if None not in (finite(r.metrics, x.name), finite(r.metrics, y.name))]).reshape(-1, 3)
    scatter = ax.scatter(pts[:, 0], pts[:, 1], c=pts[:, 2], cmap="viridis", s=18, alpha=0.7,
                         vmin=1, vmax=max(len(view.told), 2), label="dominated (colour: evaluation #)")
    if colorbar and len(pts):
        ax.figure.colorbar(scatter, ax=ax, label="evaluation #")
    infeasible = [r for _, r in ok if r.violation > 0]
    _points(ax, infeasible, x, y, marker="o", facecolors="none", edgecolors="#9467bd", s=22,
            label=f"violates a constraint ({len(infeasible)})")
    _failed(ax, view, x, y)
    front = [(finite(r.metrics, x.name), finite(r.metrics, y.name)) for r in view.front]
    if len(view.objectives) == 2:
        _step(ax, front, color=FRONT_COLOUR, linewidth=1.8, marker="o", markersize=6,
              label=f"Pareto front ({len(view.front)})")
    else:  # a projection of a k-dimensional front is no staircase: points only
        _points(ax, view.front, x, y, color=FRONT_COLOUR, s=30, label=f"Pareto front ({len(view.front)})")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.grid(alpha=0.3)


def _points(ax, rows, x: Objective, y: Objective, **style) -> None:
    pts = [(finite(r.metrics, x.name), finite(r.metrics, y.name)) for r in rows]
    pts = [p for p in pts if None not in p]
    if pts:
        ax.scatter(*zip(*pts), **style)


def _failed(ax, view: RunView, x: Objective, y: Objective) -> None:
    """Failed candidates: at their values where both are known, else along the bottom edge at
    their x (a candidate that failed in training still had its cost measured)."""
    failed = view.failed
    if not failed:
        return
    both = [r for r in failed if None not in (finite(r.metrics, x.name), finite(r.metrics, y.name))]
    edge = [finite(r.metrics, x.name) for r in failed if r.id not in {b.id for b in both} and finite(r.metrics, x.name) is not None]
    style = dict(marker="x", color=FAILED_COLOUR, s=26, linewidths=1.2)
    _points(ax, both, x, y, **style, label=f"failed ({len(failed)})")
    if edge:
        ax.scatter(edge, [0.02] * len(edge), transform=blended_transform_factory(ax.transData, ax.transAxes),
                   clip_on=False, **style, label=None if both else f"failed ({len(failed)}; at their {x.name})")


def _step(ax, points, **style) -> None:
    """A front as the staircase it dominates (points sorted by x)."""
    points = sorted(p for p in points if None not in p)
    if points:
        xs, ys = zip(*points)
        ax.step(xs, ys, where="post", **style)


def projections_figure(view: RunView) -> Figure:
    """Every pair of objectives, the front highlighted in each."""
    pairs = list(itertools.combinations(view.objectives, 2))
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = Figure(figsize=(4.6 * cols, 3.8 * rows), layout="constrained")
    for i, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(rows, cols, i + 1)
        _draw_pair(ax, view, b, a)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"Pairwise projections ({len(view.front)} front members in red, {len(view.told)} evaluated)")
    return fig


def parallel_figure(view: RunView) -> Figure:
    """Parallel coordinates: one line per candidate, every axis scaled so that up is better."""
    objectives = view.objectives
    ok = [r for r in view.told if r.ok
          and all(finite(r.metrics, o.name) is not None for o in objectives)]
    fig = Figure(figsize=(max(6.0, 2.2 * len(objectives)), 4.8), layout="constrained")
    ax = fig.add_subplot()
    if ok:
        values = np.array([[r.metrics[o.name] for o in objectives] for r in ok], dtype=float)
        lo, hi = values.min(axis=0), values.max(axis=0)
        scaled = (values - lo) / np.where(hi > lo, hi - lo, 1.0)
        for j, o in enumerate(objectives):
            if o.direction is Direction.MINIMIZE:
                scaled[:, j] = 1.0 - scaled[:, j]
        front_ids = {r.id for r in view.front}
        xs = np.arange(len(objectives))
        for r, line in zip(ok, scaled):
            if r.id not in front_ids:
                ax.plot(xs, line, color="#9e9e9e", alpha=0.25, linewidth=0.8)
        members = [(r, line, raw[0]) for r, line, raw in zip(ok, scaled, values) if r.id in front_ids]
        cmap, norm = colormaps["plasma"], Normalize(lo[0], hi[0])
        for r, line, first in members:  # coloured by the first objective, as on the colour bar
            ax.plot(xs, line, color=cmap(norm(first)), linewidth=1.6, marker="o", markersize=4)
        if len(members) <= LABELLED_MEMBERS:
            for r, line, _ in members:
                ax.annotate(f"#{r.id}", (xs[-1], line[-1]), xytext=(5, 0), textcoords="offset points", fontsize=7)
        bar = ax.figure.colorbar(ScalarMappable(norm, cmap), ax=ax,
                                 label=f"front members by {objectives[0].name}")
        bar.ax.tick_params(labelsize=7)
        ax.set_xticks(xs, [f"{o.name}\n[{_fmt(lo[j])} .. {_fmt(hi[j])}]" for j, o in enumerate(objectives)],
                      fontsize=8)
    ax.set_ylabel("scaled, up is better")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(axis="x", alpha=0.5)
    ax.set_title("Parallel coordinates (grey: dominated)")
    return fig


def hypervolume_figure(view: RunView) -> Figure:
    """Hypervolume of the front against evaluations and against wall time."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    by_evals, by_time = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    relative = view.normalisation is not None and view.normalisation.relative
    hv = list(view.hypervolume)
    if hv:
        end_n, end_s = len(view.told), view.wall_seconds
        evals, secs, values = zip(*(hv + [(end_n, max(end_s, hv[-1][1]), hv[-1][2])]))
        minutes = max(secs) > 180
        scale = 60.0 if minutes else 1.0
        by_evals.step(evals, values, where="post", color="#1f77b4")
        by_time.step([s / scale for s in secs], values, where="post", color="#1f77b4")
        by_time.set_xlabel(f"wall time ({'min' if minutes else 's'})")
    by_evals.set_xlabel("evaluations")
    for ax in (by_evals, by_time):
        ax.set_ylabel("hypervolume" + (" (relative)" if relative else ""))
        ax.grid(alpha=0.3)
    fig.suptitle("Hypervolume of the front (normalised objectives, " + (
        f"relative to the range seen: {', '.join(view.normalisation.seen)}; every point on the final range)"
        if relative else "the run's bounds)"))
    return fig


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no external references)."""
    buf = io.StringIO()
    with rc_context(SVG_STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.S)


def save(fig: Figure, stem) -> None:
    """Write ``stem.png`` (150 dpi) and ``stem.svg``."""
    with rc_context(SVG_STYLE):
        fig.savefig(f"{stem}.svg", format="svg", metadata={"Date": None})
    fig.savefig(f"{stem}.png", format="png", dpi=150, metadata={"Software": None})
