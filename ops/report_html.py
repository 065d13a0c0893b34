"""A report as one self-contained HTML page: the verdict, the checks, the measurements and a plot.

The page renders a report's JSON (the dict `ops.report` writes), so any report on disk can be drawn again.
Plots are matplotlib figures inlined as SVG, text drawn as paths: the page loads nothing (no script, font,
stylesheet or image from elsewhere) and reads the same opened from disk with no network. Per kind:
failover, every canary attempt against the control plane's moments; restore, its phases, T and the markers
on both sides; cost, month-to-date and projected spend by service against the budget; any other kind, the
generic page. Trend pages plot one measurement across the report history.

It sits below `ops.report` (which writes the page beside each report) and imports nothing of dbops.
"""

from __future__ import annotations

import io
import math
import re
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from ops.clock import parse_iso

MAX_RUNS_DRAWN = 400  # runs beyond this are folded pairwise before drawing: a page stays small whatever the report holds
MAX_SPANS_DRAWN = 400  # a restore's phase spans, folded the same way
MAX_EVENTS_SHOWN = 400  # the first and last halves; the JSON keeps them all
STATUS_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#8250df", "inconclusive": "#9a6700",
                  "aborted": "#57606a", "warn": "#9a6700", "unknown": "#9a6700"}
OUTCOME_COLOURS = {"read-only": "#fb8f44", "refused": "#cf222e", "mixed": "#8c959f"}
ACK_COLOURS = ("#1a7f37", "#0969da", "#2da44e", "#54aeff", "#116329")


def fold_runs(runs: list[dict[str, Any]], max_runs: int) -> list[dict[str, Any]]:
    """Runs of canary attempts, neighbours merged pairwise until at most `max_runs` are left: the counts and
    the span of time stay exact, and a run that merged different outcomes (or servers) says "mixed"."""
    while len(runs) > max(1, max_runs):
        runs = [_merged(runs[i:i + 2]) for i in range(0, len(runs), 2)]
    return runs


def _merged(pair: list[dict[str, Any]]) -> dict[str, Any]:
    if len(pair) == 1:
        return pair[0]
    a, b = pair
    same = a.get("outcome") == b.get("outcome") and a.get("server", "") == b.get("server", "")
    return {"from": a.get("from"), "to": b.get("to"), "outcome": a.get("outcome") if same else "mixed",
            "server": a.get("server", "") if same else "", "n": int(a.get("n") or 0) + int(b.get("n") or 0)}


def number(value: Any) -> float | None:
    """A figure a plot or a table may show: a finite number, else None (not measured)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def shown(value: Any, reason: str | None = None) -> str:
    """A measurement as the page shows it: the figure, or "not measured" with its reason — never None or NaN."""
    n = number(value)
    if n is None:
        return "not measured" + (f" ({reason})" if reason else " (not a finite number)" if value is not None else "")
    if abs(n) >= LARGE:
        return f"{n:.3e}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


LARGE = 1e15  # a figure from here on is shown in scientific notation: 1e308 would otherwise be 309 digits


# ---- plots -------------------------------------------------------------------------------------------

def _figure(width: float = 9.0, height: float = 3.2):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot()


def _svg(fig: Any) -> str:
    """The figure as inline SVG: no XML prolog, no metadata, no namespace URIs (HTML parses inline SVG without them)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "dbops"}):
        fig.tight_layout()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)  # comments repeat label text: drop what is not drawn


def failover_plot(data: dict[str, Any]) -> str | None:
    """Every canary attempt as runs on one lane per outcome (acknowledged: one lane per server), against the
    control plane's moments as vertical lines. None when the report has no attempts to draw."""
    details = data.get("details") or {}
    runs = [r for r in details.get("canary_runs") or [] if isinstance(r, dict)
            and number(r.get("from")) is not None and number(r.get("to")) is not None]
    if not runs:
        return None
    runs = fold_runs(runs, MAX_RUNS_DRAWN)
    lanes: list[str] = []
    for r in runs:
        lane = f"acknowledged by {r.get('server') or '?'}" if r.get("outcome") == "acknowledged" else str(r.get("outcome"))
        if lane not in lanes:
            lanes.append(lane)
    lanes.sort(key=lambda lane: (not lane.startswith("acknowledged"), lane))
    start = min(number(r["from"]) for r in runs)  # type: ignore[type-var]
    end = max(number(r["to"]) for r in runs)  # type: ignore[type-var]
    min_width = max((end - start) / 400, 0.01)  # a single attempt is still visible
    fig, ax = _figure(9.0, 1.4 + 0.45 * len(lanes))
    acks = 0
    for i, lane in enumerate(lanes):
        spans = [(number(r["from"]), max(number(r["to"]) - number(r["from"]), min_width))  # type: ignore[operator]
                 for r in runs if _lane(r) == lane]
        if lane.startswith("acknowledged"):
            colour, acks = ACK_COLOURS[acks % len(ACK_COLOURS)], acks + 1
        else:
            colour = OUTCOME_COLOURS.get(lane, "#8c959f")
        ax.broken_barh(spans, (i - 0.35, 0.7), facecolors=colour)
    ax.set_yticks(range(len(lanes)), [_short(lane, 40) for lane in lanes])
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    marks = {name: number(t) for name, t in (details.get("timeline_s") or {}).items()}
    for j, (name, t) in enumerate(sorted(((n, t) for n, t in marks.items() if t is not None), key=lambda m: m[1])):
        ax.axvline(t, color="#24292f", linestyle="--", linewidth=0.9)
        ax.annotate(_short(name, 28), (t, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10 - 10 * (j % 3)),
                    textcoords="offset points", fontsize=7, color="#24292f",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.set_xlabel("seconds from the failover call")
    ax.set_title("canary attempts and control-plane moments", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _lane(run: dict[str, Any]) -> str:
    return f"acknowledged by {run.get('server') or '?'}" if run.get("outcome") == "acknowledged" else str(run.get("outcome"))


def restore_plot(data: dict[str, Any]) -> str | None:
    """The restore's phases, T and the markers on each side of it, as an inline SVG (see `restore_figure`).
    None without timestamped events."""
    fig = restore_figure(data)
    return _svg(fig) if fig is not None else None


def _restore_events(data: dict[str, Any]) -> tuple[list[tuple[datetime, str, str]], datetime, datetime] | None:
    """The timestamped events (at, phase, message), the drill's start and its end; None without any."""
    events = [(t, str(e.get("phase", "")), str(e.get("message", ""))) for e in data.get("events") or []
              if isinstance(e, dict) and (t := parse_iso(e.get("at"))) is not None]
    if not events:
        return None
    end = parse_iso(data.get("finished_at"))
    return events, parse_iso(data.get("started_at")) or events[0][0], max(end or events[-1][0], events[-1][0])


def phase_spans(data: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(phase, from, to) in seconds from the drill's start: each event starts its phase until the next event, and
    neighbouring events of one phase are one span."""
    found = _restore_events(data)
    if found is None:
        return []
    events, t0, end = found
    spans: list[tuple[str, float, float]] = []
    for i, (at, phase, _) in enumerate(events):
        until = events[i + 1][0] if i + 1 < len(events) else end
        _extend(spans, phase, (at - t0).total_seconds(), (until - t0).total_seconds())
    return spans


def _extend(spans: list[tuple[str, float, float]], phase: str, a: float, b: float) -> None:
    """Append the span [a, b] of `phase`, or lengthen the last one when it is the same phase."""
    if spans and spans[-1][0] == phase:
        spans[-1] = (phase, spans[-1][1], b)
    else:
        spans.append((phase, a, b))


def fold_spans(spans: list[tuple[str, float, float]], max_spans: int) -> list[tuple[str, float, float]]:
    """Phase spans, neighbours merged pairwise until at most `max_spans` are left (as `fold_runs` folds canary runs):
    the time covered stays exact, and a span that merged different phases says "mixed"."""
    while len(spans) > max(1, max_spans):
        folded = [pair[0] if len(pair) == 1 else
                  (pair[0][0] if pair[0][0] == pair[1][0] else "mixed", pair[0][1], pair[1][2])
                  for pair in (spans[i:i + 2] for i in range(0, len(spans), 2))]
        spans = []
        for phase, a, b in folded:  # neighbours that became one phase (often "mixed") are one span
            _extend(spans, phase, a, b)
    return spans


def restore_figure(data: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The restore's phases (folded past MAX_SPANS_DRAWN), T as the service reported it, and the markers written on
    each side of it, in seconds from the drill's start. None without timestamped events."""
    found = _restore_events(data)
    if found is None:
        return None
    events, t0, end = found
    spans = fold_spans(phase_spans(data), MAX_SPANS_DRAWN)
    phases = list(dict.fromkeys(p for p, _, _ in spans))
    total = max((end - t0).total_seconds(), 1e-3)
    fig, ax = _figure(9.0, 1.6 + 0.35 * len(phases))
    for i, phase in enumerate(phases):
        colour = {"cleanup": "#8c959f", "mixed": "#d0d7de"}.get(phase, ACK_COLOURS[i % len(ACK_COLOURS)])
        ax.broken_barh([(a, max(b - a, total / 300)) for p, a, b in spans if p == phase], (i - 0.35, 0.7),
                       facecolors=colour)
    ax.set_yticks(range(len(phases)), phases)
    ax.set_ylim(-0.7, len(phases) - 0.3)
    for at, phase, message in events:
        side = re.match(r"wrote (\d+) markers (before|after) T", message)
        if phase == "markers" and side:
            x, y = (at - t0).total_seconds(), phases.index(phase if phase in phases else "mixed")
            ax.plot([x], [y], marker="v" if side.group(2) == "before" else "^", color="#24292f")
            ax.annotate(f"{side.group(1)} written {side.group(2)} T", (x, y), xytext=(4, 6),
                        textcoords="offset points", fontsize=7)
    restore_t = parse_iso((data.get("details") or {}).get("restore_time"))
    if restore_t is not None:  # the service's own clock: the drill's events are on this host's
        x = (restore_t - t0).total_seconds()
        ax.axvline(x, color="#cf222e", linestyle="--", linewidth=1)
        ax.annotate("T (service clock)", (x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", color="#cf222e", fontsize=9)
    ax.set_xlabel("seconds from the drill's start")
    ax.set_title("restore phases, T and the markers on both sides", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def cost_plot(data: dict[str, Any]) -> str | None:
    """Month-to-date and projected spend, each a bar stacked by service, against the budget. None without a
    service breakdown."""
    fig = cost_figure(data)
    return _svg(fig) if fig is not None else None


def cost_figure(data: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The cost plot's figure. A service whose spend was not measured adds no segment (a 0 would understate the
    bar): the bar's end names it "not measured" instead."""
    rows = [r for r in (data.get("details") or {}).get("services") or [] if isinstance(r, dict)]
    rows = [r for r in rows if number(r.get("mtd_usd")) is not None or number(r.get("projected_usd")) is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -(number(r.get("projected_usd")) or 0.0))
    if len(rows) > 9:  # the rest, summed: a legend of forty services says nothing
        rest = rows[8:]
        rows = rows[:8] + [{"service": f"{len(rest)} others", "mtd_usd": _sum_or_none(r.get("mtd_usd") for r in rest),
                            "projected_usd": _sum_or_none(r.get("projected_usd") for r in rest)}]
    fig, ax = _figure(9.0, 2.6)
    bars = ("month to date", "projected")
    left = [0.0, 0.0]
    missing: list[list[str]] = [[], []]
    palette = ("#0969da", "#1a7f37", "#fb8f44", "#8250df", "#bf3989", "#9a6700", "#54aeff", "#2da44e", "#8c959f")
    for i, r in enumerate(rows):
        name = _short(str(r.get("service", "?")), 32)
        widths = [number(r.get("mtd_usd")), number(r.get("projected_usd"))]
        drawn = [b for b, w in enumerate(widths) if w is not None]
        ax.barh([bars[b] for b in drawn], [widths[b] for b in drawn], left=[left[b] for b in drawn],
                color=palette[i % len(palette)], label=name)
        for b, w in enumerate(widths):
            if w is None:
                missing[b].append(name)
            else:
                left[b] += w
    for b, names in enumerate(missing):
        if names:
            ax.annotate(f"+ {', '.join(names)}: not measured", (left[b], b), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=7, color="#9a6700", fontstyle="italic", annotation_clip=False)
    budget = number((data.get("measurements") or {}).get("budget_usd"))
    if budget is not None:
        ax.axvline(budget, color="#cf222e", linestyle="--", linewidth=1.2)
        ax.annotate(f"budget {budget:,.2f}", (budget, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", color="#cf222e", fontsize=8)
    ax.set_xlabel("USD")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("spend by service against the budget", fontsize=10)
    return fig


def _sum_or_none(values: Iterable[Any]) -> float | None:
    """A sum of figures, or None (not measured) when any one of them was not measured."""
    figures = [number(v) for v in values]
    return None if any(f is None for f in figures) else sum(figures)  # type: ignore[arg-type]


def trend_plot(points: list[dict[str, Any]], measurement: str) -> str | None:
    """One measurement across reports, as an inline SVG (see `trend_figure`). None without any report."""
    return quietly(lambda: _svg(trend_figure(points, measurement))) if points else None


def quietly(draw: Callable[[], str | None]) -> str | None:
    """A plot drawn without numpy's overflow warnings on stderr: a figure near the float limit (1e308, a hand edit)
    overflows the axis arithmetic, and is drawn all the same; the table says the figure exactly."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return draw()


NOT_MEASURED_STRIP_Y = -0.07  # axes fraction: just below the x axis, off the data scale; the date labels move down



def trend_figure(points: list[dict[str, Any]], measurement: str):  # type: ignore[no-untyped-def]
    """Measured values as a line per series (points coloured by verdict); the reports that did not measure it as
    crosses in a strip below the axis, never on the data scale (a cross at 0 s downtime would read as a perfect
    failover); the latest objective as a dashed line."""
    fig, ax = _figure(9.0, 3.4)
    measured = [(p["at"], number(p["value"]), p["status"]) for p in points if number(p["value"]) is not None]
    missing = [p["at"] for p in points if number(p["value"]) is None]
    series = trend_series(points)
    for i, ((env, target), line) in enumerate(series.items()):
        ax.plot([m[0] for m in line], [m[1] for m in line], color=("#57606a", "#0969da", "#bf3989", "#9a6700")[i % 4],
                linewidth=1, label=f"{_short(target, 32)} ({_short(env, 16)})" if len(series) > 1 else None)
    if measured:
        for status in dict.fromkeys(m[2] for m in measured):
            sel = [m for m in measured if m[2] == status]
            ax.scatter([m[0] for m in sel], [m[1] for m in sel], color=STATUS_COLOURS.get(status, "#57606a"),
                       label=status, zorder=3)
    if missing:
        ax.scatter(missing, [NOT_MEASURED_STRIP_Y] * len(missing), marker="x", color="#9a6700", label="not measured",
                   transform=ax.get_xaxis_transform(), clip_on=False, zorder=3)
        ax.tick_params(axis="x", pad=14)  # the strip sits between the axis and its labels
        # the strip is off the data scale, so autoscaling does not see it: the time axis spans every report
        first, last = min(p["at"] for p in points), max(p["at"] for p in points)
        margin = (last - first) * 0.04 or timedelta(hours=1)
        ax.set_xlim(first - margin, last + margin)
    objective = next((number(p.get("objective")) for p in reversed(points) if number(p.get("objective")) is not None), None)
    top = max((m[1] for m in measured), default=0.0)
    if objective is not None and (objective <= 2 * top or not measured):
        ax.axhline(objective, color="#cf222e", linestyle="--", linewidth=1, label=f"objective {objective:g}")
    elif objective is not None:  # drawn to scale, a far objective would flatten every measurement into a line
        ax.annotate(f"objective {objective:g}: above the plot", (0.01, 0.97), xycoords="axes fraction", va="top",
                    fontsize=8, color="#cf222e")
    if not measured and objective is None:
        ax.set_yticks([])  # no figure at all: no scale pretending to hold one
    ax.set_ylabel(_short(measurement, 40))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    ax.set_title(f"{measurement} across {len(points)} report(s)", fontsize=10)
    return fig


def trend_series(points: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
    """The measured points of each (env, target), as the lines a trend draws: one target's figures are never
    joined to another's, nor one env's to another env's of the same name."""
    series: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for p in points:
        value = number(p["value"])
        if value is not None:
            series.setdefault((str(p.get("env", "")), str(p.get("target", ""))), []).append((p["at"], value))
    return series


KIND_PLOTS = {"failover": (failover_plot, "no canary attempts in this report: client writes were not measured"),
              "restore": (restore_plot, "no timestamped events in this report: the phases were not recorded"),
              "cost": (cost_plot, "no spend by service in this report: it was not measured")}


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


# ---- pages -------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1100px;
       padding: 0 1rem; color: #24292f; background: #fff; }
h1 { font-size: 1.4rem; margin-bottom: .3rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.verdict { display: inline-block; padding: .2rem .7rem; border-radius: 4px; color: #fff; font-weight: 700; }
.meta { color: #57606a; } .nm { color: #9a6700; font-style: italic; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25rem .5rem;
        border-bottom: 1px solid #d0d7de; vertical-align: top; } th { background: #f6f8fa; }
.status { font-weight: 700; } figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
.note { color: #57606a; }
</style></head><body>
<h1>{{ heading }}</h1>
{% if status %}<p><span class="verdict" style="background: {{ colour }}">{{ status | upper }}</span> {{ summary }}</p>{% endif %}
<p class="meta">{{ meta }}</p>
{% if plot %}<figure>{{ plot | safe }}</figure>{% elif no_plot %}<p class="nm">{{ no_plot }}</p>{% endif %}
{% if table %}<h2>{{ table.title }}</h2><table><tr>{% for h in table.head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if measurements %}<h2>Measurements</h2><table><tr><th>measurement</th><th>value</th><th>objective</th></tr>
{% for name, value, objective, missing in measurements %}<tr><td>{{ name }}</td><td{% if missing %} class="nm"{% endif %}>{{ value }}</td><td>{{ objective }}</td></tr>{% endfor %}
</table>{% endif %}
{% if checks %}<h2>Checks</h2><table><tr><th>id</th><th>status</th><th>detail</th></tr>
{% for c in checks %}<tr><td>{{ c.id }}</td><td class="status" style="color: {{ c.colour }}">{{ c.status }}</td><td>{{ c.detail }}</td></tr>{% endfor %}
</table>{% elif status %}<h2>Checks</h2><p class="nm">no checks were recorded: nothing was judged</p>{% endif %}
{% if events %}<h2>Events</h2><table><tr><th>at</th><th>phase</th><th>message</th></tr>
{% for e in events %}<tr><td>{{ e[0] }}</td><td>{{ e[1] }}</td><td>{{ e[2] }}</td></tr>{% endfor %}
</table>{% if events_hidden %}<p class="note">{{ events_hidden }} events in the middle are not shown; the report's JSON has them all.</p>{% endif %}{% endif %}
</body></html>
"""


def _template():  # type: ignore[no-untyped-def]
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(PAGE)


def render(data: dict[str, Any]) -> str:
    """A report's page. Whatever is absent or malformed in `data` is said as not measured, never drawn as zero."""
    kind, status = str(data.get("kind") or "report"), str(data.get("status") or "unknown")
    plot_fn, no_plot = KIND_PLOTS.get(kind, (None, ""))
    plot = quietly(lambda: plot_fn(data)) if plot_fn else None
    measurements = data.get("measurements") or {}
    not_measured = data.get("not_measured") or {}
    objectives = data.get("objectives") or {}
    rows = [(name, shown(value, not_measured.get(name)), "" if name not in objectives else shown(objectives[name]),
             number(value) is None) for name, value in measurements.items()]
    checks = [{"id": c.get("id", ""), "status": c.get("status", ""), "detail": c.get("detail", ""),
               "colour": STATUS_COLOURS.get(str(c.get("status")), "#24292f")}
              for c in data.get("checks") or [] if isinstance(c, dict)]
    events = [(e.get("at", ""), e.get("phase", ""), e.get("message", "")) for e in data.get("events") or [] if isinstance(e, dict)]
    hidden = max(0, len(events) - MAX_EVENTS_SHOWN)
    if hidden:
        events = events[:MAX_EVENTS_SHOWN // 2] + events[-(MAX_EVENTS_SHOWN // 2):]
    where = ", ".join(f"{k} {data[k]}" for k in ("env", "region", "account") if data.get(k))
    meta = f"{where}; started {data.get('started_at', 'unknown')}, finished {data.get('finished_at', 'unknown')}"
    return _template().render(
        title=f"dbops {kind} {data.get('target', '')}: {status}", heading=f"{kind} — {data.get('target', '')}",
        status=status, colour=STATUS_COLOURS.get(status, "#57606a"), summary=data.get("summary", ""), meta=meta,
        plot=plot, no_plot=no_plot, table=None, measurements=rows, checks=checks, events=events, events_hidden=hidden)


# The measurement a trend of each kind plots when none is named.
TREND_DEFAULTS = {"failover": "client_write_downtime_s", "restore": "restore_duration_s", "cost": "projected_usd",
                  "backup-restore": "restore_duration_s"}


def trend_points(reports: Iterable[dict[str, Any]], measurement: str) -> list[dict[str, Any]]:
    """One point per report, oldest first: when it started, its verdict, the measurement (None: not measured,
    with the report's reason) and the objective it was judged against."""
    points = []
    for r in reports:
        at = parse_iso(r.get("started_at"))
        if at is None:
            continue
        value = (r.get("measurements") or {}).get(measurement)
        points.append({"at": at, "id": r.get("id", ""), "env": r.get("env", ""), "target": r.get("target", ""),
                       "status": r.get("status", ""),
                       "value": number(value), "reason": (r.get("not_measured") or {}).get(measurement) or
                       ("not recorded by this report" if measurement not in (r.get("measurements") or {}) else None),
                       "objective": number((r.get("objectives") or {}).get(measurement))})
    return sorted(points, key=lambda p: p["at"])


def trend_text(points: list[dict[str, Any]], measurement: str) -> str:
    """The trend as a terminal table."""
    if not points:
        return f"no reports to plot {measurement} from"
    lines = [f"{'started':<26} {'env':<10} {'target':<28} {'status':<13} {measurement}"]
    for p in points:
        lines.append(f"{p['at'].isoformat(timespec='seconds'):<26} {_short(p['env'], 10):<10} {_short(p['target'], 28):<28} "
                     f"{p['status']:<13} "
                     f"{shown(p['value'], p['reason'])}")
    return "\n".join(lines)


def render_trend(points: list[dict[str, Any]], measurement: str, scope: str) -> str:
    """A trend page: the plot and the table of the reports it was drawn from."""
    rows = [(p["at"].isoformat(timespec="seconds"), p["id"], p["env"], p["target"], p["status"],
             shown(p["value"], p["reason"])) for p in points]
    return _template().render(
        title=f"dbops trend: {measurement}", heading=f"{measurement} — {scope}", status="", colour="", summary="",
        meta=f"{len(points)} report(s), {sum(p['value'] is not None for p in points)} of them measured it",
        plot=trend_plot(points, measurement), no_plot="no reports: nothing to plot",
        table={"title": "Reports", "head": ("started", "report", "env", "target", "status", measurement), "rows": rows},
        measurements=[], checks=[], events=[], events_hidden=0)
