"""Progress of long work (fetching and loading models, windows of a video, videos of a batch).

On a terminal it is a tqdm bar. Elsewhere (nohup, SLURM, CI: stderr is a file or a pipe) a bar
would be carriage returns smeared over one line of the log, so it is a plain line on the
`cer.progress` logger instead, at most every `LINE_EVERY_S` seconds and once at the end; the
`cer` command shows that logger's lines on stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from cer.core.switches import QUIET, switched_on

LINE_EVERY_S = 5.0  # seconds between two progress lines off a terminal

log = logging.getLogger("cer.progress")

# Off a terminal: what tqdm's bar says, in words. Before anything is done there is no time
# left to tell; without a total (a download whose size the server does not give), no
# percentage either.
_LINE = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%), {elapsed} elapsed, {remaining} left{postfix}"
_LINE_AT_START = "{desc}: {n_fmt}/{total_fmt} {unit}"
_LINE_NO_TOTAL = "{desc}: {n_fmt} {unit}, {elapsed} elapsed{postfix}"


class _Discard:
    """tqdm's output file off a terminal: the lines go to the logger instead."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class ProgressBar(tqdm):
    """A tqdm bar on a terminal, log lines elsewhere. Takes tqdm's arguments, so it can also
    be handed to libraries that accept a `tqdm_class` (huggingface_hub's downloads)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._on_terminal = sys.stderr.isatty()
        self._logged_n: float | None = None  # `n` when the last line was logged
        if self._on_terminal:
            kwargs.setdefault("file", sys.stderr)
        else:
            # smoothing 0: the rate in a line is the average since the start, not the last burst
            kwargs.update(file=_Discard(), mininterval=LINE_EVERY_S, smoothing=0, disable=False)
        if switched_on(QUIET):
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if self._on_terminal:
            return bool(super().display(msg, pos))
        if self.n == self._logged_n:  # closing right after a line that already said it all
            return True
        self._logged_n = self.n
        line_format = _LINE_NO_TOTAL if not self.total else _LINE if self.n else _LINE_AT_START
        if self.unit_scale:  # a scaled count carries its prefix: 1.20M + B reads 1.20MB
            line_format = line_format.replace(" {unit}", "{unit}")
        log.info(self.format_meter(**{**self.format_dict, "bar_format": line_format}))
        return True


def loading_experts(total: int) -> ProgressBar:
    """The bar of experts loading their models (the seconds between "loading the profile" and
    the first window); the caller names each expert as it goes (`set_postfix_str`)."""
    return ProgressBar(desc="loading the experts' models", total=total, unit="experts")


def progress_callback(description: str, unit: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """`(update(done, total), close)` for work whose total is known only once it starts (the
    windows of a video): the bar appears at the first update."""
    bars: list[ProgressBar] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(ProgressBar(desc=description, unit=unit, total=total))
        bar = bars[0]
        bar.total = total
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close
