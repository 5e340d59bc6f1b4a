"""One decision, every view: a video's decision (compound, "basic only", or none) is the same
in the terminal, result.json, windows.csv, the timeline, the report, `cer batch`'s summary.csv
and the job's result over HTTP."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest

from cer.core.result import load_result
from cer.pipeline.batch_inputs import output_folder
from cer.pipeline.outputs.files import FILE_NAMES
from cer.pipeline.outputs.timeline import timeline_figure
from cer.serving.client import Client
from tests.cli_process import cer

SINGLE_FACE = Path(__file__).resolve().parents[3] / "shared" / "data" / "single_face.mp4"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.skipif(not SINGLE_FACE.is_file(), reason="../shared/data/single_face.mp4 is absent")
def test_every_view_names_the_same_decision(client: Client, tmp_path: Path) -> None:
    batch_out = tmp_path / "batch"
    run_out = output_folder(batch_out, SINGLE_FACE)  # where `cer batch` looks: it finds the run finished
    ran = cer("run", SINGLE_FACE, "--profile", "tiny", "--engine", "inprocess", "--out", run_out)
    assert ran.returncode == 0, ran.stderr
    result = load_result(run_out / "result.json")
    decision = result.decision.text
    assert result.decision.kind != "none"  # the clip shows a face: some expert spoke

    # the terminal: one line per window, then the video's decision, then every file written
    lines = ran.stdout.splitlines()
    assert f"video: {decision}" in lines
    written = sorted(path.name for path in run_out.iterdir())
    assert written == sorted(FILE_NAMES) and all(name in lines[-1] for name in written)
    for window in result.window_results:
        assert any(line.startswith(f"{window.span_text}  {window.decision_text()}") for line in lines), window.index

    # windows.csv, the report and the timeline
    assert [row["decision"] for row in read_csv(run_out / "windows.csv")] == [w.decision.text for w in result.window_results]
    headline = re.search(r"Decision: <b>(.*?)</b>", (run_out / "report.html").read_text(encoding="utf-8"))
    assert headline is not None and html.unescape(headline.group(1)) == decision
    figure = timeline_figure(result)
    assert decision in figure.get_suptitle()
    legend = figure.axes[0].get_legend()
    assert legend is not None and decision.replace("_", " ") in [text.get_text() for text in legend.get_texts()]

    # cer batch over the same video: skipped (finished above), its row read from the result
    batched = cer("batch", SINGLE_FACE, "--profile", "tiny", "--out", batch_out)
    assert batched.returncode == 0, batched.stderr
    (row,) = read_csv(batch_out / "summary.csv")
    assert (row["status"], row["decision"]) == ("skipped", decision)

    # the HTTP service, which runs the video itself
    response = client.submit(SINGLE_FACE)
    assert response.status_code == 202, response.text
    job = client.wait(response.json()["id"])
    assert job["status"] == "done", job["error"]
    served = load_result(client.http.get(job["urls"]["result"]).json())
    assert served.decision.text == decision
    assert [w.decision for w in served.window_results] == [w.decision for w in result.window_results]
