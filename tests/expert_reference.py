"""Every expert's probabilities on the shared media and the demo clip, chunk by chunk, for the
tiny and offline profiles: the reference the staged experts are held to
(tests/test_staged_experts.py).

`python -m tests.expert_reference` writes tests/data/expert_reference.json. It was written
once, by the experts as they were before they were split into preprocess / forward /
postprocess stages (commit ca15abb), and must not be rewritten to make a test pass. One entry
was rewritten since, because its model changed: the tiny profile's audio expert, when its
miniature took the published speech-emotion layout (`python -m tests.expert_reference tiny audio`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cer.core.chunks import tracked_chunks
from cer.core.config import Profile, load_profile
from cer.core.types import Chunk, ExpertOutput

REFERENCE = Path(__file__).parent / "data" / "expert_reference.json"
SHARED_VIDEOS = ("single_face.mp4", "face_noface.mov", "no_face.mp4")
DEMO_VIDEO = "demo.mp4"  # built by cer.pipeline.demo: the packaged face and speech
PROFILES = ("tiny", "offline")

# Per window: the 8 probabilities, or the reason the expert was absent
Answer = list[float] | str


def reference_profile(name: str) -> Profile:
    """The profile on the CPU, without the expert-output cache, one window per chunk (so that every video gives several)."""
    return load_profile(name, {"cache": {"enabled": False}, "media": {"chunk_windows": 1}, "execution": {"engine": "inprocess"}})


def answers(outputs: list[ExpertOutput]) -> list[Answer]:
    return [output.probs if output.probs is not None else str(output.reason) for output in outputs]


Predict = Callable[[Chunk], list[ExpertOutput]]


def collect(experts: Mapping[str, Predict], profile: Profile, videos: Mapping[str, Path]) -> dict[str, dict[str, list[Answer]]]:
    """expert -> video -> one answer per window, over every chunk of each video."""
    table: dict[str, dict[str, list[Answer]]] = {name: {} for name in experts}
    for video_name, path in videos.items():
        chunks = list(tracked_chunks(path, profile))
        for name, predict in experts.items():
            table[name][video_name] = [answer for chunk in chunks for answer in answers(predict(chunk))]
    return table


def reference_videos(shared: Path, scratch: Path) -> dict[str, Path]:
    from cer.pipeline.demo import build_demo_clip

    videos = {name: shared / name for name in SHARED_VIDEOS}
    videos[DEMO_VIDEO] = build_demo_clip(scratch / DEMO_VIDEO, duration_s=5.0, face_until_s=3.0)
    return videos


def main(argv: list[str]) -> None:
    """No arguments: write the whole reference. `PROFILE EXPERT...`: rewrite only those entries,
    for a model that changed (not for code that changed)."""
    import tempfile

    from cer.modalities.factory import build_expert

    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    document: dict[str, dict] = json.loads(REFERENCE.read_text()) if argv else {}
    only = set(argv[1:])
    with tempfile.TemporaryDirectory() as scratch:
        videos = reference_videos(shared, Path(scratch))
        for profile_name in argv[:1] or PROFILES:
            profile = reference_profile(profile_name)
            configs = {name: cfg for name, cfg in profile.enabled_experts().items() if not only or name in only}
            experts = {name: build_expert(name, cfg, profile.expert_context).predict for name, cfg in configs.items()}
            document.setdefault(profile_name, {}).update(collect(experts, profile, videos))
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(document, indent=0) + "\n")
    print(f"wrote {REFERENCE}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
