"""report.html: one self-contained page (inline CSS, embedded timeline, no external requests)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.frames_csv import result_frame_labels
from cer.pipeline.outputs.timeline import render_timeline
from cer.pipeline.outputs.views import (
    compound_text,
    evidence_values,
    expert_names,
    expert_verdict,
    time_span,
    top_label,
)

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td { white-space: pre-wrap; max-width: 28em; }
img { max-width: 100%; }
.note { color: #8a4b00; }
"""


def render_report(result: Mapping[str, Any], timeline_png: bytes | None = None) -> str:
    """The report as one HTML string; `timeline_png` is embedded (rendered here if not given)."""
    png = render_timeline(result) if timeline_png is None else timeline_png
    name = Path(result["video"]["path"]).name
    sections = [
        f"<h1>cer report: {escape(name)}</h1>",
        _video_section(result),
        _summary_section(result),
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


def write_report(result: Mapping[str, Any], path: Path, timeline_png: bytes | None = None) -> None:
    html = render_report(result, timeline_png)
    with atomic_open(path) as handle:
        handle.write(html)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table (no header row when `headers` is empty); every cell is escaped here,
    so callers pass plain values."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>\n" if headers else ""
    body = "".join("<tr>" + "".join(f"<td>{escape(_text(cell))}</td>" for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n{head}{body}</table>"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _video_section(result: Mapping[str, Any]) -> str:
    video, faces = result["video"], result["faces"]
    facts = [
        ("file", video["path"]),
        ("profile", result["profile"]),
        ("duration", f"{video['duration_s']:.2f} s"),
        ("frame rate", f"{video['fps']:.3f} fps, {video['n_frames']} frames"),
        ("size", f"{video['width']} x {video['height']}, rotation {video['rotation']} degrees"),
        ("audio", "yes" if video["has_audio"] else "no"),
        ("faces", f"{faces['tracks']} track(s), detector {faces['detector']}"),
        ("processing time", f"{result['timings']['total_s']:.1f} s"),
    ]
    return "<h2>Video</h2>\n" + _table((), facts)


def _summary_section(result: Mapping[str, Any]) -> str:
    summary = result["summary"]
    share, compounds = summary["compound_share"], result["labels"]["compound"]
    parts = [
        "<h2>Summary</h2>",
        f"<p>Dominant compound expression: <b>{escape(summary['dominant_compound'] or 'none')}</b>; "
        f"dominant basic emotion: <b>{escape(summary['dominant_basic'] or 'none')}</b>; "
        f"{summary['n_windows']} window(s).</p>",
        _table(("compound", "share of windows"), [(name, f"{share.get(name, 0.0):.0%}") for name in compounds]),
    ]
    if len(result_frame_labels(result)) == 0:
        parts.append(
            '<p class="note">frames.csv holds only its header: no frame is covered by a window with '
            "compound scores (no expert spoke), and the ABAW layout has no label for &ldquo;unknown&rdquo;.</p>"
        )
    return "\n".join(parts)


def _experts_section(result: Mapping[str, Any]) -> str:
    seconds = result["timings"]["experts_s"]
    rows = [
        (name, info["status"], info["model_id"], info["reason"], info["note"], seconds.get(name))
        for name, info in result["experts"].items()
    ]
    return "<h2>Experts</h2>\n" + _table(("expert", "status", "model", "reason", "note", "time (s)"), rows)


def _windows_section(result: Mapping[str, Any]) -> str:
    experts = expert_names(result)
    headers = ["#", "time", "compound", "pair", "top basic", *experts, "transcript", "faces", "scene"]
    rows = []
    for window in result["windows"]:
        verdict = window["compound"]
        compound = compound_text(window)
        pair = None
        if verdict["pair"] is not None and verdict["pair_probs"] is not None:
            pair = " + ".join(f"{b} {p:.2f}" for b, p in zip(verdict["pair"], verdict["pair_probs"], strict=True))
        rows.append(
            [
                window["index"],
                time_span(window),
                compound if verdict["note"] is None else f"{compound}\n{verdict['note']}",
                pair,
                top_label(window["fused"]["probs"], result["labels"]["basic"]),
                *(_verdict_text(result, window, name) for name in experts),
                *(_evidence_text(window, key) for key in ("transcript", "face_frames", "scene")),
            ]
        )
    return "<h2>Windows</h2>\n" + _table(headers, rows)


def _verdict_text(result: Mapping[str, Any], window: Mapping[str, Any], name: str) -> str:
    top, reason = expert_verdict(result, window, name)
    return top if top is not None else f"absent: {reason}"


def _evidence_text(window: Mapping[str, Any], key: str) -> str:
    """The evidence once when every expert that gave it agrees (two face experts counting the
    same faces), otherwise per expert by name."""
    values = evidence_values(window, key)
    if len({str(value) for value in values.values()}) == 1:
        return str(next(iter(values.values())))
    return "\n".join(f"{name}: {value}" for name, value in values.items())


def _absence_section(result: Mapping[str, Any]) -> str:
    lines = []
    windows = result["windows"]
    for name, info in result["experts"].items():
        if info["status"] != "ok":
            lines.append(f"{name}: unavailable for the whole video: {info['reason'] or 'no reason given'}")
            continue
        reasons = Counter(reason for window in windows if (reason := expert_verdict(result, window, name)[1]))
        if reasons:
            detail = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common())
            lines.append(f"{name}: absent in {sum(reasons.values())} of {len(windows)} window(s): {detail}")
    if not lines:
        return "<h2>Absent experts</h2>\n<p>Every expert spoke in every window.</p>"
    return "<h2>Absent experts</h2>\n<ul>\n" + "".join(f"<li>{escape(line)}</li>\n" for line in lines) + "</ul>"
