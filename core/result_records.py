"""The records a result is made of, and the one decision of a window and of a video.

cer.core.result builds the whole `Result` on them; the views and tables of a result read them
from here, so that nothing below the Result imports it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from cer.core.labels import BASIC

SCHEMA_ID: Final = "cer.result/v2"
EARLIER_SCHEMAS = ("cer.result/v1",)  # upgraded on load (`load_result`)
SUM_TOLERANCE = 1e-3  # probabilities are produced in float32 and may be rounded before export

Probability = Annotated[float, Field(ge=0, le=1)]
BasicProbs = Annotated[list[Probability], Field(min_length=len(BASIC), max_length=len(BASIC))]
Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class Record(BaseModel):
    """Frozen, closed to unknown keys, and finite: NaN and infinity are not JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Provenance(Record):
    """The cer that wrote the result."""

    version: str
    git: str | None = Field(description="the git revision when cer ran from a checkout")


class VideoRecord(Record):
    """What the probe learned about the video."""

    path: str
    duration_s: Seconds
    fps: Annotated[float, Field(gt=0)]
    width: Count  # display size, after rotation
    height: Count
    has_audio: bool
    n_frames: Count
    rotation: Literal[0, 90, 180, 270] = 0
    part_s: tuple[Seconds, Seconds] | None = Field(
        default=None, description="[start, end] seconds of the part analysed (`--start`/`--end`); none: the whole video"
    )


class Labels(Record):
    basic: Annotated[list[str], Field(min_length=len(BASIC), max_length=len(BASIC))]
    compound: Annotated[list[str], Field(min_length=1)]
    pairs: dict[str, tuple[str, str]] = Field(description="compound label -> its two basic labels")


class ExpertRecord(Record):
    """Whether an expert could be built (its `reason` when not), and the model behind it."""

    status: Literal["ok", "unavailable"]
    model_id: str
    reason: str | None
    note: str | None
    device: str | None = Field(default=None, description="where its models ran: cpu, cuda:0, ... (none for an expert without models)")
    cached_windows: Count | None = Field(
        default=None, description="with the expert-output cache on: windows answered from it (taking no time) instead of computed"
    )


class FacesRecord(Record):
    detector: str
    tracks: Count
    seen: list[tuple[Count, Count]] | None = Field(
        default=None,
        description="[start_frame, end_frame) ranges where a face was found (a sampled frame stands for the frames up to the next)",
    )


class FusionRecord(Record):
    """How the experts are weighed (MHPF)."""

    method: Literal["mhpf"]
    heads: Annotated[int, Field(ge=1)]
    weights_file: str | None
    expert_weights: dict[str, BasicProbs] = Field(description="per expert and basic class, its weight when every expert is present")
    temperatures: dict[str, Annotated[float, Field(gt=0)]] | None = Field(
        default=None, description="per expert T: its distributions enter the fusion as p ** (1 / T), renormalised"
    )


class ExpertAnswer(Record):
    """One expert in one window: 8 basic probabilities, or absent with the reason."""

    probs: BasicProbs | None
    reason: str | None
    evidence: dict[str, Any] = Field(
        description="open by design, each expert explains itself (transcript, scene, face_frames, speech_ratio, ...)"
    )

    @property
    def present(self) -> bool:
        return self.probs is not None


class Fused(Record):
    probs: BasicProbs | None = Field(description="null exactly when no expert was present")
    weights: dict[str, BasicProbs] = Field(description="per present expert, its effective weight for each basic class")
    experts_present: list[str]


class CompoundVerdict(Record):
    """The basic-to-compound conversion of one window (PPA or PFSA)."""

    method: Literal["ppa", "pfsa"]
    scores: list[float] | None = Field(description="one per compound label, in labels.compound order")
    label: str | None = Field(description="the argmax compound, forced (the ABAW file's label)")
    confidence: float | None
    pair: tuple[str, str] | None
    pair_probs: tuple[Probability, Probability] | None
    note: str | None
    basic_only: str | None = Field(
        default=None, description="the stronger basic of the winning pair when the weaker is below compound.basic_only_below"
    )


class Decision(Record):
    """The headline: a compound, one basic class ("basic only"), or none (no expert spoke)."""

    kind: Literal["compound", "basic", "none"]
    label: str | None

    @property
    def text(self) -> str:
        """How every view writes the decision: `Happily_Surprised`, `basic only: Happiness`, `none`."""
        if self.kind == "basic":
            return f"basic only: {self.label}"
        return self.label or "none"


NO_DECISION = Decision(kind="none", label=None)


class VoiceRecord(Record):
    """Whose voice a person's window holds (cer.core.speakers): the audio and text experts'
    answers go to the speaker, and are absent for everyone else."""

    speaker: Annotated[int, Field(ge=1)] | None = Field(description="the id of the person speaking; none: no one (see basis)")
    confidence: float | None = Field(description="the lead of the speaker's share of mouth motion over the next person's")
    basis: str = Field(description="how it was decided: mouth motion during speech, the only person in view, speaker unclear, no speech")
    shares: dict[str, Probability] = Field(description="per person id in view, their share of the mouth motion during speech")


class WindowResult(Record):
    index: Count
    start_s: Seconds
    end_s: Seconds
    start_frame: Count
    end_frame: Count  # one past the last frame
    experts: dict[str, ExpertAnswer]
    fused: Fused
    compound: CompoundVerdict
    decision: Decision
    voice: VoiceRecord | None = Field(default=None, description="a person's windows only: whose voice it was")
    latency_s: Seconds | None = Field(
        default=None,
        description="`cer live`: seconds from the moment the stream reached the window's end to its verdict (none for a file)",
    )

    @property
    def span_text(self) -> str:
        return f"{self.start_s:.2f}-{self.end_s:.2f} s"

    def decision_text(self) -> str:
        """The decision with the strength behind it: `Happily_Surprised (0.82)`, `basic only: Happiness (0.85)`."""
        verdict = self.compound
        if self.decision.kind == "basic" and verdict.pair_probs is not None:
            return f"{self.decision.text} ({max(verdict.pair_probs):.2f})"
        if self.decision.kind == "compound" and verdict.confidence is not None:
            return f"{self.decision.text} ({verdict.confidence:.2f})"
        return self.decision.text


class Summary(Record):
    n_windows: Count
    decision: Decision = Field(description="the video's headline: the decision most windows share")
    dominant_compound: str | None = Field(description="the forced compound label most windows have (ABAW), not the headline")
    compound_share: dict[str, Probability] = Field(description="per compound label, its share of the windows' forced labels")
    dominant_basic: str | None = Field(description="the argmax of the fused probabilities averaged over windows")


class PersonBox(Record):
    """A person's face on one sampled frame, as fractions of the frame's width and height."""

    frame: Count = Field(description="the video frame's index")
    box: tuple[Probability, Probability, Probability, Probability] = Field(description="x0, y0, x1, y1")


class Person(Record):
    """One person on their own: their face experts on their face, the voice and words when they
    speak, the scene as everyone's; fused and scored per window where they were in view."""

    id: Annotated[int, Field(ge=1)]
    boxes: list[PersonBox] = Field(description="per sampled frame where the person was seen")
    speaking_share: Probability | None = Field(
        description="of their windows with speech, the share where the voice was theirs (none: no speech in their windows)"
    )
    windows: list[WindowResult] = Field(description="the windows where the person was scored (seen enough), in time order")
    summary: Summary


class Timings(Record):
    """Seconds per stage; outputs_s is 0 until the output files are written."""

    probe_s: Seconds
    start_s: Seconds | None = None
    decode_s: Seconds
    faces_s: Seconds
    experts_s: dict[str, Seconds]
    fusion_s: Seconds
    outputs_s: Seconds
    total_s: Seconds
    # CPU seconds this process spent on the video, all its threads together, over the time
    # total_s counts less start_s and outputs_s (Ray actors, other processes, count in their
    # own): against that time x cores, how much of the machine the run left idle
    cpu_s: Seconds | None = None


class ResultFields(Record):
    """The fields of a Result, for the code that reads them (`cer.core.result_views`, the tables)."""

    # Frozen: attributes cannot be assigned. Its lists and dicts are plain Python ones, so
    # change nothing inside them; derive a new Result with `model_copy(update=...)` (which does
    # not re-check) or build one (which does).

    # `by_alias`: the JSON key `schema` would shadow a BaseModel attribute; `windows` is a
    # method (a data frame) in Python, the list is `window_results`.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True, serialize_by_alias=True)

    schema_id: Literal["cer.result/v2"] = Field(default=SCHEMA_ID, alias="schema")
    cer: Provenance | None = None
    video: VideoRecord
    profile: str
    labels: Labels
    experts: dict[str, ExpertRecord]
    fusion: FusionRecord | None = None
    faces: FacesRecord
    window_results: list[WindowResult] = Field(alias="windows")
    summary: Summary
    timings: Timings
    persons: list[Person] = Field(
        default_factory=list, description="each person scored, the main person first (most present); the windows above are the video as one"
    )

    @property
    def decision(self) -> Decision:
        return self.summary.decision

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def decide(verdict: CompoundVerdict) -> Decision:
    """The headline of one window: its compound, unless the weaker part of the pair is too
    faint for a blend (then the stronger basic class alone), or none when no expert spoke."""
    if verdict.label is None:
        return NO_DECISION
    if verdict.basic_only:
        return Decision(kind="basic", label=verdict.basic_only)
    return Decision(kind="compound", label=verdict.label)


def video_decision(decisions: Iterable[Decision]) -> Decision:
    """The decision most windows share (the earliest of equals); none when no window has one."""
    counts = Counter(decision for decision in decisions if decision.kind != "none")
    return counts.most_common(1)[0][0] if counts else NO_DECISION
