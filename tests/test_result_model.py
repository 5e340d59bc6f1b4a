"""Tests of the typed Result: its committed schema, results of earlier versions, the decisions,
and the data frames (the output writers are tested in test_outputs.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from cer.core.result import (
    NO_DECISION,
    SCHEMA_ID,
    CompoundVerdict,
    Decision,
    Result,
    ResultError,
    decide,
    json_schema,
    load_result,
    video_decision,
)
from cer.pipeline.outputs import write_outputs

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "core" / "schema" / "result.v2.json"
REGENERATE = (
    '.venv/bin/python -c "import json; from cer.core.result import json_schema; '
    'print(json.dumps(json_schema(), indent=2))" > core/schema/result.v2.json'
)
# A real result.json of cer.result/v1: its first window is "basic only" (compound.basic_only
# Happiness), in the other two no expert spoke.
V1_FILE = REPO / "tests" / "data" / "result_v1.json"

HAPPINESS = Decision(kind="basic", label="Happiness")


@pytest.fixture(scope="module")
def v1() -> Result:
    return load_result(V1_FILE)


@pytest.fixture(scope="module")
def v1_folder(v1: Result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of the v1 result, written once for the module."""
    folder = tmp_path_factory.mktemp("v1-outputs")
    write_outputs(v1, folder)
    return folder


def verdict(label: str | None, basic_only: str | None = None) -> CompoundVerdict:
    """A verdict with only what the decision reads filled in (a label, a basic-only class)."""
    return CompoundVerdict(
        method="ppa",
        scores=None if label is None else [1.0],
        label=label,
        confidence=None,
        pair=None,
        pair_probs=None,
        note=None,
        basic_only=basic_only,
    )


def csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


# --- the schema --------------------------------------------------------------------------------


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == json_schema(), f"core/schema/result.v2.json is out of date; regenerate it with\n{REGENERATE}"
    assert committed["$id"] == SCHEMA_ID == "cer.result/v2"


def test_a_written_result_json_follows_the_committed_schema(v1_folder: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    written = json.loads((v1_folder / "result.json").read_text(encoding="utf-8"))
    errors = [f"{error.json_path}: {error.message}" for error in Draft202012Validator(schema).iter_errors(written)]
    assert errors == []
    assert written["schema"] == SCHEMA_ID and "windows" in written and "window_results" not in written


# --- loading -----------------------------------------------------------------------------------


def test_a_v1_result_loads_with_the_decisions_of_its_verdicts(v1: Result) -> None:
    assert v1.schema_id == SCHEMA_ID
    assert [w.decision for w in v1.window_results] == [HAPPINESS, NO_DECISION, NO_DECISION]
    assert v1.decision == v1.summary.decision == HAPPINESS
    assert v1.decision.text == "basic only: Happiness"
    assert v1.summary.dominant_compound == "Happily_Surprised"  # the forced label stays for the ABAW file


def test_load_result_reads_a_path_as_text_or_path(v1: Result) -> None:
    assert load_result(str(V1_FILE)) == load_result(V1_FILE) == v1


def test_an_unknown_schema_version_is_refused_naming_the_key() -> None:
    data = json.loads(V1_FILE.read_text(encoding="utf-8"))
    data["schema"] = "cer.result/v3"
    with pytest.raises(ResultError) as caught:
        load_result(data)
    assert str(caught.value).startswith("result.schema:")
    assert isinstance(caught.value, ValueError)


def test_a_result_survives_its_json(v1: Result) -> None:
    assert load_result(json.loads(v1.to_json())) == v1


def test_a_result_is_frozen(v1: Result) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        v1.profile = "another"
    with pytest.raises(ValidationError, match="frozen"):
        v1.window_results[0].decision = NO_DECISION


# --- the decisions -----------------------------------------------------------------------------


def test_a_window_decides_compound_basic_only_or_none() -> None:
    assert decide(verdict("Happily_Surprised")) == Decision(kind="compound", label="Happily_Surprised")
    assert decide(verdict("Happily_Surprised", basic_only="Happiness")) == HAPPINESS
    assert decide(verdict(None)) == NO_DECISION


def test_every_view_writes_a_decision_the_same_way() -> None:
    assert Decision(kind="compound", label="Happily_Surprised").text == "Happily_Surprised"
    assert HAPPINESS.text == "basic only: Happiness"
    assert NO_DECISION.text == "none"


def test_the_window_decision_text_adds_the_strength_behind_it(v1: Result) -> None:
    first = v1.window_results[0]
    assert first.decision_text() == f"basic only: Happiness ({max(first.compound.pair_probs or ()):.2f})"
    assert v1.window_results[1].decision_text() == "none"


def test_the_video_decision_is_the_one_most_windows_share() -> None:
    happily, sadly = Decision(kind="compound", label="Happily_Surprised"), Decision(kind="compound", label="Sadly_Surprised")
    assert video_decision([happily, sadly, sadly, NO_DECISION, NO_DECISION, NO_DECISION]) == sadly  # windows without one don't count
    assert video_decision([HAPPINESS, happily, happily, HAPPINESS]) == HAPPINESS  # of equals, the earliest
    assert video_decision([NO_DECISION, NO_DECISION]) == NO_DECISION
    assert video_decision([]) == NO_DECISION


# --- the data frames ---------------------------------------------------------------------------


def test_the_windows_frame_is_windows_csv(v1: Result, v1_folder: Path) -> None:
    frame = v1.windows()
    assert len(frame) == len(v1.window_results) == 3
    assert list(frame.columns) == csv_header(v1_folder / "windows.csv")
    assert frame["decision"].tolist() == ["basic only: Happiness", "none", "none"]


def test_the_frames_frame_is_frames_probs_csv(v1: Result, v1_folder: Path) -> None:
    frame = v1.frames()
    assert len(frame) == v1.video.n_frames == 169
    assert list(frame.columns) == csv_header(v1_folder / "frames_probs.csv")
    assert frame["frame"].tolist() == list(range(v1.video.n_frames))
