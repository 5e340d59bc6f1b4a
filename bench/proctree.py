"""Processes read from /proc (Linux): which ones descend from a process or share its session,
and how much memory they hold. Ray runs experts in processes of their own, so the memory of
a run, and whether a run left anything behind, are questions about a whole process tree."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = 4  # /proc/PID/statm counts pages; 4 KiB on x86-64 and arm64 Linux


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    rss_mb: float
    zombie: bool


def _read(pid_dir: Path) -> Proc | None:
    try:
        stat = (pid_dir / "stat").read_text()
        statm = (pid_dir / "statm").read_text().split()
    except OSError:  # it ended while we looked
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis don't.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, ppid, session = fields[0], int(fields[1]), int(fields[3])
    return Proc(int(pid_dir.name), ppid, session, int(statm[1]) * PAGE_KB / 1024, state == "Z")


def processes() -> list[Proc]:
    """Every process alive now."""
    found = (_read(d) for d in Path("/proc").iterdir() if d.name.isdigit())
    return [p for p in found if p is not None]


def descendants(pid: int) -> list[Proc]:
    """The living (not zombie) processes below `pid`, at any depth."""
    everyone = processes()
    children: dict[int, list[Proc]] = {}
    for proc in everyone:
        children.setdefault(proc.ppid, []).append(proc)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return [p for p in found if not p.zombie]


def in_session(session: int) -> list[Proc]:
    """The living processes of a session (a process started with start_new_session and all
    it started, even those whose parent has died)."""
    return [p for p in processes() if p.session == session and not p.zombie]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and every process below it, in MiB. Shared pages (libraries,
    Ray's object store) count once per process that maps them: an upper bound."""
    own = _read(Path("/proc") / str(pid))
    return (own.rss_mb if own else 0.0) + sum(p.rss_mb for p in descendants(pid))


def run_watched(command: list[str], every_s: float = 0.2) -> tuple[float, float]:
    """Run `command` to its end: its wall seconds and the highest memory of its process tree
    (sampled every `every_s`). A failure ends the benchmark with the command's last words."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(every_s)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command[:4])} ... failed: {errors.read().decode()[-1500:]}")
    return time.perf_counter() - started, peak
