"""Writers of one video's output folder (docs/outputs.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cer.pipeline.outputs.folder import check_output_folder, writing_into
from cer.pipeline.outputs.frames_csv import write_abaw_file, write_frames_csv
from cer.pipeline.outputs.frames_probs import write_frames_probs
from cer.pipeline.outputs.report import write_report
from cer.pipeline.outputs.result_json import validate_result, write_result_json
from cer.pipeline.outputs.terminal import summary_table
from cer.pipeline.outputs.timeline import write_timeline
from cer.pipeline.outputs.windows_csv import write_windows_csv

__all__ = ["FILE_NAMES", "summary_table", "validate_result", "write_abaw_file", "write_outputs"]

FILE_NAMES: tuple[str, ...] = ("frames.csv", "frames_probs.csv", "windows.csv", "timeline.png", "report.html", "result.json")


def write_outputs(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Validate `result`, then write every output file into `out_dir` (created if missing).

    Returns the paths keyed by file name. result.json is written last, so its presence marks
    a complete folder (a resumed batch may skip videos that have one). Before it is written,
    `timings.outputs_s` gets the time the other files took and is added to `timings.total_s`.
    """
    started = time.perf_counter()
    validate_result(result)
    out_dir = check_output_folder(out_dir)
    paths = {name: out_dir / name for name in FILE_NAMES}
    with writing_into(out_dir):
        write_frames_csv(result, paths["frames.csv"])
        write_frames_probs(result, paths["frames_probs.csv"])
        write_windows_csv(result, paths["windows.csv"])
        png = write_timeline(result, paths["timeline.png"])
        write_report(result, paths["report.html"], timeline_png=png)
        timings = result["timings"]
        timings["outputs_s"] = time.perf_counter() - started
        timings["total_s"] += timings["outputs_s"]
        write_result_json(result, paths["result.json"])
    return paths
