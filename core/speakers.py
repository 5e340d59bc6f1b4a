"""Who speaks in a window: the voice and the words go to the person whose mouth moves while
there is speech.

Method (no model of its own; it reads what the run already computed): the audio expert's
voice-activity spans say when someone speaks; each person's mouth motion (cer.core.persons)
says how much their mouth region changed from one sampled frame to the next. A person's
score is their mean mouth motion over the window's sampled frames that fall in speech, and
their share is that score over the sum of all scored persons'. The person with the largest
share speaks when it leads the next share by at least `speaker_min_confidence` (that lead is
the confidence); otherwise the speaker is unclear and the voice goes to no one. With a single
person in view the voice is theirs, as in the whole-video view (a voice-over is then
misattributed: mouth motion alone cannot tell it from a silent listener without a second
person to compare with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cer.core.types import SampledFrame

SpeechSpan = tuple[float, float]  # (start, end) seconds on the video's clock

NO_SPEECH = "no speech"
NO_VOICE_ACTIVITY = "no voice activity: the audio expert did not report it"
ONLY_PERSON = "the only person in view"
MOUTH_MOTION = "mouth motion during speech"
UNCLEAR = "speaker unclear"
NO_ONE_IN_VIEW = "no person in view"


@dataclass(frozen=True)
class VoiceVerdict:
    """Whose voice a window's speech is."""

    speaker: int | None  # the person id; None: no one
    confidence: float | None  # the lead of the speaker's share over the next (None: not measured)
    basis: str  # how it was decided (one of the constants above)
    shares: dict[int, float] = field(default_factory=dict)  # per person in view, their share of the mouth motion during speech


def attribute_voice(
    frames: Sequence[SampledFrame], persons: Sequence[int], speech: Sequence[SpeechSpan] | None, min_confidence: float
) -> VoiceVerdict:
    """The speaker among `persons` (those scored in the window) on the window's sampled
    `frames`, given its speech spans (None when no voice activity was measured)."""
    if speech is None:
        return VoiceVerdict(None, None, NO_VOICE_ACTIVITY)
    if not speech:
        return VoiceVerdict(None, None, NO_SPEECH)
    if not persons:
        return VoiceVerdict(None, None, NO_ONE_IN_VIEW)
    voiced = [frame for frame in frames if any(start <= frame.t_s < end for start, end in speech)]
    scores = {person: _mean_motion(voiced, person) for person in persons}
    total = sum(scores.values())
    shares = {person: score / total if total > 0 else 0.0 for person, score in scores.items()}
    if len(persons) == 1:
        return VoiceVerdict(persons[0], None, ONLY_PERSON, shares)
    ranked = sorted(shares, key=lambda person: (-shares[person], person))
    lead = shares[ranked[0]] - shares[ranked[1]]
    if total > 0 and lead >= min_confidence:
        return VoiceVerdict(ranked[0], round(lead, 3), MOUTH_MOTION, shares)
    return VoiceVerdict(None, round(lead, 3), UNCLEAR, shares)


def _mean_motion(frames: Sequence[SampledFrame], person: int) -> float:
    """The person's mean mouth motion over `frames` (0 when not seen moving on any of them)."""
    motions = [box.mouth_motion for frame in frames for box in frame.faces if box.person == person and box.mouth_motion is not None]
    return float(np.mean(motions)) if motions else 0.0
