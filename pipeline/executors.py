"""Which executor runs a profile's experts: in this process or as Ray actors (the `engine`,
`auto` resolved from the work), behind the expert-output cache when the profile enables it.

Kept apart from `cer.pipeline.execution` (the executors' common interface and the in-process
one) so that the cache and the Ray executor, which build on that interface, are only imported
from here, and no import cycle forms.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cer.core.config import Engine, ExecutionConfig, ExpertConfig, Profile
from cer.pipeline.execution import ExpertExecutor, InProcessExecutor
from cer.pipeline.expert_cache import cached_executor

if TYPE_CHECKING:
    from cer.pipeline.ray_executor import PoolAddress


def make_executor(profile: Profile) -> ExpertExecutor:
    """The executor for the profile's enabled experts; behind the expert-output cache when the
    profile enables it, and then an expert is built only once some output is not cached."""
    return cached_executor(profile, lambda experts: start_executor(profile, experts))


def attached_executor(profile: Profile, pool: PoolAddress) -> ExpertExecutor:
    """An executor on the actors of a pool started elsewhere and shared (by a batch's video
    workers, by the service's workers); behind the expert-output cache when the profile enables
    it, and then only the experts it misses are asked."""
    from cer.pipeline.ray_executor import RayExecutor  # deferred: importing Ray takes a second

    return cached_executor(profile, lambda experts: RayExecutor.attach(pool.only(experts), experts, profile.expert_context))


# Seconds of video above which Ray pays for its start-up in `auto`. Measured on a 2-core machine
# (offline profile, a clip with a face and speech most of the time, bench/run_profile.py
# --talking): 60 s took 28.3 s in process and 31.9 s on Ray, 180 s took 58.8 s and 53.2 s. Ray
# starts in 15-17 s (while the first chunks decode), then runs 1.5x faster (5.6-6.6x real time
# against 3.8-3.9x), so it wins past about two minutes; machines with more cores win sooner. On a
# video without speech (face_noface.mov looped, 61 s) the two run alike once started (11.2x in
# process, 10.1x on Ray): Ray pays where several experts have much to do at once.
LONG_VIDEO_S = 120.0


def choose_engine(execution: ExecutionConfig, video_s: float | None = None, many_videos: bool = False) -> Engine:
    """The engine for the work: the profile's, unless it says `auto`. Then Ray for many videos
    (batches, the service, evaluations), long videos, a GPU (several experts share it at once) or
    a cluster to use; in process for one short video on a CPU machine, where starting Ray would
    cost more than it saves."""
    if execution.engine != "auto":
        return execution.engine
    if many_videos or execution.ray_address or os.environ.get("RAY_ADDRESS"):
        return "ray"
    if video_s is not None and video_s > LONG_VIDEO_S:
        return "ray"
    import torch  # deferred: the experts import it anyway

    return "ray" if torch.cuda.is_available() else "inprocess"


def with_engine(profile: Profile, engine: Engine) -> Profile:
    """`profile` with its execution engine set (an `auto` resolved for the work at hand)."""
    return profile.model_copy(update={"execution": profile.execution.model_copy(update={"engine": engine})})


def start_executor(profile: Profile, experts: Mapping[str, ExpertConfig]) -> ExpertExecutor:
    """The executor `profile.execution.engine` names (`auto` resolved here), with `experts` built."""
    if choose_engine(profile.execution) == "inprocess":
        execution = profile.execution
        return InProcessExecutor(experts, profile.expert_context, execution.concurrent_experts, lead=execution.lead_experts)
    from cer.pipeline.ray_executor import RayExecutor  # deferred: importing Ray takes a second

    return RayExecutor.start(experts, profile.expert_context, profile.execution)
