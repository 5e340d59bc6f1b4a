"""report.html: one self-contained page (inline CSS, embedded timeline, no external requests)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

from cer.core.result import Result, WindowResult
from cer.core.result_views import absences, evidence_values, expert_verdict, frame_compound_labels, short_reason, top_label
from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.timeline import render_timeline

# Evidence shown beside the windows' verdicts: key -> column heading. "scene description",
# not "scene": the scene expert has a column of its own.
_EVIDENCE_COLUMNS = {"transcript": "transcript", "face_frames": "face frames", "scene": "scene description"}

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td { white-space: pre-wrap; max-width: 28em; }
td[title] { text-decoration: underline dotted; cursor: help; }
img { max-width: 100%; }
.note { color: #8a4b00; }
"""


def render_report(result: Result, timeline_png: bytes | None = None) -> str:
    """The report as one HTML string; `timeline_png` is embedded (rendered here if not given)."""
    png = render_timeline(result) if timeline_png is None else timeline_png
    name = Path(result.video.path).name
    sections = [
        f"<h1>cer report: {escape(name)}</h1>",
        _video_section(result),
        _summary_section(result),
        _persons_section(result),
        "<h2>Timeline</h2>",
        f'<img alt="timeline" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">',
        _experts_section(result),
        _windows_section(result),
        _absence_section(result),
    ]
    body = "\n".join(sections)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>cer report: {escape(name)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(result: Result, path: Path) -> None:
    """Embeds the timeline.png beside `path` when there is one (written just before, in the
    table of output files), so that it is drawn once."""
    timeline = path.with_name("timeline.png")
    html = render_report(result, timeline.read_bytes() if timeline.is_file() else None)
    with atomic_open(path) as handle:
        handle.write(html)


class Hover(NamedTuple):
    """A cell that shows `text` and, on hover, `title` (the full text behind a short one)."""

    text: str
    title: str


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table (no header row when `headers` is empty); every cell is escaped here,
    so callers pass plain values (or `Hover` cells)."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>\n" if headers else ""
    body = "".join("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n{head}{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, Hover):
        return f'<td title="{escape(value.title)}">{escape(value.text)}</td>'
    return f"<td>{escape(_text(value))}</td>"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _video_section(result: Result) -> str:
    video, faces = result.video, result.faces
    facts = [
        ("file", video.path),
        ("profile", result.profile),
        ("duration", f"{video.duration_s:.2f} s"),
        ("frame rate", f"{video.fps:.3f} fps, {video.n_frames} frames"),
        ("size", f"{video.width} x {video.height}, rotation {video.rotation} degrees"),
        ("audio", "yes" if video.has_audio else "no"),
        ("faces", f"{faces.tracks} track(s), detector {faces.detector}"),
        ("processing time", f"{result.timings.total_s:.1f} s"),
    ]
    return "<h2>Video</h2>\n" + _table((), facts)


def _summary_section(result: Result) -> str:
    summary = result.summary
    share, compounds = summary.compound_share, result.labels.compound
    parts = [
        "<h2>Summary</h2>",
        f"<p>Decision: <b>{escape(summary.decision.text)}</b> (the decision most windows share); "
        f"dominant basic emotion: <b>{escape(summary.dominant_basic or 'none')}</b>; "
        f"{summary.n_windows} window(s).</p>",
        _table(("forced compound (frames.csv)", "share of windows"), [(name, f"{share.get(name, 0.0):.0%}") for name in compounds]),
    ]
    if len(frame_compound_labels(result)) == 0:
        parts.append(
            '<p class="note">frames.csv holds only its header: no frame is covered by a window with '
            "compound scores (no expert spoke), and the ABAW layout has no label for &ldquo;unknown&rdquo;.</p>"
        )
    return "\n".join(parts)


def _persons_section(result: Result) -> str:
    """Each person's decision and share of the speech, for a video with several (a one-person
    video's person is the video); empty otherwise."""
    if len(result.persons) < 2:
        return ""
    rows = [
        (
            f"person {person.id}",
            person.summary.decision.text,
            len(person.windows),
            "no speech" if person.speaking_share is None else f"{person.speaking_share:.0%}",
        )
        for person in result.persons
    ]
    note = '<p class="note">Each person on their own: their face, the voice when theirs, the scene (docs/method.md).</p>'
    return "<h2>Persons</h2>\n" + note + "\n" + _table(("person", "decision", "windows", "speaking in windows with speech"), rows)


def _experts_section(result: Result) -> str:
    seconds = result.timings.experts_s
    headers = ["expert", "status", "model", "reason", "note", "time (s)"]
    experts = result.experts
    rows: list[list[Any]] = [
        [name, info.status, info.model_id, info.reason, info.note, seconds.get(name)] for name, info in experts.items()
    ]
    # Only with the cache on: it says why an expert took no time.
    if any(info.cached_windows is not None for info in experts.values()):
        headers.append("from the cache")
        for row, info in zip(rows, experts.values(), strict=True):
            row.append(_from_cache(info.cached_windows or 0, len(result.window_results)))
    return "<h2>Experts</h2>\n" + _table(headers, rows)


def _from_cache(cached: int, n_windows: int) -> str:
    """How many of the windows the expert answered from the expert-output cache."""
    if cached == 0:
        return "none"
    return f"all {cached} windows" if cached == n_windows else f"{cached} of {n_windows} windows"


def _windows_section(result: Result) -> str:
    experts = list(result.experts)
    evidence = [key for key in _EVIDENCE_COLUMNS if any(evidence_values(window, key) for window in result.window_results)]
    headers = ["#", "time", "decision", "pair", "top basic", *experts, *(_EVIDENCE_COLUMNS[key] for key in evidence)]
    rows = []
    for window in result.window_results:
        verdict = window.compound
        decision = window.decision_text()
        pair = None
        if verdict.pair is not None and verdict.pair_probs is not None:
            pair = " + ".join(f"{b} {p:.2f}" for b, p in zip(verdict.pair, verdict.pair_probs, strict=True))
        rows.append(
            [
                window.index,
                window.span_text,
                decision if verdict.note is None else f"{decision}\n{verdict.note}",
                pair,
                top_label(window.fused.probs, result.labels.basic),
                *(_verdict_text(result, window, name) for name in experts),
                *(_evidence_text(window, key) for key in evidence),
            ]
        )
    note = "<p>An absent expert's cell gives the reason in short: hover it, or see <i>Why experts are absent</i> below.</p>"
    return "<h2>Windows</h2>\n" + note + "\n" + _table(headers, rows)


def _verdict_text(result: Result, window: WindowResult, name: str) -> str | Hover:
    """The expert's top class, or why it is absent in short (the full reason on hover and in
    the legend below the table)."""
    top, reason = expert_verdict(result, window, name)
    if top is not None:
        return top
    reason = reason or "no reason given"
    status = result.experts[name]
    if status.status != "ok":
        return Hover("unavailable", status.reason or reason)
    return Hover(f"absent: {short_reason(reason)}", reason)


def _evidence_text(window: WindowResult, key: str) -> str:
    """The evidence once when every expert that gave it agrees (two face experts counting the
    same faces), otherwise per expert by name."""
    values = evidence_values(window, key)
    if len({str(value) for value in values.values()}) == 1:
        return str(next(iter(values.values())))
    return "\n".join(f"{name}: {value}" for name, value in values.items())


def _absence_section(result: Result) -> str:
    """The legend of the absent cells: each expert's reasons in full, once, with how many
    windows each one covers."""
    n_windows = len(result.window_results)
    rows = []
    for name, info in result.experts.items():
        if info.status != "ok":
            rows.append((name, f"unavailable ({n_windows} of {n_windows})", info.reason or "no reason given"))
            continue
        rows += [(name, f"{count} of {n_windows}", reason) for reason, count in absences(result, name).most_common()]
    if not rows:
        return "<h2>Why experts are absent</h2>\n<p>Every expert spoke in every window.</p>"
    return "<h2>Why experts are absent</h2>\n" + _table(("expert", "absent in windows", "why"), rows)
