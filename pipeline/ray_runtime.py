"""Where Ray comes from (an existing cluster when one is named, else an embedded local
instance), and what every actor of cer needs around it.

Whoever needs Ray enters `ray_session()`; the session that started Ray shuts it down on the
way out, so that `cer` never leaves Ray processes behind. A session opened while Ray is
already up (a test module, a batch driver, a batch worker inside the cluster) borrows it and
leaves it running.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cer.core.config import ConfigError

if TYPE_CHECKING:
    from ray.actor import ActorHandle, ActorProxy

# How long a named cluster's address gets to accept a connection. Ray's own client waits for
# minutes, retrying in silence, when nothing answers at an address (a typo, a firewall).
CONNECT_TIMEOUT_S = 10.0


class RayUnreachable(ConfigError):
    """The Ray cluster named by --ray-address or RAY_ADDRESS does not answer."""


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Ray for the duration of the block: `address`, else $RAY_ADDRESS, else embedded here."""
    # cer must not phone home; Ray reads this when it starts.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    require_token_auth()
    import ray

    if ray.is_initialized():
        yield
        return
    address = named_cluster(address)
    # Either way Ray's own logging is quiet: errors only.
    if address:
        check_reachable(address)
        # A cluster's workers log to its own files; show their output here as `ray job` does.
        ray.init(address=address, logging_level=logging.ERROR, configure_logging=True)
    else:
        # `address="local"`: a new instance of our own, even where another cluster (or the
        # stale marker of one) is on the machine.
        # Workers' stdout (model-loading chatter) stays in Ray's log files; errors reach the
        # caller as exceptions anyway.
        ray.init(
            address="local",
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
    try:
        yield
    finally:
        ray.shutdown()


def named_cluster(address: str | None) -> str | None:
    """The cluster a run is to join: `address`, else $RAY_ADDRESS; None for an embedded Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """RayUnreachable, in one line, when nothing accepts a connection at a cluster's
    `host:port` (or `ray://host:port`) within `timeout_s`. Other forms (`auto`, no port) are
    left to Ray."""
    host, colon, port = address.split("://", 1)[-1].rpartition(":")
    if not colon or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except TimeoutError:
        raise RayUnreachable(
            f"the Ray cluster at {address} did not answer within {timeout_s:g} s (is the address right, the cluster up?)"
        ) from None
    except OSError as exc:
        raise RayUnreachable(f"the Ray cluster at {address} cannot be reached: {exc.strerror or exc}") from None


def ray_answers(timeout_s: float = 10.0) -> bool:
    """Whether this process's Ray still works: an object stored and read back within
    `timeout_s`. With its raylet gone, Ray's calls fail or block; the probe runs in a thread of
    its own so that a blocked one cannot hold the caller."""
    import ray

    answered = threading.Event()

    def probe() -> None:
        try:
            ray.get(ray.put(b""), timeout=timeout_s)
        except Exception:  # noqa: BLE001 - any failure means the same: Ray does not answer
            return
        answered.set()

    threading.Thread(target=probe, name="cer-ray-probe", daemon=True).start()
    return answered.wait(timeout_s)


def require_token_auth() -> None:
    """Ray's processes listen on every network interface whatever address is asked for, and
    whoever reaches them can run code; with token authentication they answer only those who
    hold the cluster's token (Ray makes one for a local instance). Ray reads the mode when it
    is imported, so this is set before that (`cer` does it first thing); a process that imported
    Ray already keeps Ray's own default, which is token for local instances from Ray 2.59."""
    if "ray" not in sys.modules:
        os.environ["RAY_AUTH_MODE"] = "token"


def cluster_resources() -> dict[str, float]:
    """The cluster's total CPUs and GPUs (0 where it has none)."""
    import ray

    total = ray.cluster_resources()
    return {"CPU": float(total.get("CPU", 0.0)), "GPU": float(total.get("GPU", 0.0))}


T = TypeVar("T")


class Built(Generic[T]):
    """What an actor built in its constructor, or the error that stopped it.

    Ray turns an exception in an actor's `__init__` into an ActorDiedError that has lost the
    original type; keeping the error and raising it from a method call instead lets a missing
    model reach the user as it does in process (one line, exit code 2).
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._error: Exception | None = None
        try:
            self._value = build()  # set only when the build succeeds; `get` raises first otherwise
        except Exception as exc:  # noqa: BLE001 - raised again by `get`, in the caller's process
            self._error = exc

    def get(self) -> T:
        if self._error is not None:
            raise self._error
        return self._value


def actor_handle(proxy: ActorProxy[T]) -> ActorHandle[T]:
    """The handle that `ActorClass.remote()` made. Ray types the result as `ActorHandle[T] |
    type[T]`, so that checkers see T's methods; at run time it is always a handle, never the
    class. (Not checked with isinstance(ActorHandle): Ray Client's handles are another class.)"""
    if isinstance(proxy, type):
        raise TypeError(f"expected a Ray actor handle, got the class {proxy!r}")
    return proxy


def error_line(error: BaseException) -> str:
    """Ray's error messages run to many lines; the first says what happened."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def get_raising_cause(refs: list[Any]) -> list[Any]:
    """`ray.get`, but an exception raised by the remote code comes out as itself, not wrapped."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        return ray.get(refs)
    except RayTaskError as exc:
        raise exc.cause from None
