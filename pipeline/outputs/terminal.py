"""A plain-text summary for the CLI to print when a run ends."""

from __future__ import annotations

from cer.core.result import Person, Result
from cer.core.result_views import top_label


def summary_table(result: Result) -> str:
    """One row per window: time span, decision, top basic emotion, experts that spoke; then the
    video's decision."""
    headers = ("time", "decision", "basic", "experts present")
    rows = []
    for window in result.window_results:
        basic = top_label(window.fused.probs, result.labels.basic) or "none"
        present = ", ".join(window.fused.experts_present) or "none"
        rows.append((window.span_text, window.decision_text(), basic, present))
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in (headers, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append(f"\nvideo: {result.decision.text}")
    if len(result.persons) > 1:  # a one-person video's person is the video
        lines += [person_line(person) for person in result.persons]
    return "\n".join(lines)


def person_line(person: Person) -> str:
    """One person in a line: `person 2: Happily_Surprised (3 windows, speaking in 100% of their windows with speech)`."""
    spoke = "no speech" if person.speaking_share is None else f"speaking in {person.speaking_share:.0%} of their windows with speech"
    return f"person {person.id}: {person.summary.decision.text} ({len(person.windows)} windows, {spoke})"


def device_note(result: Result) -> str | None:
    """Where the experts' models ran, in one line ("the models ran on cpu"; with several
    devices, which experts ran where); None when no expert has models."""
    where: dict[str, list[str]] = {}
    for name, info in result.experts.items():
        if info.device is not None:
            where.setdefault(info.device, []).append(name)
    if len(where) <= 1:
        return f"the models ran on {next(iter(where))}" if where else None
    return "the models ran on " + "; ".join(f"{device} ({', '.join(names)})" for device, names in where.items())


def cache_note(result: Result) -> str | None:
    """A line saying which experts answered from the expert-output cache (and so took no time),
    or None when none did."""
    n_windows = len(result.window_results)
    counts = {name: info.cached_windows or 0 for name, info in result.experts.items()}
    if not any(counts.values()):
        return None
    if n_windows and all(count == n_windows for count in counts.values()):
        which = "every expert's output"
    else:
        which = "some expert outputs: " + ", ".join(f"{name} {count} of {n_windows} windows" for name, count in counts.items() if count)
    return f"{which} came from the expert-output cache (computed by an earlier run); `cer cache clear` empties it"
