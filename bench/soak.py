"""A soak of the HTTP service: does every accepted job end, and end whole, while clients misbehave
and the experts' engine is killed under it?

    .venv/bin/python -m bench.soak [--profile tiny] [--minutes 3] [--clients 6] [--drain-minutes 3] [--seed 0] [--data-dir DIR]

A `cer serve` child process (loopback only; 2 workers, a queue of 8, uploads dropped after 5 s of
silence) runs the profile with the experts in Ray actors and the expert-output cache off, so that
every job computes and a killed actor hits a real run. This script is its supervisor: when the
server exits (it does when Ray's raylet dies) it is started again on the same data folder and
port, as systemd would, and the restart is counted.

CLIENTS threads then loop for MINUTES over a seeded random mix of requests: good uploads (small
real clips, with and without a face), slow uploads (the body in small pieces, finishing), uploads
cut off half-way (a raw socket closed early), bad files (random bytes, a truncated mp4, text) and
wrong requests. Every answer is counted by its status and error code; 429, 503 and 507 are the
server refusing work, which it may, not failures. At a third of the run the oldest expert actor
process is killed (SIGKILL), then its restarted process again and again until Ray's max_restarts
is spent; at two thirds the raylet is killed.

Then nothing more is sent and every accepted job (202) is followed for up to DRAIN_MINUTES until it
is done or failed. A job is lost if it never ends (or disappears), half-done if it is done but its
result.json has an expert whose status is not "ok". The server is stopped with SIGTERM and every
process its trees ever had must be gone. Prints a report; exits 1 if any job was lost or half-done.
Memory is the server's whole process tree sampled every second (shared pages once per process: an
upper bound); disk is the data folder's allocated blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.proctree import descendants, tree_rss_mb
from cer.core.config import load_profile
from cer.pipeline.demo import build_demo_clip, demo_photo, write_clip
from cer.serving.client import FINISHED, free_port

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERVER_ENV = {"CER_CONCURRENCY": "2", "CER_UPLOAD_TIMEOUT_S": "5", "CER_MAX_QUEUE": "8"}
REFUSALS = (429, 503, 507)  # the server declining work for now: counted, not failures
SAMPLE_S = 1.0
POLL_S = 0.5
READY_TIMEOUT_S = 600.0  # Ray and six experts load slowly on a busy 2-core machine
STOP_TIMEOUT_S = 60.0
LEFTOVER_WAIT_S = 30.0  # Ray's helpers take a moment to exit after the server has gone
RESTART_GAP_S = 2.0  # between restarts, so that a server that cannot start does not spin
MAX_RESTARTS = 20
ACTOR_RESTART_WAIT_S = 40.0
SLOW_PIECE = 16 * 1024  # bytes per piece of a slow upload; 2 pieces a second stay above the 16 KiB/s floor
SLOW_PAUSE_S = 0.5


# --- the profile and the clips -------------------------------------------------------------


def soak_profile(profile: str, folder: Path) -> str:
    """`profile` with its experts in Ray actors, so that there are actors to kill, and without
    the expert-output cache, so that a repeated clip is computed (and can be hit) again."""
    lines = [f"extends: {profile}", "execution: {engine: ray}"]
    if "cache" in type(load_profile(profile)).model_fields:
        lines.append("cache: {enabled: false}")
    path = folder / f"{Path(profile).stem}-soak.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def photo_clip(path: Path, duration_s: float) -> Path:
    """A real photo of a face, drifting slowly, with no audio track."""
    import cv2

    photo_path = SHARED_DATA / "single_face.jpg"
    photo = cv2.cvtColor(cv2.imread(str(photo_path)), cv2.COLOR_BGR2RGB) if photo_path.is_file() else demo_photo()
    scale = 360 / max(photo.shape[:2])
    base = cv2.resize(photo, (int(photo.shape[1] * scale) // 2 * 2, int(photo.shape[0] * scale) // 2 * 2))
    return write_clip(path, lambda t: np.roll(base, int(6 * t), axis=1), duration_s=duration_s, fps=12)


def noise_clip(path: Path, duration_s: float, seed: int) -> Path:
    """Moving grey noise, no face, no audio: the cheapest video the pipeline runs through."""
    rng = np.random.default_rng(seed)
    return write_clip(path, lambda t: rng.integers(90, 110, size=(120, 160, 3), dtype=np.uint8), duration_s=duration_s, fps=10)


@dataclass(frozen=True)
class Clips:
    good: list[Path]
    truncated: Path
    random_bytes: Path
    text: Path


def make_clips(folder: Path, seed: int) -> Clips:
    """A few small real clips (3-6 s) made once, and the bad files made from them."""
    good = [
        build_demo_clip(folder / "face_speech.mp4", duration_s=4.0, face_until_s=3.0),
        photo_clip(folder / "photo_face.mp4", duration_s=5.0),
        noise_clip(folder / "silent.mp4", duration_s=3.0, seed=seed),
        noise_clip(folder / "silent_long.mp4", duration_s=6.0, seed=seed + 1),
    ]
    whole = good[0].read_bytes()
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])
    random_bytes = folder / "random.mp4"
    random_bytes.write_bytes(random.Random(seed).randbytes(200_000))
    text = folder / "notes.txt"
    text.write_text("this is not a video\n" * 500)
    return Clips(good, truncated, random_bytes, text)


# --- processes -----------------------------------------------------------------------------


def process_name(pid: int) -> str:
    """The title a process shows: Ray's workers rewrite their command line (`ray::_ExpertActor...`);
    /proc/PID/comm keeps only 15 characters of it."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
        return cmdline.decode(errors="replace") or Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, it names one process even
    after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def alive(pid: int, ticks: int) -> bool:
    """Whether that process (not a later one with its pid) still runs, a zombie counting as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] != "Z" and int(fields[19]) == ticks


def is_actor(name: str) -> bool:
    return "_ExpertAct" in name


def is_raylet(name: str) -> bool:
    return name.split(" ", 1)[0].rsplit("/", 1)[-1] == "raylet"


def disk_mb(folder: Path) -> float:
    """Blocks allocated under `folder`, in MiB; files that vanish while it walks are skipped."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total / 2**20


# --- the server and its supervisor ---------------------------------------------------------


class Supervisor:
    """Runs `cer serve` and starts it again whenever it exits, until told to stop; meanwhile
    samples its tree's memory and the data folder's disk, and remembers every process the trees
    ever had, to check at the end that none is left."""

    def __init__(self, data_dir: Path, profile: str) -> None:
        self.data_dir, self.profile, self.port = data_dir, profile, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts, self.exit_codes = 0, Counter[int]()
        self.peak_rss_mb = self.peak_disk_mb = 0.0
        self.seen: dict[int, int] = {}  # pid -> start ticks, of every process of every server tree
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self.thread.start()

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "cer", "serve", "--port", str(self.port), "--profile", self.profile]
        command += ["--data-dir", str(self.data_dir)]
        with open(self.log, "ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **SERVER_ENV})
        with self.lock:
            self.process = process
        self._remember(process.pid)

    def pid(self) -> int | None:
        with self.lock:
            return self.process.pid if self.process is not None else None

    def tree(self) -> list[int]:
        """The server process and every process below it, now."""
        pid = self.pid()
        return [] if pid is None else [pid, *(p.pid for p in descendants(pid))]

    def _remember(self, pid: int) -> None:
        ticks = start_ticks(pid)
        if ticks is not None:
            self.seen.setdefault(pid, ticks)

    def _sample(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        for member in self.tree():
            self._remember(member)
        self.peak_rss_mb = max(self.peak_rss_mb, tree_rss_mb(pid))
        self.peak_disk_mb = max(self.peak_disk_mb, disk_mb(self.data_dir))

    def _watch(self) -> None:
        last_start = time.monotonic()
        while not self.stopping.is_set():
            self._sample()
            process = self.process
            if process is not None and process.poll() is not None and not self.stopping.is_set():
                self.exit_codes[process.returncode] += 1
                if self.restarts >= MAX_RESTARTS:
                    print(f"# the server exited with {process.returncode}; {MAX_RESTARTS} restarts already, giving up", flush=True)
                    return
                time.sleep(max(0.0, last_start + RESTART_GAP_S - time.monotonic()))
                print(f"# the server exited with {process.returncode}; restarting it", flush=True)
                self.restarts += 1
                last_start = time.monotonic()
                self._spawn()
            self.stopping.wait(SAMPLE_S)

    def wait_ready(self, timeout_s: float) -> None:
        """Until /readyz answers 200 (every pipeline loaded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(1.0)
        raise TimeoutError(f"the server was not ready within {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; SIGKILL if it is still there a minute later.
        What happened, in words."""
        self.stopping.set()
        self.thread.join()
        process = self.process
        if process is None or process.poll() is not None:
            return "it had already exited"
        self._sample()
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return f"still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: SIGKILLed"
        return f"exited with {code} after {time.monotonic() - stopping:.1f} s"

    def leftovers(self) -> list[tuple[int, str]]:
        """Processes of any server tree still alive, after giving them a moment to go."""
        deadline = time.monotonic() + LEFTOVER_WAIT_S
        while True:
            left = [(pid, process_name(pid)) for pid, ticks in self.seen.items() if alive(pid, ticks)]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(1.0)

    def kill_leftovers(self) -> None:
        """The bench must stop by itself: whatever it started and is still there is killed (by pid,
        checked against its start time so that no other process is hit)."""
        for pid, ticks in self.seen.items():
            if alive(pid, ticks):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


# --- what the clients saw ------------------------------------------------------------------


@dataclass
class Job:
    id: str
    kind: str
    clip: str
    accepted_at: float
    finished_at: float | None = None
    status: str = "queued"
    error: str | None = None
    gone: bool = False  # answered 404: the store no longer knows it
    result_checked: bool = False
    bad_experts: dict[str, str] = field(default_factory=dict)  # expert -> status: reason, in result.json


class Tally:
    """Every answer by request kind, status and error code, and every accepted job; shared by the
    client threads, hence the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[tuple[str, str]] = Counter()  # (kind, "status code")
        self.refusals: Counter[str] = Counter()  # "status code"
        self.jobs: dict[str, Job] = {}

    def answer(self, kind: str, response: httpx.Response) -> None:
        code = error_code(response)
        with self.lock:
            self.answers[kind, f"{response.status_code} {code}".strip()] += 1
            if response.status_code in REFUSALS:
                self.refusals[f"{response.status_code} {code}"] += 1

    def no_answer(self, kind: str, why: str) -> None:
        with self.lock:
            self.answers[kind, why] += 1

    def accepted(self, kind: str, clip: str, response: httpx.Response) -> None:
        if response.status_code == 202:
            job_id = response.json()["id"]
            with self.lock:
                self.jobs[job_id] = Job(job_id, kind, clip, time.monotonic())

    def open_jobs(self) -> list[Job]:
        with self.lock:
            return [job for job in self.jobs.values() if not job.gone and (job.status not in FINISHED or not job.result_checked)]


def error_code(response: httpx.Response) -> str:
    """The `error.code` of an error answer ('' for a success or a body that is not ours)."""
    if response.status_code < 400:
        return ""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "(not an error document)"


# --- the requests --------------------------------------------------------------------------


def multipart(filename: str, content: bytes, fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with `file` and text fields; the body and its content type."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in (fields or {}).items()]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    parts.append(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Requests:
    """One client thread's requests; each records what came back."""

    def __init__(self, url: str, port: int, clips: Clips, tally: Tally, rng: random.Random) -> None:
        self.http = httpx.Client(base_url=url, timeout=60.0)
        self.port, self.clips, self.tally, self.rng = port, clips, tally, rng

    def run(self, kind: str, send: Callable[[], httpx.Response]) -> httpx.Response | None:
        """`send`, its answer recorded; a transport error (the server restarting) is recorded too."""
        try:
            response = send()
        except httpx.TransportError as exc:
            self.tally.no_answer(kind, f"no answer ({type(exc).__name__})")
            return None
        self.tally.answer(kind, response)
        return response

    def upload(self, kind: str, path: Path, fields: dict[str, str] | None = None) -> None:
        with open(path, "rb") as handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            response = self.run(kind, lambda: self.http.post("/v1/jobs", files=files, data=fields or {}))
        if response is not None:
            self.tally.accepted(kind, path.name, response)

    def good(self) -> None:
        # some with a compound method named, as the page sends it
        fields = {"compound": self.rng.choice(["ppa", "pfsa"])} if self.rng.random() < 0.3 else None
        self.upload("good", self.rng.choice(self.clips.good), fields)

    def slow(self) -> None:
        """A good upload sent in small pieces with pauses: slow, but above the server's floor."""
        path = self.rng.choice(self.clips.good)
        body, content_type = multipart(path.name, path.read_bytes())

        def pieces() -> Iterator[bytes]:
            for start in range(0, len(body), SLOW_PIECE):
                yield body[start : start + SLOW_PIECE]
                time.sleep(SLOW_PAUSE_S)

        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        response = self.run("slow", lambda: self.http.post("/v1/jobs", content=pieces(), headers=headers))
        if response is not None:
            self.tally.accepted("slow", path.name, response)

    def cut_off(self) -> None:
        """An upload that announces its whole length, sends half and hangs up."""
        path = self.rng.choice(self.clips.good)
        body, content_type = multipart(path.name, path.read_bytes())
        head = f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(head.encode() + body[: len(body) // 2])
                time.sleep(self.rng.uniform(0.0, 0.5))
            self.tally.no_answer("cut_off", "closed half-way")
        except OSError as exc:
            self.tally.no_answer("cut_off", f"no connection ({type(exc).__name__})")

    def bad(self) -> None:
        path = self.rng.choice([self.clips.truncated, self.clips.random_bytes, self.clips.text])
        self.upload(f"bad:{path.name}", path)

    def wrong(self) -> None:
        """Requests a client gets wrong: ids that are not UUIDs or not known, a form without its
        file, a compound method that does not exist, results of an unfinished job, a wrong route."""
        unknown = uuid.uuid4()
        with self.tally.lock:
            known = list(self.tally.jobs)
        choices: list[tuple[str, Callable[[], httpx.Response]]] = [
            ("wrong:bad_id", lambda: self.http.get("/v1/jobs/not-a-uuid")),
            ("wrong:unknown_id", lambda: self.http.get(f"/v1/jobs/{unknown}")),
            ("wrong:delete_unknown", lambda: self.http.delete(f"/v1/jobs/{unknown}")),
            ("wrong:no_file", lambda: self.http.post("/v1/jobs", data={"compound": "ppa"}, files={"other": ("x.txt", b"x")})),
            ("wrong:bad_compound", lambda: self.http.post("/v1/jobs", data={"compound": "nope"}, files={"file": ("a.mp4", b"x")})),
            ("wrong:route", lambda: self.http.get("/v1/nothing-here")),
        ]
        if known:
            chosen = self.rng.choice(known)
            choices.append(("wrong:early_result", lambda: self.http.get(f"/v1/jobs/{chosen}/result")))
        kind, send = self.rng.choice(choices)
        self.run(kind, send)

    def one(self) -> None:
        """One request of the mix (weights: mostly good uploads, the rest spread over the faults)."""
        action = self.rng.choices([self.good, self.slow, self.cut_off, self.bad, self.wrong], weights=[45, 10, 10, 20, 15])[0]
        action()


def client_loop(requests: Requests, until: float, stop: threading.Event) -> None:
    while time.monotonic() < until and not stop.is_set():
        requests.one()
        stop.wait(requests.rng.uniform(0.1, 0.6))  # a little think time between requests
    requests.http.close()


# --- following the jobs --------------------------------------------------------------------


def check_job(http: httpx.Client, tally: Tally, job: Job) -> None:
    """One poll of a job; once it is done, its result.json's experts are checked."""
    response = http.get(f"/v1/jobs/{job.id}")
    if response.status_code == 404:
        job.gone = True
        return
    if response.status_code != 200:
        return  # the server is busy or restarting: ask again later
    state = response.json()
    if state["status"] in FINISHED and job.finished_at is None:
        job.finished_at, job.status, job.error = time.monotonic(), state["status"], state.get("error")
    elif state["status"] not in FINISHED:
        job.status = state["status"]
    if job.status == "done" and not job.result_checked:
        result = http.get(state["urls"]["result"])
        if result.status_code == 200:
            experts = result.json().get("experts", {})
            job.bad_experts = {n: f"{e.get('status')}: {e.get('reason')}" for n, e in experts.items() if e.get("status") != "ok"}
            job.result_checked = True
    elif job.status == "failed":
        job.result_checked = True


def follow_jobs(url: str, tally: Tally, stop: threading.Event) -> None:
    """Polls every unfinished job until told to stop; connection errors (the server restarting)
    are waited out."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        while not stop.is_set():
            for job in tally.open_jobs():
                with contextlib.suppress(httpx.TransportError, ValueError):
                    check_job(http, tally, job)
            stop.wait(POLL_S)


def drain(tally: Tally, timeout_s: float) -> float:
    """Waits until every accepted job has ended (or is gone), at most `timeout_s`; the seconds it took."""
    started = time.monotonic()
    while tally.open_jobs() and time.monotonic() - started < timeout_s:
        time.sleep(1.0)
    return time.monotonic() - started


# --- the kills -----------------------------------------------------------------------------


def actors(supervisor: Supervisor) -> list[tuple[int, int]]:
    """(start ticks, pid) of the server tree's expert actor processes, oldest first."""
    found = [(start_ticks(pid), pid) for pid in supervisor.tree() if is_actor(process_name(pid))]
    return sorted((ticks, pid) for ticks, pid in found if ticks is not None)


def actor_name(title: str) -> str | None:
    """The Ray actor's name in a worker's title (`ray::cer-dynamic_face-4f94...:_ExpertActor.predict`),
    which a restarted actor keeps; None before Ray has set it."""
    head = title.split(" ", 1)[0].removeprefix("ray::")
    return head.split(":", 1)[0] if ":" in head else None


def kill(pid: int, what: str, started: float) -> None:
    title = process_name(pid)  # read first: a killed process has no command line left
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    print(f"# t={time.monotonic() - started:6.1f} s  SIGKILL {what} (pid {pid}: {title[:100] or 'gone'})", flush=True)


def replacement(supervisor: Supervisor, name: str | None, before: set[int], stop: threading.Event) -> int | None:
    """The process of Ray's restart of the killed actor (same actor name, else any actor process
    that was not there before), once it has finished starting (past `__init__`), so that the next
    kill hits a working actor. None if none appears: its restarts are spent."""
    deadline, found = time.monotonic() + ACTOR_RESTART_WAIT_S, None
    while time.monotonic() < deadline and not stop.is_set():
        new = [(pid, process_name(pid)) for _ticks, pid in actors(supervisor) if pid not in before]
        same = [(pid, title) for pid, title in new if name is None or actor_name(title) in (name, None)]
        if same:
            found, title = same[-1]
            if not title.endswith("__init__"):
                return found
        stop.wait(1.0)
    return found  # started but still starting when the wait ran out: killed all the same


def kill_actor_repeatedly(supervisor: Supervisor, kills: int, started: float, stop: threading.Event) -> None:
    """Kills the oldest expert actor, then its restarted process, `kills` times in all, a few
    seconds apart, so that Ray's max_restarts for it is used up and the service must cope with
    an actor that stays dead."""
    found = actors(supervisor)
    if not found:
        print("# no expert actor process found in the server's tree: no actor killed", flush=True)
        return
    pid: int | None = found[0][1]
    name = actor_name(process_name(found[0][1]))
    for attempt in range(1, kills + 1):
        if pid is None or stop.is_set():
            return
        before = {p for _t, p in actors(supervisor)}
        kill(pid, f"expert actor{f' {name}' if name else ''}, kill {attempt} of {kills}", started)
        if attempt == kills:
            return
        stop.wait(3.0)  # a few seconds apart: Ray restarts it meanwhile
        pid = replacement(supervisor, name, before, stop)
        if pid is None:
            print(f"# t={time.monotonic() - started:6.1f} s  no restarted actor appeared: its restarts are spent", flush=True)


def kill_raylet(supervisor: Supervisor, started: float) -> None:
    raylets = [pid for pid in supervisor.tree() if is_raylet(process_name(pid))]
    if not raylets:
        print("# no raylet found in the server's tree: none killed", flush=True)
        return
    kill(raylets[0], "raylet", started)


def chaos(supervisor: Supervisor, run_s: float, kills: int, started: float, stop: threading.Event) -> None:
    if stop.wait(run_s / 3):
        return
    kill_actor_repeatedly(supervisor, kills, started, stop)
    if stop.wait(max(0.0, started + 2 * run_s / 3 - time.monotonic())):
        return
    kill_raylet(supervisor, started)


# --- the report ----------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99), interpolated; nan for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def log_tracebacks(log: Path) -> Counter[tuple[str, str]]:
    """The server log's tracebacks, counted by (exception, the deepest frame in cer's own code):
    where it failed and why, without the frames of the libraries under it."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return Counter()
    found: Counter[tuple[str, str]] = Counter()
    for start in (i for i, line in enumerate(text) if line.startswith("Traceback (most recent call last)")):
        # the frames are indented; the first line that is not names the exception
        end = next((j for j in range(start + 1, len(text)) if not text[j].startswith((" ", "\t"))), len(text) - 1)
        own = [line.strip() for line in text[start:end] if line.strip().startswith("File") and ".venv" not in line]
        found[text[end].strip()[:160], own[-1] if own else "(no frame of cer)"] += 1
    return found


def report(tally: Tally, supervisor: Supervisor, drain_s: float, left: list[tuple[int, str]], stopped: str) -> int:
    """Prints the report; the exit code (1 if a job was lost or half-done)."""
    jobs = list(tally.jobs.values())
    done = [j for j in jobs if j.status == "done" and j.finished_at is not None]
    failed = [j for j in jobs if j.status == "failed" and j.finished_at is not None]
    lost = [j for j in jobs if j.gone or j.finished_at is None]
    half = [j for j in done if j.bad_experts]
    unchecked = [j for j in done if not j.result_checked]
    latencies = [j.finished_at - j.accepted_at for j in done if j.finished_at is not None]
    print("== soak report ==")
    print(f"jobs accepted (202): {len(jobs)}  (by kind: {dict(Counter(j.kind for j in jobs))})")
    print(f"done: {len(done)}  failed: {len(failed)}  lost: {len(lost)}  half-done: {len(half)}  result not fetched: {len(unchecked)}")
    for reason, count in Counter((j.error or "(no error text)")[:160] for j in failed).most_common():
        print(f"  failed x{count}: {reason}")
    for (clip, status), count in Counter((j.clip, "gone (404)" if j.gone else f"last seen {j.status}") for j in lost).most_common():
        print(f"  lost x{count}: {clip}, {status}")
    for job in half:
        print(f"  half-done: {job.id} ({job.clip}): {job.bad_experts}")
    print(f"rejections: {dict(sorted(tally.refusals.items())) or 'none'}")
    print("answers by request kind:")
    for kind in sorted({k for k, _ in tally.answers}):
        print(f"  {kind}: {dict(sorted((a, n) for (k, a), n in tally.answers.items() if k == kind))}")
    print(f"latency accept->done: p50 {percentile(latencies, 50):.1f} s  p95 {percentile(latencies, 95):.1f} s  (n={len(latencies)})")
    print(f"drain: {drain_s:.0f} s")
    print(f"server restarts: {supervisor.restarts}  (exit codes seen: {dict(supervisor.exit_codes) or 'none'})")
    print(f"server stop (SIGTERM): {stopped}")
    print(f"peak RSS of the server's process tree: {supervisor.peak_rss_mb:.0f} MiB")
    print(f"peak disk use of the data dir: {supervisor.peak_disk_mb:.1f} MiB")
    print(f"processes left at the end: {len(left)}")
    for pid, name in left:
        print(f"  left: pid {pid}: {name[:120]}")
    tracebacks = log_tracebacks(supervisor.log)
    print(f"server log: {sum(tracebacks.values())} traceback(s)")
    for (exception, frame), count in tracebacks.most_common():
        print(f"  x{count}: {exception}\n      at {frame}")
    return 1 if lost or half else 0


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", help="profile name or YAML file (default: tiny)")
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes of requests (default: 3)")
    parser.add_argument("--clients", type=int, default=6, help="client threads (default: 6)")
    parser.add_argument("--drain-minutes", type=float, default=3.0, help="minutes to wait for accepted jobs to end (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix (default: 0)")
    parser.add_argument("--data-dir", type=Path, help="the server's data folder, kept (default: a temporary one, removed)")
    return parser.parse_args()


def soak(args: argparse.Namespace, scratch: Path, data_dir: Path) -> int:
    profile = soak_profile(args.profile, scratch)
    # max_restarts + 2 kills: the first, one per restart Ray grants, and one that leaves it dead
    kills = min(4, load_profile(profile).execution.max_restarts + 2)
    clips = make_clips(scratch, args.seed)
    supervisor = Supervisor(data_dir, profile)
    print(f"# cer serve on {supervisor.url}, data folder {data_dir}, log {supervisor.log}", flush=True)
    supervisor.start()
    tally, stop_clients, stop_follow = Tally(), threading.Event(), threading.Event()
    try:
        supervisor.wait_ready(READY_TIMEOUT_S)
        run_s = args.minutes * 60
        started = time.monotonic()
        print(f"# ready; {args.clients} clients for {run_s:.0f} s", flush=True)
        follower = threading.Thread(target=follow_jobs, args=(supervisor.url, tally, stop_follow), daemon=True)
        follower.start()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(
                    Requests(supervisor.url, supervisor.port, clips, tally, random.Random(args.seed * 1000 + i)),
                    started + run_s,
                    stop_clients,
                ),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        chaos_thread = threading.Thread(target=chaos, args=(supervisor, run_s, kills, started, stop_clients), daemon=True)
        chaos_thread.start()
        for thread in threads:
            thread.join()
        stop_clients.set()
        chaos_thread.join()
        print(f"# requests stopped at t={time.monotonic() - started:.0f} s; draining {len(tally.jobs)} accepted jobs", flush=True)
        drain_s = drain(tally, args.drain_minutes * 60)
        stop_follow.set()
        follower.join()
    finally:
        stop_clients.set()
        stop_follow.set()
        stopped = supervisor.stop()
        left = supervisor.leftovers()
        supervisor.kill_leftovers()
    return report(tally, supervisor, drain_s, left, stopped)


def main() -> None:
    args = parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cer-soak-"))
    data_dir = args.data_dir or scratch / "data"
    try:
        code = soak(args, scratch, data_dir)
    finally:
        if args.data_dir is None and (data_dir / "server.log").is_file():
            # the log outlives the temporary data folder: it is what explains a lost or half-done job
            kept = Path(tempfile.gettempdir()) / f"{scratch.name}-server.log"
            shutil.copyfile(data_dir / "server.log", kept)
            print(f"server log kept at {kept}")
        shutil.rmtree(scratch, ignore_errors=True)  # the data folder too, unless it was given
    sys.exit(code)


if __name__ == "__main__":
    main()
