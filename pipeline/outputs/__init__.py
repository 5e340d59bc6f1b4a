"""Writers of one video's output folder (docs/outputs.md)."""

from __future__ import annotations

import time
from pathlib import Path

from cer.core.result import Result
from cer.pipeline.outputs.files import FILE_NAMES, OUTPUT_FILES
from cer.pipeline.outputs.folder import check_output_folder, writing_into
from cer.pipeline.outputs.frames_csv import write_abaw_file
from cer.pipeline.outputs.terminal import summary_table

__all__ = ["FILE_NAMES", "summary_table", "write_abaw_file", "write_outputs"]


def write_outputs(result: Result, out_dir: Path) -> Result:
    """Write every output file into `out_dir` (created if missing), in table order.

    Returns the result with `timings.outputs_s` (the time the other files took, added to
    `timings.total_s`): the result.json written last carries it.
    """
    started = time.perf_counter()
    out_dir = check_output_folder(out_dir)
    with writing_into(out_dir):
        for output in OUTPUT_FILES:
            if output.name == "result.json":
                outputs_s = time.perf_counter() - started
                timings = result.timings.model_copy(update={"outputs_s": outputs_s, "total_s": result.timings.total_s + outputs_s})
                result = result.model_copy(update={"timings": timings})
            output.write(result, out_dir / output.name)
    return result
