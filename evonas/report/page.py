"""The report as one self-contained HTML page: inline SVG figures, inline CSS, no script, and a
Content-Security-Policy that forbids the page from loading anything."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from evonas.core.objectives import interval_names
from evonas.report.view import RunView, finite, pretty_json

MARKER = "<!-- evonas run report -->"
"""First line of every report; only a file starting with it may be overwritten by a new report."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.2em 1.6em 3em; color: #1b1b1b; }
h1 { font-size: 1.55em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.summary { color: #444; } .warn { background: #fff4d6; border: 1px solid #f0c36d; padding: 0.5em 0.8em; }
figure { margin: 0.6em 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 12.5px; } th, td { border: 1px solid #ddd; padding: 3px 7px; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
td code { word-break: break-all; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
ol.lineage { margin: 0.2em 0 0.8em; padding-left: 1.6em; } .muted { color: #777; }
"""


def render(view: RunView, svgs: dict[str, str], bundle: dict[int, str], written_at: dt.datetime) -> str:
    """The page for ``view``: ``svgs`` maps figure stems to inline SVG, ``bundle`` candidate ids
    to (relative) ONNX paths for the links."""
    parts = [
        MARKER,
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>evonas report: {escape(view.run_dir.name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>evonas run <code>{escape(str(view.run_dir))}</code></h1>",
        _summary(view, written_at),
        "<h2>Pareto front</h2>",
        *_figures(svgs, ("front", "projections", "parallel")),
        "<h2>Hypervolume</h2>",
        *_figures(svgs, ("hypervolume",)),
        "<h2>Front members</h2>",
        _front_table(view, bundle),
        "<h2>Lineage of the front members</h2>",
        _lineages(view),
        "<h2>Configuration</h2>",
        _configuration(view),
        "<h2>Hardware fingerprint</h2>",
        _fingerprint(view),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(view: RunView, written_at: dt.datetime) -> str:
    spec = view.config.get("search") or {}
    facts = [f"strategy <b>{escape(str(spec.get('strategy', view.config.get('strategy', {}).get('class', '?'))))}</b>",
             f"seed {escape(str(view.config.get('seed', spec.get('seed', '?'))))}",
             f"{len(view.told)} evaluated" + (f" of {view.budget}" if view.budget else ""),
             f"{len(view.failed)} failed", f"{len(view.front)} on the front",
             f"wall time {view.wall_seconds:.0f} s"]
    if spec.get("target"):
        facts.insert(1, f"target <b>{escape(spec['target'])}</b>")
    if view.hypervolume:
        facts.append(f"{escape(view.hypervolume_label)} {view.hypervolume[-1][2]:.4g}")
    out = [f'<p class="summary">{" · ".join(facts)}. Report written {written_at:%Y-%m-%d %H:%M:%S %Z}.</p>']
    if view.running:
        ids = ", ".join(f"#{r.id}" for r in view.running)
        out.append(f'<p class="warn" id="in-progress">The run is still going: {len(view.running)} candidate(s) '
                   f"running ({ids}). Write the report again for the latest state.</p>")
    return "\n".join(out)


def _figures(svgs: dict[str, str], stems: tuple[str, ...]) -> list[str]:
    return [f'<figure id="{stem}-plot">{svgs[stem]}</figure>' for stem in stems if stem in svgs]


def _front_table(view: RunView, bundle: dict[int, str]) -> str:
    if not view.front:
        return '<p class="muted">No successful candidate yet.</p>'
    held_out = view.score_names
    heads = ["id", *(f"{o.name} ({o.unit})" if o.unit else o.name for o in view.objectives),
             *(f"{name} (held out)" for name in held_out), "fidelity", "parent / operator", "ONNX", "genome"]
    rows = []
    for r in view.front:
        cells = [f'<td class="num">{r.id}</td>']
        cells += [f'<td class="num">{_value(r.metrics, o.name)}</td>' for o in view.objectives]
        cells += [f'<td class="num">{_value(view.scores.get(r.id, {}), name)}</td>' for name in held_out]
        cells.append(f'<td class="num">{"-" if r.fidelity is None else f"{r.fidelity:g}"}</td>')
        parent = "-" if r.parent_id is None else f"#{r.parent_id}"
        cells.append(f"<td>{parent} / {escape(r.operator)}</td>")
        link = bundle.get(r.id)
        cells.append(f'<td><a href="{escape(link)}">{escape(Path(link).name)}</a></td>' if link
                     else '<td class="muted">not exported</td>')
        cells.append(f"<td><code>{escape(str(r.genome))}</code></td>")
        rows.append(f'<tr data-id="{r.id}">{"".join(cells)}</tr>')
    note = ('<p class="muted">Measured objectives show their spread as [low, high] (the interquartile range '
            "of the timed runs). Fidelity: training epochs (or the table's fidelity)."
            + (" Held-out scores were recorded but never seen by the search; the front is chosen without them."
               if held_out else "")
            + (f" Under the {escape(view.run.schedule['schedule'])} schedule the front holds only the trials at "
               f"fidelity {view.run.front_fidelity:g}, the highest reached; lower rungs are left out."
               if view.run.schedule and view.run.front_fidelity is not None else "") + "</p>")
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    return f'<table id="front-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'


def _value(metrics: dict[str, float], name: str) -> str:
    value = finite(metrics, name)
    if value is None:
        return "-"
    low, high = interval_names(name)
    text = _fmt(value)
    if finite(metrics, low) is not None and finite(metrics, high) is not None:
        text += f' <span class="muted">[{_fmt(metrics[low])}, {_fmt(metrics[high])}]</span>'
    return text


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _lineages(view: RunView) -> str:
    if not view.front:
        return '<p class="muted">No front yet.</p>'
    blocks = []
    for r in view.front:
        steps = []
        for node in view.lineage(r.id):
            origin = f"from #{node.parent_id} by <b>{escape(node.operator)}</b>" if node.parent_id is not None \
                else f"<b>{escape(node.operator)}</b>"
            steps.append(f"<li>#{node.id} {origin}: <code>{escape(str(node.genome))}</code></li>")
        blocks.append(f'<p>Member #{r.id} ({len(steps) - 1} generation(s) from its root):</p>'
                      f'<ol class="lineage">{"".join(steps)}</ol>')
    return "\n".join(blocks)


def _configuration(view: RunView) -> str:
    spec = view.config.get("search")
    full = f"<details><summary>everything stored with the run</summary><pre>{escape(pretty_json(view.config))}</pre></details>"
    if spec is None:
        return f"<p>Made through the Python API.</p>{_versions(view)}{full}"
    return (f"<p>The run as given on the command line (its <code>RunSpec</code>):</p><pre>{escape(pretty_json(spec))}</pre>"
            f"{_versions(view)}{full}")


def _versions(view: RunView) -> str:
    if not view.versions:
        return '<p class="muted">Written by an evonas that did not record its version.</p>'
    items = "".join(f"<li>{escape(str(v.get('event')))} by evonas {escape(str(v.get('version')))} at "
                    f"{escape(str(v.get('at')))}</li>" for v in view.versions)
    return f'<p>Written by:</p><ul id="versions">{items}</ul>'


FINGERPRINT_FACTS = ("cpu_model", "machine", "logical_cores", "physical_cores", "max_mhz", "gpu", "os", "python",
                     "torch", "onnxruntime", "onnx", "numpy")


def _fingerprint(view: RunView) -> str:
    if view.fingerprint is None:
        return ('<p class="muted">No hardware measurement in this run (a table-backed problem reads its costs '
                "from the benchmark table).</p>")
    fp = view.fingerprint
    target = fp.get("target") or {}
    facts = [("target", f"{target.get('name', '?')}: {target.get('description', '')}")]
    facts += [(k, fp[k]) for k in FINGERPRINT_FACTS if k in fp]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    return (f'<table id="fingerprint">{rows}</table><details><summary>the whole fingerprint</summary>'
            f"<pre>{escape(pretty_json(fp))}</pre></details>")
