"""Experts as Ray actors: each loads its model once, in its own process, and all of them work
on a chunk at the same time.

A chunk goes into the object store once (`ray.put`) and every actor reads that one copy.
Ray restarts a crashed actor and resends the chunk it was working on; an actor that keeps
crashing is given up, and from then on its windows are absent with the error as the reason
and its status says that it died.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayError

from cer.modalities.registry import expert_target, register
from cer.pipeline.config import ConfigError, ExecutionConfig, ExpertConfig, ExpertContext
from cer.pipeline.execution import ExpertExecutor, ServedExpert, failed_outputs
from cer.pipeline.progress import loading_experts
from cer.pipeline.ray_runtime import Built, actor_handle, cluster_resources, error_line, get_raising_cause, ray_session
from cer.pipeline.types import Chunk, ExpertOutput, ExpertStatus


class ExpertActorDied(RuntimeError):
    """An expert's actor died and Ray no longer restarts it (its restarts are used up)."""


class _ExpertActor:
    """The body of one expert's actor: the expert is built once, when the actor starts."""

    def __init__(self, name: str, target: str, config: ExpertConfig, context: ExpertContext) -> None:
        register(name, target)  # the driver's registry, with experts registered at run time (tests)
        self.served = Built(lambda: ServedExpert(name, config, context))

    def status(self) -> ExpertStatus:
        return self.served.get().status()

    def predict(self, chunk: Chunk) -> tuple[list[ExpertOutput], float]:
        return self.served.get().predict(chunk)


def actor_resources(experts: Mapping[str, ExpertConfig], cluster: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Each expert's Ray resources. GPUs only where the cluster has some and the expert may use one."""
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

    def only(self, experts: Iterable[str]) -> PoolAddress:
        """The address of some of the pool's actors (the expert-output cache runs only the experts it misses)."""
        return PoolAddress({e: self.names[e] for e in experts}, {e: self.statuses[e] for e in experts})


@dataclass
class ExpertPool:
    """One named actor per expert; several executors (a batch's video workers) may share them."""

    actors: dict[str, ActorHandle]
    names: dict[str, str]
    statuses: dict[str, ExpertStatus]  # as each actor reported when ready; kept for when one dies

    @property
    def address(self) -> PoolAddress:
        return PoolAddress(self.names, self.statuses)

    @classmethod
    def attach(cls, address: PoolAddress) -> ExpertPool:
        actors = {expert: ray.get_actor(name) for expert, name in address.names.items()}
        return cls(actors, dict(address.names), dict(address.statuses))

    @classmethod
    def launch(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> ExpertPool:
        """Start the actors; their models load in the background until `wait_ready`."""
        cluster = cluster_resources()
        resources = actor_resources(experts, cluster)
        if pools_that_fit(pool_demand(resources), cluster, 1) == 0:
            raise ConfigError(
                f"the experts ask for {pool_demand(resources)} but the Ray cluster has {cluster}; lower experts.*.num_cpus / num_gpus"
            )
        actor_class = ray.remote(_ExpertActor)
        restarts = {"max_restarts": execution.max_restarts, "max_task_retries": execution.max_task_retries}
        names = {expert: f"cer-{expert}-{uuid.uuid4().hex[:12]}" for expert in experts}
        actors = {
            expert: actor_handle(
                actor_class.options(name=names[expert], **resources[expert], **restarts).remote(expert, expert_target(expert), cfg, context)
            )
            for expert, cfg in experts.items()
        }
        return cls(actors, names, {})

    def wait_ready(self) -> None:
        """Wait until every model is loaded; a model that fails to load raises its own error
        here (and the pool is killed)."""
        # Ray types a handle's method attributes as Never, so the calls' type is spelled out here.
        calls: dict[ray.ObjectRef[ExpertStatus], str] = {actor.status.remote(): name for name, actor in self.actors.items()}
        statuses: dict[str, ExpertStatus] = {}
        try:
            with loading_experts(len(calls)) as bar:
                waiting = list(calls)
                while waiting:  # in the order the models finish loading, to show each as it does
                    ready, waiting = ray.wait(waiting, num_returns=1)
                    statuses[calls[ready[0]]] = get_raising_cause(ready)[0]
                    bar.set_postfix_str(f"{calls[ready[0]]} ready", refresh=False)
                    bar.update()
        except BaseException:
            self.kill()
            raise
        self.statuses = {name: statuses[name] for name in self.actors}

    @classmethod
    def start(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> ExpertPool:
        pool = cls.launch(experts, context, execution)
        pool.wait_ready()
        return pool

    def kill(self) -> None:
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)


def _died(error: RayError) -> ExpertActorDied:
    return ExpertActorDied(error_line(error))


class RayExecutor(ExpertExecutor):
    """Sends each chunk to every actor of a pool at once; statuses come from the actors."""

    def __init__(self, pool: ExpertPool, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.seconds = dict.fromkeys(pool.actors, 0.0)
        self._on_close = on_close

    @classmethod
    def start(cls, experts: Mapping[str, ExpertConfig], context: ExpertContext, execution: ExecutionConfig) -> RayExecutor:
        """A pool of its own, in a Ray session of its own unless Ray is already up; `close` ends both."""
        owned = ExitStack()
        owned.enter_context(ray_session(execution.ray_address))
        try:
            pool = ExpertPool.start(experts, context, execution)
        except BaseException:
            owned.close()
            raise
        owned.callback(pool.kill)  # runs before the session ends (last in, first out)
        return cls(pool, owned.close)

    @property
    def statuses(self) -> dict[str, ExpertStatus]:
        # Ray types a handle's method attributes as Never, so the calls' type is spelled out here.
        calls: dict[str, ray.ObjectRef[ExpertStatus]] = {name: actor.status.remote() for name, actor in self.pool.actors.items()}
        statuses: dict[str, ExpertStatus] = {}
        for name, call in calls.items():
            try:
                statuses[name] = ray.get(call)
            except RayError as exc:
                known = self.pool.statuses[name]
                statuses[name] = ExpertStatus(name, "unavailable", known.model_id, reason=f"its Ray actor died: {error_line(exc)}")
        return statuses

    def submit(self, chunk: Chunk) -> tuple[Chunk, dict[str, Any]]:
        shared = ray.put(chunk)  # one copy in the object store, read by every actor
        return chunk, {name: actor.predict.remote(shared) for name, actor in self.pool.actors.items()}

    def collect(self, handle: tuple[Chunk, dict[str, Any]]) -> dict[str, list[ExpertOutput]]:
        chunk, calls = handle
        answers = {}
        for name, call in calls.items():
            try:
                answers[name], seconds = ray.get(call)
            except RayError as exc:  # the actor died, restarts and retries used up
                answers[name], seconds = failed_outputs(chunk, self.pool.statuses[name].model_id, _died(exc)), 0.0
            self.seconds[name] += seconds
        return answers

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
