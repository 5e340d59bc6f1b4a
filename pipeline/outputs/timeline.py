"""timeline.png: the decisions, fused basic probabilities and each expert's view over time."""

from __future__ import annotations

import io
import itertools
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cer.core.result import Decision, Person, Result, WindowResult
from cer.core.result_views import absences, short_reason
from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.palette import BASIC_COLOURS, NO_LABEL_COLOUR, compound_colour

WIDTH_IN = 12.0
DPI = 100
# Row heights in inches: the compound band is thin, the fused stack needs room to read; the
# title and the compound legend above the rows take the rest.
_COMPOUND_ROW_IN, _FUSED_ROW_IN, _EXPERT_ROW_IN, _LEGEND_IN = 0.6, 1.4, 1.2, 1.0
_LABEL_PT, _SMALL_PT = 10, 8  # row labels; tick labels, legends and notes
_NOTE_CHARS = 110  # a note across an unavailable expert's row is wrapped at this width
_LABEL_CHARS = 24  # and a reason under a row's name at this one, to keep the left margin narrow
# Style keywords for both a PolyCollection and a legend Patch, hence the loose value type.
_ABSENT: dict[str, Any] = {"facecolor": "#e6e6e6", "edgecolor": "#9e9e9e", "hatch": "///", "linewidth": 0}
_NO_LABEL: dict[str, Any] = {**_ABSENT, "facecolor": NO_LABEL_COLOUR}  # the web page's grey, hatched as absent


def render_timeline(result: Result) -> bytes:
    """The timeline as PNG bytes (the report embeds the same picture)."""
    buffer = io.BytesIO()
    # No "Software" text chunk: it holds matplotlib's web address, and the report must hold none.
    timeline_figure(result).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def timeline_figure(result: Result) -> Figure:
    """The timeline drawn on a matplotlib Figure: the decision bands on top (titled with the
    video's decision), the fused probabilities, then one heatmap row per expert."""
    experts = list(result.experts)
    persons = result.persons if len(result.persons) > 1 else []  # a one-person video's person is the video
    ratios = [_COMPOUND_ROW_IN, *([_COMPOUND_ROW_IN] * len(persons)), _FUSED_ROW_IN, *([_EXPERT_ROW_IN] * len(experts))]
    # Figure, not pyplot: no global state, so the service may draw from several threads.
    figure = Figure(figsize=(WIDTH_IN, sum(ratios) + _LEGEND_IN), dpi=DPI, layout="constrained")
    figure.suptitle(_title(result), fontsize=12)
    axes = figure.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    cells = _cells(result.window_results)
    _draw_decisions(axes[0], result, cells)
    for ax, person in zip(axes[1:], persons, strict=False):
        _draw_person(ax, result, person, cells)
    first_expert = 2 + len(persons)
    _draw_fused(axes[first_expert - 1], result, cells)
    meshes = [_draw_expert(ax, result, name, cells) for ax, name in zip(axes[first_expert:], experts, strict=True)]
    mesh = next((mesh for mesh in meshes if mesh is not None), None)
    if mesh is not None:
        figure.colorbar(mesh, ax=list(axes[first_expert:]), label="probability", shrink=0.9)
    axes[-1].set_xlabel("time (s)", fontsize=_LABEL_PT)
    axes[-1].set_xlim(0, max(result.video.duration_s, cells[-1][1] if cells else 0, 1e-3))
    return figure


def _title(result: Result) -> str:
    duration = result.video.duration_s
    return f"{Path(result.video.path).name}: {result.decision.text} ({duration:.1f} s, {result.profile} profile)"


def _readable(name: str) -> str:
    """A label or expert name as words: `Happily_Surprised` -> `Happily Surprised`."""
    return name.replace("_", " ")


def _row_label(ax: Axes, text: str) -> None:
    ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=_LABEL_PT)


def write_timeline(result: Result, path: Path) -> bytes:
    """Write timeline.png and return its bytes, for the report to embed without drawing again."""
    png = render_timeline(result)
    with atomic_open(path, binary=True) as handle:
        handle.write(png)
    return png


def _cells(windows: Sequence[WindowResult]) -> list[tuple[float, float]]:
    """A non-overlapping (left, right) span per window for drawing.

    Windows overlap (4 s long, 2 s apart), so drawing each over its own span would hide its
    neighbours; instead each owns the time up to the midpoints between its centre and theirs.
    """
    if not windows:
        return []
    centres = [(window.start_s + window.end_s) / 2 for window in windows]
    middles = [(a + b) / 2 for a, b in itertools.pairwise(centres)]
    return list(zip([windows[0].start_s, *middles], [*middles, windows[-1].end_s], strict=True))


def _rects(
    ax: Axes, cells: Sequence[tuple[float, float]], bottoms: Sequence[float] | np.ndarray, tops: Sequence[float] | np.ndarray, **style: Any
) -> None:
    """One rectangle per cell, all in one collection: an hour of video has 1800 windows, and as
    separate patches (axvspan, bar) they take tens of seconds to draw."""
    boxes = [
        [(left, bottom), (right, bottom), (right, top), (left, top)]
        for (left, right), bottom, top in zip(cells, bottoms, tops, strict=True)
    ]
    ax.add_collection(PolyCollection(boxes, **style), autolim=False)


def _bands(ax: Axes, cells: Sequence[tuple[float, float]], **style: Any) -> None:
    """Full-height rectangles over the given cells (y in axes units, whatever the row's scale)."""
    _rects(ax, cells, [0.0] * len(cells), [1.0] * len(cells), transform=ax.get_xaxis_transform(), **style)


def _mark_absent(ax: Axes, cells: Sequence[tuple[float, float]], absent: Sequence[bool]) -> None:
    _bands(ax, [cell for cell, missing in zip(cells, absent, strict=True) if missing], **_ABSENT)


def _decision_colour(result: Result, decision: Decision) -> str:
    """As the web page's bands: the compound's colour, the basic class's for "basic only"."""
    if decision.kind == "compound":
        return compound_colour(result.labels.compound.index(str(decision.label)))
    return BASIC_COLOURS[result.labels.basic.index(str(decision.label)) % len(BASIC_COLOURS)]


def _decision_bands(ax: Axes, result: Result, cells: Sequence[tuple[float, float]], decisions: Sequence[Decision | None]) -> None:
    """Each cell in its decision's colour (hatched grey for none; blank where `None`: no decision there)."""
    decided = [
        (cell, decision) for cell, decision in zip(cells, decisions, strict=True) if decision is not None and decision.kind != "none"
    ]
    _bands(ax, [cell for cell, _ in decided], facecolors=[_decision_colour(result, decision) for _, decision in decided], linewidth=0)
    undecided = [cell for cell, decision in zip(cells, decisions, strict=True) if decision is not None and decision.kind == "none"]
    _bands(ax, undecided, **_NO_LABEL)
    ax.set_yticks([])


def _draw_person(ax: Axes, result: Result, person: Person, cells: Sequence[tuple[float, float]]) -> None:
    """One person's decisions where they were scored (blank where not in view), with a dark
    strip under the windows whose voice was theirs."""
    own = {window.index: window for window in person.windows}
    mine = [own.get(window.index) for window in result.window_results]
    _decision_bands(ax, result, cells, [window.decision if window is not None else None for window in mine])
    speaking = [
        cell for cell, window in zip(cells, mine, strict=True) if window is not None and window.voice and window.voice.speaker == person.id
    ]
    _rects(
        ax, speaking, [0.0] * len(speaking), [0.18] * len(speaking), transform=ax.get_xaxis_transform(), facecolor="#222222", linewidth=0
    )
    _row_label(ax, f"person {person.id}" + ("\n(dark: speaking)" if speaking else ""))


def _draw_decisions(ax: Axes, result: Result, cells: Sequence[tuple[float, float]]) -> None:
    decisions = [window.decision for window in result.window_results]
    _decision_bands(ax, result, cells, decisions)
    _row_label(ax, "decision")
    # the vocabulary, then the basic-only decisions this video and its persons have
    everyone = [*decisions, *(window.decision for person in result.persons for window in person.windows)]
    shown = [Decision(kind="compound", label=name) for name in result.labels.compound]
    shown += sorted({decision for decision in everyone if decision.kind == "basic"}, key=lambda d: result.labels.basic.index(str(d.label)))
    handles = [Patch(color=_decision_colour(result, decision), label=_readable(decision.text)) for decision in shown]
    handles.append(Patch(label="no expert spoke", **_NO_LABEL))
    # Above the top row, in columns: a long vocabulary then costs a few lines, not the row's height.
    columns = min(len(handles), 4)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=columns, fontsize=_SMALL_PT + 1, frameon=False)
    if not cells:
        ax.text(0.5, 0.5, "no windows", transform=ax.transAxes, ha="center", va="center")


def _draw_fused(ax: Axes, result: Result, cells: Sequence[tuple[float, float]]) -> None:
    """Stacked bars of the fused basic distribution, one bar per window cell."""
    basic = result.labels.basic
    present = [window.fused.probs is not None for window in result.window_results]
    spoken = [(cell, window.fused.probs) for cell, window, ok in zip(cells, result.window_results, present, strict=True) if ok]
    if spoken:
        probs = np.array([probs for _, probs in spoken])
        tops = np.cumsum(probs, axis=1)
        bottoms = tops - probs
        spoken_cells = [cell for cell, _ in spoken]
        for c, colour in enumerate(BASIC_COLOURS):
            _rects(ax, spoken_cells, bottoms[:, c], tops[:, c], facecolor=colour, linewidth=0)
    _mark_absent(ax, cells, [not ok for ok in present])
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=_SMALL_PT)
    _row_label(ax, "fused\n(basic emotions)")
    handles = [Patch(color=colour, label=name) for colour, name in zip(BASIC_COLOURS, basic, strict=True)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=_SMALL_PT, frameon=False)


def _draw_expert(ax: Axes, result: Result, name: str, cells: Sequence[tuple[float, float]]) -> QuadMesh | None:
    """Heatmap of one expert's 8 probabilities per window; returns the mesh (None if no windows).
    An unavailable expert's row says why across it, with the fix; an expert absent in some
    windows has its main reason, in short, under its name."""
    basic = result.labels.basic
    ax.set_yticks(np.arange(len(basic)) + 0.5, basic, fontsize=_SMALL_PT)
    ax.set_ylim(0, len(basic))
    status = result.experts[name]
    label = _readable(name)
    if status.status != "ok":
        note = textwrap.fill(f"unavailable: {status.reason or 'no reason given'}", _NOTE_CHARS)
        plate = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none"}  # legible over the hatching
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=_SMALL_PT + 1, zorder=3, bbox=plate)
    elif reasons := absences(result, name):
        reason, _ = reasons.most_common(1)[0]
        label += f"\nabsent in {sum(reasons.values())} of {len(cells)}:\n{textwrap.fill(short_reason(reason), _LABEL_CHARS)}"
    _row_label(ax, label)
    if not cells:
        return None
    rows = [answer.probs if (answer := window.experts.get(name)) is not None else None for window in result.window_results]
    _mark_absent(ax, cells, [probs is None for probs in rows])
    grid = np.ma.masked_invalid(np.array([[np.nan] * len(basic) if probs is None else probs for probs in rows]))
    edges = [cells[0][0], *(right for _, right in cells)]
    return ax.pcolormesh(edges, np.arange(len(basic) + 1), grid.T, cmap="viridis", vmin=0, vmax=1, zorder=2)
