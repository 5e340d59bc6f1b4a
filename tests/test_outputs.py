"""Tests of the output writers on a small synthetic result (no models, no video)."""

from __future__ import annotations

import copy
import csv
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from cer.core.labels import BASIC, PAIRS
from cer.core.result import CompoundVerdict, Decision, Result, ResultError, decide, load_result, video_decision
from cer.pipeline.outputs import FILE_NAMES, summary_table, write_abaw_file, write_outputs
from cer.pipeline.outputs.atomic import atomic_open
from cer.pipeline.outputs.files import markdown_table
from cer.pipeline.outputs.folder import OutputFolderError, check_output_folder
from cer.pipeline.outputs.palette import BASIC_COLOURS, COMPOUND_COLOURS, NO_LABEL_COLOUR
from cer.pipeline.outputs.terminal import cache_note
from cer.pipeline.outputs.timeline import DPI, WIDTH_IN

REPO = Path(__file__).resolve().parents[1]
EXPERTS = ("static_face", "dynamic_face", "audio", "text")
FPS, N_FRAMES = 10.0, 80  # an 8 s video
TRANSCRIPT = 'I said "hello", then <script>alert(1)</script>'


def one_hot(index: int, size: int, peak: float = 0.65) -> list[float]:
    """A distribution with `peak` on `index` and the rest spread evenly."""
    rest = (1 - peak) / (size - 1)
    return [peak if i == index else rest for i in range(size)]


def expert_output(probs: list[float] | None, reason: str | None = None, **evidence: Any) -> dict[str, Any]:
    return {"probs": probs, "reason": reason, "evidence": evidence}


def window(index: int, start_s: float, experts: dict[str, Any], scores: list[float] | None) -> dict[str, Any]:
    """A 4 s window. With `scores`, the fused probabilities are the mean of the present experts
    and the label is the argmax of the scores (the writers do not recompute either); its
    decision follows from the verdict, as the Result requires."""
    present = [name for name, out in experts.items() if out["probs"] is not None]
    fused = np.mean([experts[name]["probs"] for name in present], axis=0).tolist() if present else None
    compounds = list(PAIRS)
    label = compounds[int(np.argmax(scores))] if scores is not None else None
    pair = list(PAIRS[label]) if label else None
    compound = {
        "method": "ppa",
        "scores": scores,
        "label": label,
        "confidence": max(scores) / sum(scores) if scores else None,
        "pair": pair,
        "pair_probs": [fused[BASIC.index(b)] for b in pair] if pair and fused else None,
        "note": None if scores else "no expert present",
    }
    return {
        "index": index,
        "start_s": start_s,
        "end_s": start_s + 4.0,
        "start_frame": int(start_s * FPS),
        "end_frame": int((start_s + 4.0) * FPS),
        "experts": experts,
        "fused": {
            "probs": fused,
            "weights": {name: [1 / len(present)] * 8 for name in present},
            "experts_present": present,
        },
        "compound": compound,
        "decision": decision_of(compound),
    }


def decision_of(compound: dict[str, Any]) -> dict[str, Any]:
    """The decision a window's compound verdict (as in result.json) comes to."""
    return decide(CompoundVerdict.model_validate(compound)).model_dump()


def redecide(result: dict[str, Any]) -> None:
    """Bring the stored decisions in line with verdicts a test has changed."""
    for w in result["windows"]:
        w["decision"] = decision_of(w["compound"])
    decisions = (Decision.model_validate(w["decision"]) for w in result["windows"])
    result["summary"]["decision"] = video_decision(decisions).model_dump()


def keep_windows(result: dict[str, Any], windows: list[dict[str, Any]]) -> None:
    """Only `windows` (none of them with compound scores), renumbered, with a summary to match."""
    result["windows"] = [{**w, "index": i} for i, w in enumerate(windows)]
    result["summary"].update(n_windows=len(windows), dominant_compound=None, compound_share={}, dominant_basic=None)
    redecide(result)


def written(result: dict[str, Any], folder: Path) -> Path:
    """The folder, after writing the outputs of the result (the dict, loaded) into it."""
    write_outputs(load_result(result), folder)
    return folder


def padded(head: list[float], size: int = 7) -> list[float]:
    return head + [0.0] * (size - len(head))


@pytest.fixture
def result() -> dict[str, Any]:
    """Three overlapping windows over 80 frames: [0, 40), [20, 60), [40, 80).

    Window 0 favours compound 0, window 1 compound 1, and their average over the overlap
    (frames 20..39) favours compound 2. Audio is absent in window 1; nobody speaks in window 2.
    The video's decision is compound 0: windows 0 and 1 tie, and the earlier wins.
    """
    happy, surprise = BASIC.index("Happiness"), BASIC.index("Surprise")
    w0 = {
        "static_face": expert_output(one_hot(happy, 8), face_frames=20, sampled_frames=20),
        "dynamic_face": expert_output(one_hot(surprise, 8), face_frames=20, sampled_frames=20),
        "audio": expert_output(one_hot(happy, 8), speech_ratio=0.8),
        "text": expert_output(one_hot(happy, 8), transcript=TRANSCRIPT),
    }
    w1 = {
        "static_face": expert_output(one_hot(surprise, 8), face_frames=18, sampled_frames=20),
        "dynamic_face": expert_output(one_hot(surprise, 8), face_frames=18, sampled_frames=20),
        "audio": expert_output(None, "no speech", speech_ratio=0.0),
        "text": expert_output(one_hot(surprise, 8), transcript="wow, really"),
    }
    w2 = {
        "static_face": expert_output(None, "no face", face_frames=0, sampled_frames=20),
        "dynamic_face": expert_output(None, "no face", face_frames=0, sampled_frames=20),
        "audio": expert_output(None, "no speech", speech_ratio=0.0),
        "text": expert_output(None, "no speech"),
    }
    windows = [
        window(0, 0.0, w0, padded([0.9, 0.0, 0.8])),
        window(1, 2.0, w1, padded([0.0, 0.9, 0.8])),
        window(2, 4.0, w2, None),
    ]
    return {
        "schema": "cer.result/v2",
        "video": {
            "path": "/data/clips/clip_01.mp4",
            "duration_s": 8.0,
            "fps": FPS,
            "width": 640,
            "height": 360,
            "has_audio": True,
            "n_frames": N_FRAMES,
            "rotation": 0,
        },
        "profile": "tiny",
        "labels": {"basic": list(BASIC), "compound": list(PAIRS), "pairs": {k: list(v) for k, v in PAIRS.items()}},
        "experts": {name: {"status": "ok", "model_id": f"test/{name}", "reason": None, "note": None} for name in EXPERTS},
        "faces": {"detector": "yunet", "tracks": 1, "seen": [[0, 30]]},  # a face in the first 3 s
        "windows": windows,
        "summary": {
            "n_windows": 3,
            "decision": {"kind": "compound", "label": "Fearfully_Surprised"},
            "dominant_compound": "Fearfully_Surprised",
            "compound_share": {"Fearfully_Surprised": 0.5, "Happily_Surprised": 0.5},
            "dominant_basic": "Surprise",
        },
        "timings": {
            "probe_s": 0.01,
            "decode_s": 0.2,
            "faces_s": 0.3,
            "experts_s": {name: 0.1 for name in EXPERTS},
            "fusion_s": 0.01,
            "outputs_s": 0.0,
            "total_s": 1.0,
        },
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_result_loads_with_its_decisions(result: dict[str, Any]) -> None:
    loaded = load_result(result)
    assert isinstance(loaded, Result)
    assert [w.decision.text for w in loaded.window_results] == ["Fearfully_Surprised", "Happily_Surprised", "none"]
    assert loaded.decision == Decision(kind="compound", label="Fearfully_Surprised")


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    # id: (how the result is broken, the path the error must name)
    "probs-of-7": (
        lambda r: r["windows"][0]["experts"]["audio"].update(probs=[1 / 7] * 7),
        "result.windows[0].experts.audio.probs",
    ),
    "scores-not-K": (
        lambda r: r["windows"][1]["compound"].update(scores=[0.1] * 6),
        "result.windows[1].compound.scores",
    ),
    "probs-not-summing-to-1": (
        lambda r: r["windows"][0]["experts"]["text"].update(probs=[0.5] * 8),
        "result.windows[0].experts.text.probs",
    ),
    "absent-without-reason": (
        lambda r: r["windows"][2]["experts"]["text"].update(reason=None),
        "result.windows[2].experts.text.reason",
    ),
    "missing-key": (lambda r: r["video"].pop("fps"), "result.video.fps"),
    "nan": (lambda r: r["timings"].update(total_s=float("nan")), "result.timings.total_s"),
    "unknown-label": (lambda r: r["summary"].update(dominant_basic="Joy"), "result.summary.dominant_basic"),
    "more-cached-than-windows": (lambda r: r["experts"]["audio"].update(cached_windows=4), "result.experts.audio.cached_windows"),
    "face-beyond-the-video": (lambda r: r["faces"].update(seen=[[70, 90]]), "result.faces.seen[0]"),
    "fused-probs-of-7": (lambda r: r["windows"][0]["fused"].update(probs=[0.125] * 7), "result.windows[0].fused.probs"),
    "decision-not-from-the-verdict": (
        lambda r: r["windows"][0].update(decision={"kind": "basic", "label": "Fear"}),
        "result.windows[0].decision",
    ),
    "video-decision-not-the-majority": (
        lambda r: r["summary"].update(decision={"kind": "compound", "label": "Happily_Surprised"}),  # the tie goes to the earlier
        "result.summary.decision",
    ),
}


@pytest.mark.parametrize("case", BREAKAGES)
def test_schema_rejects_a_broken_result_naming_the_path(result: dict[str, Any], case: str) -> None:
    breakage, path = BREAKAGES[case]
    breakage(result)
    with pytest.raises(ResultError) as caught:  # so a broken result never reaches the writers
        load_result(result)
    assert str(caught.value).startswith(f"{path}:")


def test_write_outputs_writes_every_file_atomically(result: dict[str, Any], tmp_path: Path) -> None:
    loaded = load_result(result)
    returned = write_outputs(loaded, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(FILE_NAMES)  # every file of the table, no temporary left
    assert load_result(tmp_path / "out" / "result.json") == returned
    # The returned result is the one given, with the time the outputs took.
    assert returned.model_copy(update={"timings": loaded.timings}) == loaded
    assert returned.timings.total_s == pytest.approx(loaded.timings.total_s + returned.timings.outputs_s)


def test_the_output_table_ends_with_result_json() -> None:
    """result.json last marks a complete folder; the report embeds the timeline written before it."""
    assert set(FILE_NAMES) == {"result.json", "windows.csv", "frames.csv", "frames_probs.csv", "timeline.png", "report.html"}
    assert FILE_NAMES[-1] == "result.json"
    assert FILE_NAMES.index("timeline.png") < FILE_NAMES.index("report.html")


@pytest.mark.parametrize("document", ["docs/outputs.md", "README.md"])
def test_the_documents_show_the_output_table(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    assert markdown_table() in text, f"{document} must hold cer.pipeline.outputs.files.markdown_table() verbatim"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "windows.csv"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["windows.csv"]


def test_frames_csv_averages_overlapping_windows(result: dict[str, Any], tmp_path: Path) -> None:
    lines = (written(result, tmp_path) / "frames.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        "image_location,Fearfully_Surprised,Happily_Surprised,Sadly_Surprised,"
        "Disgustedly_Surprised,Angrily_Surprised,Sadly_Fearful,Sadly_Angry"
    )
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == N_FRAMES
    assert [name for name, _ in rows] == [f"clip_01/{i:05d}.jpg" for i in range(1, N_FRAMES + 1)]
    assert rows[0][0] == "clip_01/00001.jpg"
    labels = [int(k) for _, k in rows]
    # Frames 1-20: window 0 alone -> 0; 21-40: mean of windows 0 and 1 -> 2 (0.8 beats 0.45);
    # 41-60: window 1 alone -> 1; 61-80: window 2 has no scores, so the previous label carries on.
    assert labels == [0] * 20 + [2] * 20 + [1] * 20 + [1] * 20


def test_frames_csv_is_header_only_when_no_window_has_scores(result: dict[str, Any], tmp_path: Path) -> None:
    keep_windows(result, result["windows"][2:])
    folder = written(result, tmp_path)
    assert len((folder / "frames.csv").read_text(encoding="utf-8").splitlines()) == 1
    assert "frames.csv holds only its header" in (folder / "report.html").read_text(encoding="utf-8")


def test_write_abaw_file_follows_an_explicit_frame_order(tmp_path: Path) -> None:
    path = tmp_path / "submission.txt"
    write_abaw_file(path, "vid", [2, 0], ["A", "B", "C"], frame_numbers=[7, 3])
    assert path.read_text(encoding="utf-8") == "image_location,A,B,C\nvid/00007.jpg,2\nvid/00003.jpg,0\n"
    with pytest.raises(ValueError, match="-1"):
        write_abaw_file(path, "vid", [0, -1], ["A", "B", "C"])


def test_an_eleven_compound_vocabulary(result: dict[str, Any], tmp_path: Path) -> None:
    extra = {
        "Happily_Disgusted": ("Happiness", "Disgust"),
        "Sadly_Disgusted": ("Sadness", "Disgust"),
        "Fearfully_Angry": ("Fear", "Anger"),
        "Fearfully_Disgusted": ("Fear", "Disgust"),
    }
    pairs = {**PAIRS, **extra}
    result["labels"].update(compound=list(pairs), pairs={k: list(v) for k, v in pairs.items()})
    for w in result["windows"]:
        if w["compound"]["scores"] is not None:
            w["compound"]["scores"] = w["compound"]["scores"] + [0.0] * 4
    # Window 1 now favours a compound only this vocabulary has (index 10).
    result["windows"][1]["compound"]["scores"][10] = 1.0
    result["windows"][1]["compound"].update(label="Fearfully_Disgusted", pair=["Fear", "Disgust"])
    redecide(result)
    folder = written(result, tmp_path)
    lines = (folder / "frames.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == ["image_location", *pairs]
    assert len(lines[0].split(",")) == 12
    assert lines[-1] == "clip_01/00080.jpg,10"
    rows = read_csv(folder / "windows.csv")
    assert rows[1]["decision"] == "Fearfully_Disgusted"
    columns = list(rows[0])
    assert [c for c in columns if c.startswith("compound_")] == [f"compound_{k}" for k in pairs]


def test_windows_csv_has_a_row_per_window_and_the_right_columns(result: dict[str, Any], tmp_path: Path) -> None:
    rows = read_csv(written(result, tmp_path) / "windows.csv")
    assert len(rows) == 3
    assert list(rows[0]) == [
        *(
            "person",
            "index",
            "start_s",
            "end_s",
            "start_frame",
            "end_frame",
            "decision",
            "compound",
            "confidence",
            "basic_only",
            "top_basic",
        ),
        *(f"fused_{b}" for b in BASIC),
        *(f"compound_{c}" for c in PAIRS),
        *(f"expert_{e}" for e in EXPERTS),
        "expert_text_transcript",
    ]
    assert [row["decision"] for row in rows] == ["Fearfully_Surprised", "Happily_Surprised", "none"]
    assert rows[0]["compound"] == "Fearfully_Surprised" and rows[0]["top_basic"] == "Happiness"
    assert rows[0]["expert_text_transcript"] == TRANSCRIPT  # commas and quotes survive the round trip
    assert rows[1]["expert_audio"] == "absent" and rows[1]["expert_static_face"] == "Surprise"
    assert rows[2]["compound"] == "" and rows[2]["fused_Neutral"] == ""
    assert {rows[2][f"expert_{e}"] for e in EXPERTS} == {"absent"}


def test_timeline_is_a_png_of_the_planned_size(result: dict[str, Any], tmp_path: Path) -> None:
    path = written(result, tmp_path) / "timeline.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(path).shape[:2]
    assert width == WIDTH_IN * DPI
    assert height > len(EXPERTS) * DPI


def test_timeline_without_windows(result: dict[str, Any], tmp_path: Path) -> None:
    keep_windows(result, [])
    assert (written(result, tmp_path) / "timeline.png").stat().st_size > 0


def test_report_is_self_contained_and_escaped(result: dict[str, Any], tmp_path: Path) -> None:
    result["experts"]["audio"]["note"] = "<b>bold</b> claim"
    html = (written(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    assert "then &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html and "<b>bold</b>" not in html
    assert "wow, really" in html
    assert "http://" not in html and "https://" not in html
    assert 'src="data:image/png;base64,' in html


def test_summary_table_lists_windows_and_present_experts(result: dict[str, Any]) -> None:
    lines = summary_table(load_result(result)).splitlines()
    assert len(lines) == 2 + 3 + 2  # header, rule, the windows, a blank line and the video's decision
    assert "Fearfully_Surprised" in lines[2] and "audio" in lines[2]
    assert "audio" not in lines[3] and "text" in lines[3]
    assert lines[4].split()[-1] == "none"


def test_summary_table_writes_the_decisions_as_every_view_does(result: dict[str, Any]) -> None:
    # Window 0's weaker basic (Fear, 0.05) is too faint for a blend: basic only, the stronger one.
    result["windows"][0]["compound"]["basic_only"] = "Surprise"
    redecide(result)
    loaded = load_result(result)
    lines = summary_table(loaded).splitlines()
    assert [w.decision.text for w in loaded.window_results] == ["basic only: Surprise", "Happily_Surprised", "none"]
    for line, w in zip(lines[2:5], loaded.window_results, strict=True):
        assert line.startswith(f"{w.span_text}  {w.decision.text}")
    assert "basic only: Surprise (0.20)" in lines[2]  # with the stronger basic's probability
    assert lines[-1] == "video: basic only: Surprise"  # the tie with window 1 goes to the earlier


def test_frames_probs_csv_has_one_row_per_frame_with_probabilities_scores_and_faces(result: dict[str, Any], tmp_path: Path) -> None:
    rows = read_csv(written(result, tmp_path) / "frames_probs.csv")
    assert list(rows[0]) == [
        "person",
        "frame",
        "time_s",
        "face",
        *(f"fused_{b}" for b in BASIC),
        *(f"compound_{c}" for c in PAIRS),
        "why_none",
    ]
    assert [int(row["frame"]) for row in rows] == list(range(N_FRAMES))
    assert float(rows[25]["time_s"]) == pytest.approx(2.5)
    assert [row["face"] for row in rows] == ["1"] * 30 + ["0"] * 50
    fused = [[float(row[f"fused_{b}"]) for b in BASIC] for row in rows[:60]]
    assert all(sum(probs) == pytest.approx(1.0, abs=1e-4) for probs in fused)
    # Frames 0-19: window 0 alone; 20-39: windows 0 and 1 averaged, as frames.csv averages them.
    happiness = BASIC.index("Happiness")
    assert fused[0][happiness] == pytest.approx(result["windows"][0]["fused"]["probs"][happiness], abs=1e-6)
    both = (result["windows"][0]["fused"]["probs"][happiness] + result["windows"][1]["fused"]["probs"][happiness]) / 2
    assert fused[30][happiness] == pytest.approx(both, abs=1e-6)
    assert float(rows[30]["compound_Sadly_Surprised"]) == pytest.approx(0.8)
    # Frames 60-79 only window 2 covers, where no expert spoke: no numbers rather than made-up ones.
    assert {row["fused_Neutral"] for row in rows[60:]} == {""} and {row["compound_Sadly_Angry"] for row in rows[60:]} == {""}
    # and each such frame says why: here no face either (one row per frame, faceless ones too)
    assert {row["why_none"] for row in rows[60:]} == {"no face, and no other expert spoke"}
    assert {row["why_none"] for row in rows[:60]} == {""}


def test_frames_probs_of_an_older_result_leaves_the_face_column_empty(result: dict[str, Any], tmp_path: Path) -> None:
    del result["faces"]["seen"]
    rows = read_csv(written(result, tmp_path) / "frames_probs.csv")
    assert len(rows) == N_FRAMES and {row["face"] for row in rows} == {""}


LONG_REASON = "the offline profile has no CLIP model; `--profile default` fetches one"


def test_report_cells_give_one_short_reason_and_the_legend_each_reason_in_full(result: dict[str, Any], tmp_path: Path) -> None:
    result["experts"]["clip_labels"] = {"status": "unavailable", "model_id": "none", "reason": LONG_REASON, "note": None}
    for w in result["windows"]:
        w["experts"]["clip_labels"] = expert_output(None, LONG_REASON)
    html = (written(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    windows_table = html[html.index("<h2>Windows</h2>") : html.index("<h2>Why experts are absent</h2>")]
    legend = html[html.index("<h2>Why experts are absent</h2>") :]
    # A cell names the reason in short and holds the full text for hovering.
    assert '<td title="no speech">absent: no speech</td>' in windows_table
    assert windows_table.count(f'<td title="{LONG_REASON}">unavailable</td>') == 3  # nothing in it needs escaping
    assert f">{LONG_REASON}<" not in windows_table  # never as a cell's visible text
    # The legend: each expert's reasons once, in full, with the windows they cover.
    assert legend.count(LONG_REASON) == 1
    assert "<tr><td>audio</td><td>2 of 3</td><td>no speech</td></tr>" in legend
    assert "<tr><td>static_face</td><td>1 of 3</td><td>no face</td></tr>" in legend


def test_report_has_a_single_scene_column(result: dict[str, Any], tmp_path: Path) -> None:
    result["experts"]["scene"] = {"status": "ok", "model_id": "test/scene", "reason": None, "note": None}
    for w in result["windows"]:
        w["experts"]["scene"] = expert_output([0.125] * 8, scene="a person in a kitchen")
    html = (written(result, tmp_path) / "report.html").read_text(encoding="utf-8")
    header = next(line for line in html.splitlines() if line.startswith("<tr><th>#</th>"))
    headings = [cell.split("</th>")[0] for cell in header.split("<th>")[1:]]
    assert headings.count("scene") == 1 and "scene description" in headings
    assert "a person in a kitchen" in html


def test_report_says_which_experts_answered_from_the_cache(result: dict[str, Any], tmp_path: Path) -> None:
    html = (written(result, tmp_path / "off") / "report.html").read_text(encoding="utf-8")
    assert "from the cache" not in html  # no cache, no column
    result["experts"]["audio"]["cached_windows"] = 3
    result["experts"]["text"]["cached_windows"] = 1
    for name in ("static_face", "dynamic_face"):
        result["experts"][name]["cached_windows"] = 0
    html = (written(result, tmp_path / "on") / "report.html").read_text(encoding="utf-8")
    experts = html[html.index("<h2>Experts</h2>") : html.index("<h2>Windows</h2>")]
    rows = {line.split("</td>")[0].removeprefix("<tr><td>"): line for line in experts.splitlines() if line.startswith("<tr><td>")}
    assert "<th>from the cache</th>" in experts
    assert rows["audio"].endswith("<td>all 3 windows</td></tr>")
    assert rows["text"].endswith("<td>1 of 3 windows</td></tr>")
    assert rows["static_face"].endswith("<td>none</td></tr>")


def test_the_terminal_note_names_the_experts_answered_from_the_cache(result: dict[str, Any]) -> None:
    def note() -> str | None:
        return cache_note(load_result(result))

    assert note() is None  # the cache was off
    result["experts"]["audio"]["cached_windows"] = 0
    assert note() is None  # on, but nothing was in it
    result["experts"]["audio"]["cached_windows"] = 3
    some = note()
    assert some is not None and "audio 3 of 3 windows" in some and "static_face" not in some
    for expert in result["experts"].values():
        expert["cached_windows"] = 3
    assert (note() or "").startswith("every expert's output came from the expert-output cache")


def test_timeline_colours_are_the_web_pages() -> None:
    """The page draws its bands in JavaScript; its palette must be the one the timeline uses."""
    script = (REPO / "serving" / "static" / "app.js").read_text(encoding="utf-8")

    def colours(name: str) -> tuple[str, ...]:
        found = re.search(rf"const {name} = \[(.*?)\];", script, re.S)
        assert found is not None, f"app.js has no {name}"
        return tuple(re.findall(r'"(#[0-9a-fA-F]+)"', found.group(1)))

    no_label = re.search(r'const NO_LABEL_COLOUR = "(#[0-9a-fA-F]+)";', script)
    assert no_label is not None
    assert colours("BAND_COLOURS") == COMPOUND_COLOURS
    assert colours("BASIC_COLOURS") == BASIC_COLOURS
    assert no_label.group(1) == NO_LABEL_COLOUR


def test_timeline_draws_the_compounds_in_the_palette_colours(result: dict[str, Any], tmp_path: Path) -> None:
    image = imread(written(result, tmp_path) / "timeline.png")[..., :3]
    found = {tuple(pixel) for pixel in np.unique((image * 255).round().astype(int).reshape(-1, 3), axis=0).tolist()}
    # Windows 0 and 1 are labelled Fearfully_Surprised and Happily_Surprised: the first two colours.
    for colour in COMPOUND_COLOURS[:2]:
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in found


# --- the output folder -------------------------------------------------------------------------


def test_an_out_that_is_a_file_fails_before_any_work(tmp_path: Path, demo_clip: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    done = subprocess.run(
        [sys.executable, "-m", "cer", "run", str(demo_clip), "--profile", "tiny", "--out", str(taken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "a file of that name exists" in done.stderr and "Traceback" not in done.stderr
    assert "loading the" not in done.stderr  # refused before any model loaded
    with pytest.raises(OutputFolderError, match="a file of that name exists"):
        check_output_folder(taken)


def test_two_runs_into_one_folder_leave_the_files_of_one(result: dict[str, Any], tmp_path: Path) -> None:
    runs = []
    for name in ("first.mp4", "second.mp4"):
        run = copy.deepcopy(result)
        run["video"]["path"] = f"/videos/{name}"
        runs.append(load_result(run))  # frozen: the threads may share it
    threads = [threading.Thread(target=write_outputs, args=(runs[i % 2], tmp_path)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last = load_result(tmp_path / "result.json").video.path
    assert Path(last).name in (tmp_path / "report.html").read_text()  # the report is of the same run
    other = next(Path(run.video.path).name for run in runs if run.video.path != last)
    assert other not in (tmp_path / "report.html").read_text()
