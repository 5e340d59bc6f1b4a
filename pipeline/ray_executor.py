"""Experts as Ray actors: each loads its model once, in its own process, and all of them work
on a chunk at the same time.

A chunk goes into the object store once (`ray.put`) and every actor that preprocesses for
itself reads that one copy. An actor that holds a GPU does only forward passes: the caller
(the `cer run` driver, a batch video worker) preprocesses the chunk for it, where the chunk
is, and sends the items. Each actor serves many callers at once (threads) and runs the items
that reach it together through an `ItemBatcher`, so the chunks of several videos share its
batches.
Ray restarts a crashed actor and resends the chunk it was working on. An actor that keeps
crashing is given up by Ray; a run that needs it then stops with an `EngineFault` (never a
result with that expert's windows absent), and whoever owns the pool starts the dead actors
again under their names (`ExpertPool.revive`) before the video runs again. Every executor on
the pool finds the new actors by name after a fault.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayError

from cer.core.config import ConfigError, ExecutionConfig, ExpertConfig, ExpertContext
from cer.core.devices import cuda_index
from cer.core.engine import EngineFault
from cer.core.progress import loading_experts
from cer.core.types import Chunk, ExpertOutput, ExpertStatus
from cer.modalities.base import Prepared, StagedExpert
from cer.modalities.factory import build_preprocessor
from cer.pipeline.batching import ItemBatcher
from cer.pipeline.execution import ExpertExecutor, ServedExpert, prepare_chunk
from cer.pipeline.ray_runtime import Built, actor_handle, cluster_resources, error_line, get_raising_cause, ray_session

# Calls an actor serves at once (threads): the chunks in flight of every video worker of a pool
ACTOR_CONCURRENCY = 32
# How long a live actor takes at most to say its status (it answers from a thread of its own,
# even while its model works); one that does not answer in time is taken for dead.
STATUS_TIMEOUT_S = 30.0
# How long an actor started again gets to load its model before the restart counts as failed.
REVIVE_TIMEOUT_S = 300.0


T = TypeVar("T")


class _ExpertActor:
    """The body of one expert's actor: the expert is built once, when the actor starts."""

    def __init__(self, name: str, config: ExpertConfig, context: ExpertContext, batch_wait_s: float) -> None:
        self.served = Built(lambda: ServedExpert(name, config, context))
        # a staged expert's batcher, built with it (an expert that failed to build fails here too)
        self.batcher = Built(lambda: _batcher(self.served.get(), batch_wait_s))
        self._one_at_a_time = threading.Lock()  # preprocessing, and experts that are not staged

    def status(self) -> ExpertStatus:
        return self.served.get().status()

    def batch_counts(self) -> tuple[int, int]:
        return self.served.get().batch_counts()

    def predict(self, chunk: Chunk) -> tuple[list[ExpertOutput], float]:
        """Preprocess here, then answer in a shared batch (an expert that is not staged: whole).
        One chunk at a time: an expert's preprocessing keeps state (the voice-activity model's)
        that concurrent calls would corrupt."""
        served = self.served.get()
        with self._one_at_a_time:
            if served.staged is None:
                return served.predict(chunk)
            prepared, seconds = prepare_chunk(served.staged, chunk)
        if not isinstance(prepared, Prepared):
            return prepared, seconds
        outputs, forward_seconds = self.answer(prepared)
        return outputs, seconds + forward_seconds

    def answer(self, parcel: Prepared) -> tuple[list[ExpertOutput], float]:
        """The outputs of a chunk preprocessed by the caller, computed in a shared batch."""
        served, batcher = self.served.get(), self.batcher.get()
        assert batcher is not None, f"expert {served.name} is not staged"
        [outputs], seconds = served.answer([parcel], batcher.answer)
        return outputs, seconds


def _batcher(served: ServedExpert, wait_s: float) -> ItemBatcher | None:
    return ItemBatcher(served.staged, wait_s) if served.staged is not None else None


def actor_resources(experts: Mapping[str, ExpertConfig], cluster: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Each expert's Ray resources. GPUs only where the cluster has some and the expert may use one.

    Ray chooses each actor's GPU and shows it the one it chose alone (as cuda:0), so an expert
    pinned to `cuda:N` is refused here rather than failing, or landing elsewhere, in its actor."""
    if pinned := [f"{name} ({cfg.device})" for name, cfg in experts.items() if cuda_index(cfg.device) is not None]:
        raise ConfigError(
            f"the Ray engine chooses each expert's GPU itself, so {', '.join(pinned)} cannot be honoured: "
            "use --device cuda, or CUDA_VISIBLE_DEVICES to pick the GPUs, or --engine inprocess"
        )
    return {
        name: {"num_cpus": cfg.num_cpus, "num_gpus": cfg.num_gpus if cluster["GPU"] > 0 and cfg.device != "cpu" else 0.0}
        for name, cfg in experts.items()
    }


def pool_demand(resources: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """What one pool of these actors holds, in all."""
    return {"CPU": sum(r["num_cpus"] for r in resources.values()), "GPU": sum(r["num_gpus"] for r in resources.values())}


def pools_that_fit(demand: Mapping[str, float], cluster: Mapping[str, float], wanted: int) -> int:
    """How many of `wanted` pools the cluster holds at once (0 when not even one fits)."""
    return min([wanted] + [int(cluster[kind] // amount) for kind, amount in demand.items() if amount > 0])


@dataclass(frozen=True)
class PoolAddress:
    """How another Ray worker finds a pool: by its actors' names. Handles passed as an actor's
    arguments would go through the object store, where Ray cannot promise them to a restart."""

    names: dict[str, str]  # expert -> actor name
    statuses: dict[str, ExpertStatus]
    on_gpu: frozenset[str] = frozenset()  # experts whose actor holds a GPU: their callers preprocess

    def only(self, experts: Iterable[str]) -> PoolAddress:
        """The address of some of the pool's actors (the expert-output cache runs only the experts it misses)."""
        wanted = list(experts)
        return PoolAddress({e: self.names[e] for e in wanted}, {e: self.statuses[e] for e in wanted}, self.on_gpu & set(wanted))


@dataclass(frozen=True)
class _Recipe:
    """What a pool's actors were started with, to start one again."""

    experts: dict[str, ExpertConfig]
    context: ExpertContext
    execution: ExecutionConfig
    resources: dict[str, dict[str, float]]

    def start(self, expert: str, name: str) -> ActorHandle:
        restarts = {"max_restarts": self.execution.max_restarts, "max_task_retries": self.execution.max_task_retries}
        options = {"name": name, "max_concurrency": ACTOR_CONCURRENCY, **self.resources[expert], **restarts}
        return actor_handle(
            ray.remote(_ExpertActor).options(**options).remote(expert, self.experts[expert], self.context, self.execution.batch_wait_s)
        )


@dataclass
class ExpertPool:
    """One named actor per expert; several executors (a batch's video workers) may share them."""

    actors: dict[str, ActorHandle]
    names: dict[str, str]
    statuses: dict[str, ExpertStatus]  # as each actor reported when ready
    on_gpu: frozenset[str] = frozenset()
    recipe: _Recipe | None = None  # how the actors were started; only the pool's owner can revive them

    @property
    def address(self) -> PoolAddress:
        return PoolAddress(self.names, self.statuses, self.on_gpu)

    @classmethod
    def attach(cls, address: PoolAddress) -> ExpertPool:
        """The pool another process started, found by its actors' names (EngineFault when one is dead)."""
        pool = cls({}, dict(address.names), dict(address.statuses), address.on_gpu)
        pool.refresh()
        return pool

    @classmethod
    def launch(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> ExpertPool:
        """Start the actors; their models load in the background until `wait_ready`."""
        cluster = cluster_resources()
        resources = actor_resources(experts, cluster)
        if pools_that_fit(pool_demand(resources), cluster, 1) == 0:
            raise ConfigError(
                f"the experts ask for {pool_demand(resources)} but the Ray cluster has {cluster}; lower experts.*.num_cpus / num_gpus"
            )
        recipe = _Recipe(dict(experts), context, execution, resources)
        names = {expert: f"cer-{expert}-{uuid.uuid4().hex[:12]}" for expert in experts}
        actors = {expert: recipe.start(expert, names[expert]) for expert in experts}
        on_gpu = frozenset(expert for expert, held in resources.items() if held["num_gpus"] > 0)
        return cls(actors, names, {}, on_gpu, recipe)

    def wait_ready(self, experts: Iterable[str] | None = None, timeout_s: float | None = None) -> None:
        """Wait until every model (or those of `experts`) is loaded, `timeout_s` at most (an
        EngineFault after it); a model that fails to load raises its own error here. Either
        way the pool is killed."""
        waited = list(self.actors if experts is None else experts)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        # Ray types a handle's method attributes as Never, so the calls' type is spelled out here.
        calls: dict[ray.ObjectRef[ExpertStatus], str] = {self.actors[name].status.remote(): name for name in waited}
        try:
            with loading_experts(len(calls)) as bar:
                waiting = list(calls)
                while waiting:  # in the order the models finish loading, to show each as it does
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    ready, waiting = ray.wait(waiting, num_returns=1, timeout=left)
                    if not ready:
                        raise EngineFault(calls[waiting[0]], f"its model was not loaded within {timeout_s:g} s")
                    self.statuses[calls[ready[0]]] = get_raising_cause(ready)[0]
                    bar.set_postfix_str(f"{calls[ready[0]]} ready", refresh=False)
                    bar.update()
        except BaseException:
            self.kill()
            raise
        self.statuses = {name: self.statuses[name] for name in self.actors}

    def dead(self) -> dict[str, str]:
        """The experts whose actor does not answer within STATUS_TIMEOUT_S (Ray gave it up, or
        Ray is gone), and why."""
        # Ray types a handle's method attributes as Never, so the calls' type is spelled out here.
        calls: dict[str, ray.ObjectRef[ExpertStatus]] = {name: actor.status.remote() for name, actor in self.actors.items()}
        answered, _ = ray.wait(list(calls.values()), num_returns=len(calls), timeout=STATUS_TIMEOUT_S)
        dead = {}
        for name, call in calls.items():
            if call not in answered:
                dead[name] = f"no answer within {STATUS_TIMEOUT_S:g} s"
                continue
            try:
                ray.get(call)
            except RayError as exc:
                dead[name] = error_line(exc)
        return dead

    def revive(self, timeout_s: float = REVIVE_TIMEOUT_S) -> list[str]:
        """Start every dead actor again, under its name, and wait for its model (`timeout_s` at
        most); returns the experts revived. Executors attached to the pool find the new actors
        by name."""
        if self.recipe is None:
            raise RuntimeError("only the process that started an expert pool can revive it")
        dead = list(self.dead())
        for name in dead:
            ray.kill(self.actors[name], no_restart=True)  # frees the name (a hung actor is not dead yet)
            self.actors[name] = self.recipe.start(name, self.names[name])
        if dead:
            self.wait_ready(dead, timeout_s)
        return dead

    def refresh(self) -> None:
        """Find the actors by name again: after a fault some may have been started anew. The
        owner's own handles are kept (`revive` renews them): a handle found by name does not
        keep an actor alive, and the actor would end with the last handle of its starter."""
        if self.recipe is not None:
            return
        actors = {}
        for expert, name in self.names.items():
            try:
                actors[expert] = ray.get_actor(name)
            except (ValueError, RayError) as exc:  # ValueError: no actor by that name (dead, not started again yet)
                raise EngineFault(expert, f"its actor {name} is gone") from exc
        self.actors = actors

    @classmethod
    def start(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> ExpertPool:
        pool = cls.launch(experts, context, execution)
        pool.wait_ready()
        return pool

    def batch_counts(self) -> dict[str, tuple[int, int]]:
        """Per expert: (forward calls, items they read) so far, over every caller of the pool."""
        calls: dict[str, ray.ObjectRef[tuple[int, int]]] = {name: actor.batch_counts.remote() for name, actor in self.actors.items()}
        return {name: ray.get(call) for name, call in calls.items()}

    def kill(self) -> None:
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)


def caller_preprocessors(pool: ExpertPool, experts: Mapping[str, ExpertConfig], context: ExpertContext) -> dict[str, StagedExpert]:
    """Model-less copies of the pool's GPU experts, to preprocess chunks where they are."""
    built = {name: build_preprocessor(name, experts[name], context) for name in pool.on_gpu}
    return {name: preprocessor for name, preprocessor in built.items() if preprocessor is not None}


class RayExecutor(ExpertExecutor):
    """Sends each chunk to every actor of a pool at once; statuses come from the actors.
    `preprocessors` preprocess for the experts they name, here; the other actors get the chunk."""

    def __init__(self, pool: ExpertPool, preprocessors: Mapping[str, StagedExpert], on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.preprocessors = dict(preprocessors)
        self.seconds = dict.fromkeys(pool.actors, 0.0)
        self._on_close = on_close
        self._faulted = False  # an actor failed: look the actors up again before the next chunk

    @classmethod
    def attach(cls, address: PoolAddress, experts: Mapping[str, ExpertConfig], context: ExpertContext) -> RayExecutor:
        """An executor on a pool another process started (a batch's video worker)."""
        pool = ExpertPool.attach(address)
        return cls(pool, caller_preprocessors(pool, experts, context))

    @classmethod
    def start(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> RayExecutor:
        """A pool of its own, in a Ray session of its own unless Ray is already up; `close` ends both."""
        owned = ExitStack()
        owned.enter_context(ray_session(execution.ray_address))
        try:
            pool = ExpertPool.start(experts, context, execution)
            owned.callback(pool.kill)  # runs before the session ends (last in, first out)
            return cls(pool, caller_preprocessors(pool, experts, context), owned.close)
        except BaseException:
            owned.close()
            raise

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        # Ray types a handle's method attributes as Never, so the calls' type is spelled out here.
        calls: dict[str, ray.ObjectRef[ExpertStatus]] = {name: actor.status.remote() for name, actor in self.pool.actors.items()}
        return {name: self._answer(name, call) for name, call in calls.items()}

    def batch_counts(self) -> dict[str, tuple[int, int]]:
        return self.pool.batch_counts()

    def submit(self, chunk: Chunk) -> tuple[Chunk, dict[str, Any]]:
        if self._faulted:  # some actors may have been started anew since: find them by name
            self.pool.refresh()
            self._faulted = False
        # First the actors that preprocess for themselves, so that they start while this process
        # preprocesses for the others; they read one copy of the chunk in the object store.
        wanted = [name for name in self.pool.actors if chunk.wants(name)]
        for_themselves = [name for name in wanted if name not in self.preprocessors]
        try:
            shared = ray.put(chunk) if for_themselves else None
        except RayError as exc:  # the object store is gone with Ray
            raise self._fault("object store", exc) from exc
        calls: dict[str, Any] = {name: self.pool.actors[name].predict.remote(shared) for name in for_themselves}
        for name, preprocessor in self.preprocessors.items():
            if not chunk.wants(name):
                continue
            prepared, seconds = prepare_chunk(preprocessor, chunk)
            self.seconds[name] += seconds
            calls[name] = self.pool.actors[name].answer.remote(prepared) if isinstance(prepared, Prepared) else prepared
        return chunk, {name: calls[name] for name in wanted}  # in pool order, the order of the outputs

    def collect(self, handle: tuple[Chunk, dict[str, Any]]) -> dict[str, list[ExpertOutput]]:
        _, calls = handle
        answers = {}
        for name, call in calls.items():
            if isinstance(call, list):  # the chunk could not be preprocessed: its failed outputs
                answers[name] = call
                continue
            answers[name], seconds = self._answer(name, call)
            self.seconds[name] += seconds
        return answers

    def _answer(self, expert: str, call: ray.ObjectRef[T]) -> T:
        """What an actor answered; an EngineFault when it died (its restarts and retries used up)."""
        try:
            return ray.get(call)
        except RayError as exc:
            raise self._fault(expert, exc) from exc

    def _fault(self, expert: str, error: RayError) -> EngineFault:
        self._faulted = True
        return EngineFault(expert, error_line(error))

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
