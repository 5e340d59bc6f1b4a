"""Dynamic face expert: how the main face's expression unfolds over a window.

Two methods (`options.method`):
- `lstm` (default profile): the EmoAffectNet LSTM (trained on Aff-Wild2) over the ResNet-50's
  512-d embeddings of face frames, fed as it was trained: sequences of 10 consecutive face
  frames 0.2 s apart (EMO-AffectNetModel samples faces at 5 fps and builds sequences with
  win=10, step=5; AVCER keeps a sliding buffer of the last 10). Frames are chosen by their
  timestamps on a 0.2 s grid, so this holds whatever `media.sample_fps` is; the sequences
  slide over the window's face frames by 5 ([0:10], [5:15], [10:20] for 20), a short one is
  padded by repeating its last feature, and the window's answer is the mean of its
  sequences' probabilities. Models: `backbone`, `temporal`.
- `apex_pooling` (offline profile, no temporal model ships in a package): per-frame
  probabilities of the static classifier, pooled with weights that favour the frames where
  the expression is strongest. A pooling rule, not a trained model; the outputs say so.

Both cut the main face as the backbone was trained (static_face.py) and follow the static
expert's face-share rule: a window with the face in fewer than `min_face_share` of its
sampled frames is absent, and present ones record `face_share` in their evidence.

The stages: `preprocess` makes the main-face items of the chunk's frames as the static expert
does (`face_items`: each frame once) and plans, per window, the positions of its face frames'
items, its face counts and, for the LSTM, the positions of those on the 0.2 s grid. `forward`
runs the backbone: each item's 512-d features for the LSTM, its 8 BASIC probabilities for apex
pooling. `postprocess` pools each window's probabilities, or runs the LSTM over its sliding
sequences of features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from cer.core.labels import BASIC, basic_index_map
from cer.core.options import DynamicFaceOptions
from cer.core.types import Chunk, ExpertOutput, ExpertStatus, SampledFrame
from cer.modalities.base import Prepared, StagedExpert, to_basic_order
from cer.modalities.face_models import (
    EMOAFFECTNET_LABELS,
    EMOAFFECTNET_SEQUENCE,
    EmoAffectNetLSTM,
    load_state_dict_file,
    weights_file,
)
from cer.modalities.static_face import (
    NO_FACE,
    WindowFaces,
    architecture_for,
    face_items,
    load_face_classifier,
    missing_face,
    window_faces,
)

LSTM_FILE = "FER_dinamic_LSTM_Aff-Wild2.pt"  # the authors' spelling, on the hub and in the tiny model
APEX_METHOD = "apex-weighted pooling rule, not a trained model"
LSTM_FRAME_STEP_S = 0.2  # seconds between the LSTM's input frames in training (faces taken at 5 fps)
LSTM_SEQUENCE_HOP = 5  # frames between the starts of consecutive sequences (sequences.py: step=5)
_NEUTRAL = BASIC.index("Neutral")


def apex_pool(probs: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Pool per-frame BASIC probabilities [n, 8] into one distribution, favouring apex frames.

    A frame's expressiveness is its largest non-neutral probability; the frame weights are a
    softmax of expressiveness / temperature. Returns (pooled [8], weights [n]).
    """
    expressiveness = np.delete(probs, _NEUTRAL, axis=1).max(axis=1)
    logits = expressiveness / temperature
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    return weights @ probs, weights


def on_time_grid(times: Sequence[float], step_s: float = LSTM_FRAME_STEP_S) -> list[int]:
    """Positions (into `times`, ascending) of the frames nearest a grid that starts at the first
    frame and steps by `step_s`; a grid point with no frame within half a step is skipped."""
    if not times:
        return []
    stamps = np.asarray(times)
    targets = stamps[0] + step_s * np.arange(round((stamps[-1] - stamps[0]) / step_s) + 1)
    nearest = np.abs(stamps[:, None] - targets[None, :]).argmin(axis=0)
    close = np.abs(stamps[nearest] - targets) <= step_s / 2
    return sorted(set(nearest[close].tolist()))


def sliding_sequences(
    length: int, size: int = EMOAFFECTNET_SEQUENCE, hop: int = LSTM_SEQUENCE_HOP, trailing: bool = False
) -> list[list[int]]:
    """Index sequences of `size` sliding by `hop` over `length` items until one reaches the end
    (EMO-AffectNetModel's sequences.py), or, with `trailing`, from every `hop`-th item (the 2025
    code, as the review in issue 19 reports it: 4 sequences over 20 frames, the last two padded).
    A short sequence is padded by repeating its last index."""
    starts = [0]
    while starts[-1] + (hop if trailing else size) < length:
        starts.append(starts[-1] + hop)
    return [[min(start + i, length - 1) for i in range(size)] for start in starts]


@dataclass(frozen=True)
class SequenceWindow:
    """A window as the LSTM method's `postprocess` reads it."""

    faces: WindowFaces
    on_grid: tuple[int, ...]  # the item positions of its face frames on the 0.2 s grid, in time order


def on_grid_items(frames: Sequence[SampledFrame], positions: Mapping[int, int]) -> tuple[int, ...]:
    """The item positions (`positions`: by frame index, from `face_items`) of the face frames
    among a window's `frames` that lie on the LSTM's 0.2 s grid, in time order."""
    on_grid = [frames[i] for i in on_time_grid([f.t_s for f in frames])]
    return tuple(positions[f.frame_index] for f in on_grid if f.frame_index in positions)


class DynamicFaceExpert(StagedExpert):
    """Expression dynamics of the main face per window (LSTM, or apex pooling offline)."""

    name = "dynamic_face"
    Options = DynamicFaceOptions
    uses_faces = True
    roles = ("backbone",)
    options: DynamicFaceOptions
    temporal: nn.Module | None = None  # the LSTM, loaded for the lstm method

    def setup(self) -> None:
        self.architecture = architecture_for(self.options)
        if self.options.method == "lstm" and "temporal" not in self.config.models:
            raise ValueError(f"experts.{self.name}.models needs temporal for method lstm; the expert cannot work without")

    def load(self) -> None:
        self.classifier = load_face_classifier(self.architecture, self.model_path("backbone"), self.device)
        if self.options.method == "lstm":
            path = weights_file(self.model_path("temporal"), LSTM_FILE)
            self.temporal = load_state_dict_file(EmoAffectNetLSTM(), path).to(self.device)

    @property
    def model_id(self) -> str:
        backbone = self.config.models["backbone"].source
        if self.options.method == "lstm":
            return f"{backbone} + {self.config.models['temporal'].source}"
        return f"{backbone} (apex pooling)"

    def status(self) -> ExpertStatus:
        note = APEX_METHOD if self.options.method == "apex_pooling" else None
        return replace(super().status(), note=note)

    def preprocess(self, chunk: Chunk) -> Prepared:
        items, positions = face_items(chunk, self.architecture)
        faces = [window_faces(chunk, window, positions) for window in chunk.windows]
        if self.options.method == "lstm":
            on_grid = [on_grid_items(chunk.frames_in(window), positions) for window in chunk.windows]
            return Prepared(items, [SequenceWindow(*pair) for pair in zip(faces, on_grid, strict=True)])
        return Prepared(items, faces)

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.options.method == "lstm":
            return list(self.classifier.features(items))
        return list(self.classifier.probabilities(items))

    def postprocess(self, plan: list[WindowFaces] | list[SequenceWindow], results: list[np.ndarray]) -> list[ExpertOutput]:
        if self.options.method == "lstm":
            return self._lstm_outputs(cast(list[SequenceWindow], plan), results)
        return self._apex_outputs(cast(list[WindowFaces], plan), results)

    def _apex_outputs(self, plan: list[WindowFaces], probs: list[np.ndarray]) -> list[ExpertOutput]:
        outputs = []
        for window in plan:
            reason = missing_face(window.counts, self.options.min_face_share)
            if reason is not None:
                outputs.append(self.absent(window.window_index, reason, **window.counts))
                continue
            pooled, weights = apex_pool(np.stack([probs[i] for i in window.items]), self.options.apex_temperature)
            apex = int(np.argmax(weights))
            evidence = {
                **window.counts,
                "method": APEX_METHOD,
                "apex_frame": window.frame_indices[apex],
                "apex_weight": float(weights[apex]),
            }
            outputs.append(self.present(window.window_index, pooled, **evidence))
        return outputs

    def _lstm_outputs(self, plan: list[SequenceWindow], features: list[np.ndarray]) -> list[ExpertOutput]:
        sequences: list[np.ndarray] = []
        evidence: list[dict[str, int | float]] = []
        for window in plan:
            face_rows = [features[i] for i in window.on_grid]
            windowed = (
                [
                    np.stack([face_rows[i] for i in order])
                    for order in sliding_sequences(len(face_rows), trailing=self.options.trailing_sequences)
                ]
                if face_rows
                else []
            )
            sequences += windowed
            evidence.append({**window.faces.counts, "lstm_frames": len(face_rows), "lstm_sequences": len(windowed)})
        # The LSTM runs here rather than in `forward`: its sequences are made of several items'
        # features, which exist only once `forward` has run on the chunk's items, and it is tiny
        # (two LSTM layers over a few 10 x 512 sequences), so every sequence of the chunk goes
        # through it in one pass without batching across chunks.
        probs = self._run_lstm(sequences)
        outputs, used = [], 0
        for window, counts in zip(plan, evidence, strict=True):
            taken = int(counts["lstm_sequences"])
            # a window may show faces and still give no sequence (no face frame on the 0.2 s grid)
            reason = missing_face(counts, self.options.min_face_share) or (None if taken else NO_FACE)
            index = window.faces.window_index
            if reason is None:
                outputs.append(self.present(index, probs[used : used + taken].mean(axis=0), **counts))
            else:
                outputs.append(self.absent(index, reason, **counts))
            used += taken
        return outputs

    @torch.inference_mode()
    def _run_lstm(self, sequences: list[np.ndarray]) -> np.ndarray:
        assert self.temporal is not None  # loaded by `load` when the method is lstm
        if not sequences:
            return np.zeros((0, len(BASIC)))
        batch = torch.from_numpy(np.stack(sequences)).to(self.device)
        probs = torch.softmax(self.temporal(batch).float(), dim=1).cpu().numpy()
        return to_basic_order(probs, basic_index_map(EMOAFFECTNET_LABELS))


def build_tiny_dynamic_face(target_dir: Path) -> None:
    """A random-weight EmoAffectNet LSTM saved as the hub's state-dict file (seeded)."""
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's random state
        torch.manual_seed(0)
        model = EmoAffectNetLSTM()
    torch.save(model.state_dict(), target_dir / LSTM_FILE)
