"""The one table of a video's output files: name, writer, media type and what it holds.

`cer run`, `cer batch`, the HTTP routes, the web page's download list and docs/outputs.md all
read it. Files are written in table order; result.json comes last, so its presence marks a
complete folder (a resumed batch skips videos that have one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cer.core.result import Result
from cer.pipeline.outputs.frames_csv import write_frames_csv
from cer.pipeline.outputs.frames_probs import write_frames_probs
from cer.pipeline.outputs.report import write_report
from cer.pipeline.outputs.result_json import write_result_json
from cer.pipeline.outputs.timeline import write_timeline
from cer.pipeline.outputs.windows_csv import write_windows_csv

CSV = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class OutputFile:
    name: str
    write: Callable[[Result, Path], object]  # (result, path of this file)
    media_type: str
    description: str


OUTPUT_FILES: tuple[OutputFile, ...] = (
    OutputFile(
        "frames.csv",
        write_frames_csv,
        CSV,
        "the ABAW compound-expression layout, one line per video frame (`VIDEO/00001.jpg,K`)",
    ),
    OutputFile(
        "frames_probs.csv",
        write_frames_probs,
        CSV,
        "one row per video frame (and person, when persons were scored) for pandas and spreadsheets (`Result.frames()`): "
        "`person`, `frame` (from 0), `time_s`, `face` "
        "(1 when a face was seen), the fused basic probabilities and the compound scores, averaged over the windows "
        "covering the frame (empty where no expert spoke)",
    ),
    OutputFile(
        "windows.csv",
        write_windows_csv,
        CSV,
        "one row per window and person scored in it (`Result.windows()`): the person, the decision, the forced compound "
        "and its confidence, fused and compound scores, each expert's top class, transcript, scene description",
    ),
    OutputFile(
        "timeline.png",
        write_timeline,
        "image/png",
        "the decision bands (and one per person), fused probabilities and one heatmap row per expert over time",
    ),
    # after timeline.png: the report embeds it
    OutputFile("report.html", write_report, "text/html; charset=utf-8", "a self-contained page with all of the above and the evidence"),
    OutputFile(
        "result.json",
        write_result_json,
        "application/json",
        "the whole `Result` (schema `cer.result/v2`): video facts, every expert's status, per window each expert's "
        "probabilities (or why it was absent) and evidence, the fused probabilities with each expert's effective weight, "
        "the compound scores with the pair behind the winner, the decision, a summary, timings per stage, and each person "
        "scored on their own",
    ),
)
FILES_BY_NAME: dict[str, OutputFile] = {output.name: output for output in OUTPUT_FILES}
FILE_NAMES: tuple[str, ...] = tuple(FILES_BY_NAME)


def markdown_table() -> str:
    """The table as docs/outputs.md shows it (a test holds the document to it)."""
    rows = [f"| `{output.name}` | {output.description} |" for output in OUTPUT_FILES]
    return "\n".join(["| file | what it holds |", "| --- | --- |", *rows])
