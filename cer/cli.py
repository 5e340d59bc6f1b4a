"""The `cer` command line. Errors a user can fix print one line and exit 2; no tracebacks
unless CER_DEBUG=1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cer.core.config import PROFILE_NAMES, ConfigError, Profile, check_devices, load_profile, with_device
from cer.core.devices import DEVICE_PATTERN
from cer.core.engine import EngineFault
from cer.core.environment import CORE_VARIABLES, misspelt_variables
from cer.core.media import MediaError
from cer.core.quiet import allow_chatter, quiet_third_parties
from cer.core.registry import expert_names
from cer.core.sources import ModelNotAvailable, forbid_downloads
from cer.core.switches import DEBUG, QUIET, switched_on
from cer.version import version_text

if TYPE_CHECKING:
    from pydantic import BaseModel

    from cer.core.live_media import LiveSource
    from cer.pipeline.live import LiveSession

DEFAULT_PROFILE = "default"
OFFLINE_HINT = "to run on the packaged models alone, with no download, add `--profile offline`"

SHUTDOWN_GRACE_S = 10  # seconds open requests get to finish after SIGTERM
USER_ERRORS = (MediaError, ConfigError, ModelNotAvailable, FileNotFoundError, ValueError)


def _given(args: argparse.Namespace, **keys: str) -> dict[str, Any]:
    """Profile keys (key -> option name) for the options given on the command line."""
    return {key: getattr(args, option) for key, option in keys.items() if getattr(args, option, None)}


def _profile_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if compound := _given(args, method="compound", vocabulary="vocabulary"):
        overrides["compound"] = compound
    if getattr(args, "persons", None) is not None:  # 0 is a choice: the whole-video view alone
        overrides["persons"] = {"max_persons": args.persons}
    if getattr(args, "weights", None):
        overrides["fusion"] = {"weights": str(args.weights)}
    if execution := _given(args, engine="engine", ray_address="ray_address"):
        overrides["execution"] = execution
    if args.command == "live":
        # the expert-output cache keys outputs by the video file's content, which a live source does not have
        overrides["cache"] = {"enabled": False}
        overrides["live"] = _given(args, max_latency_s="max_latency")
    return overrides


def _load_profile(args: argparse.Namespace) -> Profile:
    """The profile the command runs with: `--profile` (else the default), the options given, and
    `--device`; a device this machine lacks is one line now, before any model loads."""
    profile = with_device(load_profile(args.profile or DEFAULT_PROFILE, _profile_overrides(args)), args.device)
    check_devices(profile)
    return profile


def _device(text: str) -> str:
    if not re.fullmatch(DEVICE_PATTERN, text):
        raise argparse.ArgumentTypeError(f"one of auto, cpu, cuda, cuda:N, not {text!r}")
    return text


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a whole number, 0 or more, not {text!r}")
    return int(text)


def _time(text: str) -> float:
    """Seconds, as `90`, `90.5`, `1:30` or `1:02:03.5`."""
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts):
        raise argparse.ArgumentTypeError(f"a time is seconds (90.5) or [H:]M:S (1:30), not {text!r}")
    return sum(part * 60**power for power, part in enumerate(reversed(parts)))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"seconds above 0, not {text!r}")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def note(text: str) -> None:
    """A line about what cer is doing, on stderr; `--quiet` keeps it back (errors and warnings
    are always shown)."""
    if not switched_on(QUIET):
        print(f"cer: {text}", file=sys.stderr)


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 2**16:
        raise argparse.ArgumentTypeError(f"a TCP port is 1 to 65535, not {value}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from cer.core.media import probe
    from cer.core.progress import progress_callback
    from cer.core.windows import analysed_part
    from cer.pipeline.executors import choose_engine, with_engine
    from cer.pipeline.model_store import check_fetchable, missing_models
    from cer.pipeline.outputs import FILE_NAMES
    from cer.pipeline.outputs.folder import check_output_folder
    from cer.pipeline.outputs.terminal import cache_note, device_note, summary_table
    from cer.pipeline.runner import Pipeline

    profile = _load_profile(args)
    infos = [probe(video) for video in args.videos]  # a file that is no usable video fails here, before any model loads
    for info in infos:
        analysed_part(info.duration_s, args.start, args.end)  # so does a part that is not in it
    folders = _output_folders(args.videos, args.out)
    check_fetchable(profile, missing_models(profile))  # no model to be had: one line now, no folder made
    profile = with_engine(profile, choose_engine(profile.execution, video_s=sum(info.duration_s for info in infos)))
    if profile.execution.engine == "ray":
        _check_cluster(profile.execution.ray_address)
    folders = [check_output_folder(folder) for folder in folders]
    note(f"loading the {profile.name} profile ...")
    # --json: standard output carries the results alone (one JSON document per line for several
    # videos); anything else printed meanwhile, by cer or a library (Ray, native code), goes to
    # standard error
    with stdout_to_stderr() if args.json else nullcontext(), Pipeline(profile, start_experts=False) as pipeline:
        results = []
        for video, info, out_dir in zip(args.videos, infos, folders, strict=True):
            update, close = progress_callback(Path(video).name, "windows")
            try:
                # probed above: read once
                results.append(pipeline.run(info, out_dir, progress=update, start_s=args.start, end_s=args.end))
            finally:
                close()
    if where := device_note(results[0]):  # one pipeline ran them all
        note(where)
    for video, result, out_dir in zip(args.videos, results, folders, strict=True):
        if cached := cache_note(result):
            note(cached)
        if args.json:
            sys.stdout.write(result.to_json() if len(results) == 1 else result.model_dump_json() + "\n")  # several: JSON Lines
            named = f"{Path(video).name}: " if len(results) > 1 else ""
            note(f"{named}{result.decision.text}; results in {out_dir}/ ({', '.join(FILE_NAMES)})")
            continue
        if len(results) > 1:
            print(f"\n{video}")
        print(summary_table(result))
        print(f"\nresults in {out_dir}/ ({', '.join(FILE_NAMES)})")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    if not args.json_lines:
        return _live(args, None)
    from cer.core.live_messages import LiveError

    # standard output carries the messages alone; anything else printed meanwhile goes to standard error
    with stdout_to_stderr() as out:
        try:
            return _live(args, out)
        except MediaError as exc:
            _say(out, LiveError(problem=exc.code, message=str(exc)))
            raise


def _live(args: argparse.Namespace, out: TextIO | None) -> int:
    """`cer live`; with `out`, its messages as JSON lines there instead of the verdicts' lines."""
    from cer.core.live_media import open_live
    from cer.pipeline.outputs.folder import check_output_folder

    profile = _load_profile(args)
    started = time.perf_counter()
    source = open_live(args.source, args.format)  # a source that cannot be read: one line now, no folder made, no model loaded
    open_s = time.perf_counter() - started
    try:
        out_dir = None if args.no_files else check_output_folder(Path(args.out or time.strftime("cer-out/live-%Y%m%d-%H%M%S")))
    except BaseException:
        source.close()
        raise
    sound = "with audio" if source.has_audio else "no audio"
    note(f"reading {source.name}: {source.width} x {source.height} at {source.fps:g} fps, {sound}")
    return _run_live(profile, source, out_dir, open_s, out)


def _say(out: TextIO, message: BaseModel) -> None:
    """One message of `cer live --json-lines`: the typed model's own JSON, on a line, at once."""
    out.write(message.model_dump_json() + "\n")
    out.flush()


def _run_live(profile: Profile, source: LiveSource, out_dir: Path | None, open_s: float, out: TextIO | None) -> int:
    """`cer live` once its source is open: the verdicts as they come (as JSON lines on `out`
    when given), then the results (written to `out_dir` when given)."""
    from cer.core.live_messages import LiveEnd, LiveStart, LiveWindow, PersonWindow
    from cer.pipeline.executors import choose_engine, with_engine
    from cer.pipeline.live import LiveSession
    from cer.pipeline.model_store import check_fetchable, missing_models
    from cer.pipeline.outputs import FILE_NAMES, write_outputs
    from cer.pipeline.outputs.live_lines import latency_summary, person_window_line, window_line
    from cer.pipeline.runner import Pipeline

    try:
        check_fetchable(profile, missing_models(profile))  # no model to be had: one line before any loads
        profile = with_engine(profile, choose_engine(profile.execution))
        if profile.execution.engine == "ray":
            _check_cluster(profile.execution.ray_address)
        note(f"loading the {profile.name} profile ...")
        pipeline = Pipeline(profile, start_experts=False)
    except BaseException:
        source.close()  # the session that would have let it go does not begin
        raise
    with pipeline:
        session = LiveSession(pipeline, source, open_s)  # lets the source go when it ends
        if out is not None:
            experts = list(profile.enabled_experts())
            _say(out, LiveStart(source=source.name, profile=profile.name, labels=pipeline.labels(), experts=experts))
        try:
            with _ctrl_c_ends(session):
                for decided in session.windows():
                    if decided.window.index == 0:
                        note("each window's verdict follows as the stream reaches its end (Ctrl-C stops and writes the results)")
                    if out is not None:
                        persons = [PersonWindow(person=person, window=record) for person, record in decided.persons]
                        _say(out, LiveWindow(window=decided.window, persons=persons))
                        continue
                    print(window_line(decided.window), flush=True)
                    if len(decided.persons) > 1:  # a lone person's verdict is the window's
                        print("\n".join(person_window_line(person, record) for person, record in decided.persons), flush=True)
        finally:
            session.stop()
        if session.interrupted:
            note("interrupted: the stream is let go" + ("; writing the results of what was seen" if out_dir is not None else ""))
        result = session.result() if session.records else None
        if out is not None:
            _say(out, LiveEnd(summary=result.summary if result else None, interrupted=session.interrupted))
        if result is None:
            note("no window was decided: nothing to write")
            return 130
        if out_dir is not None:
            result = write_outputs(result, out_dir)
    # with --json-lines these go to standard error, as all but the messages do
    print(latency_summary(result.window_results, profile.live.max_latency_s))
    print(f"video: {result.decision.text}")
    if out_dir is not None:
        print(f"results in {out_dir}/ ({', '.join(FILE_NAMES)})")
    return 0


@contextmanager
def _ctrl_c_ends(session: LiveSession) -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT) ends the live session after the window under way,
    so that the results of what was seen are written; a second one interrupts at once."""
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: object) -> None:
        # nothing printed here: the handler may run in the middle of a write to the terminal
        signal.signal(signal.SIGINT, previous)
        session.interrupt()

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _output_folders(videos: Sequence[str], out: str | None) -> list[Path]:
    """Where each video's outputs go: `out` itself for one video, a folder per video (named
    after it) in `out` for several; cer-out/NAME by default."""
    stems = [Path(video).stem for video in videos]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise ValueError(f"several videos are named {', '.join(repeated)}: their output folders would clash (`cer batch` names them apart)")
    if out is not None and len(videos) == 1:
        return [Path(out)]
    return [Path(out or "cer-out") / stem for stem in stems]


@contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Standard output, at the file-descriptor level (native libraries write there too), sent
    to standard error until the block ends; the block is given the real standard output, for
    what belongs there."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(saved, "w", encoding="utf-8", closefd=False)
    try:
        with redirect_stdout(sys.stderr):
            yield real
    finally:
        real.flush()
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _check_cluster(address: str | None) -> None:
    """A Ray cluster named for the run (`address`, else $RAY_ADDRESS) that does not answer:
    one line now, no folder made."""
    from cer.pipeline.ray_runtime import check_reachable, named_cluster

    if named := named_cluster(address):
        check_reachable(named)


def cmd_batch(args: argparse.Namespace) -> int:
    from cer.pipeline.batch import NOT_VIDEOS_CSV, run_batch, totals_line
    from cer.pipeline.model_store import check_fetchable, missing_models
    from cer.pipeline.outputs.folder import check_output_folder

    profile = _load_profile(args)
    check_fetchable(profile, missing_models(profile))  # no model to be had: one line now, no folder made
    _check_cluster(profile.execution.ray_address)
    check_output_folder(Path(args.out))  # before any model loads or video decodes
    started = time.perf_counter()
    rows = run_batch(args.inputs, Path(args.out), profile, force=args.force, jobs=args.jobs)
    print(totals_line(rows, time.perf_counter() - started))
    print(f"results in {args.out}/ (summary.csv, failures.csv, {NOT_VIDEOS_CSV}, one folder per video)")
    return 1 if any(row.status == "failed" for row in rows) else 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from cer.serving.app import create_app
        from cer.serving.data_dir import PRIVATE_UMASK, StartError
        from cer.serving.http_protocol import JsonRefusalProtocol
        from cer.serving.listener import PortUnavailable, listen
        from cer.serving.service import Service
        from cer.serving.settings import LOOPBACK_HOSTS, Settings
    except ImportError as exc:  # the service's packages are the optional `serve` extra
        needs = exc.name or "its packages"
        raise ConfigError(f"the HTTP service needs {needs}: install the `serve` extra (in a checkout: pip install '.[serve]')") from None

    os.umask(PRIVATE_UMASK)  # uploads, results and the store hold faces, voices and words: the owner's alone
    given = {"profile": args.profile, "device": args.device, "data_dir": args.data_dir}
    settings = Settings.load(**{key: value for key, value in given.items() if value is not None})
    profile = settings.job_profile()  # a bad profile is one line here, not a traceback from the server's start-up
    check_devices(profile)
    if not args.degraded:
        from cer.pipeline.model_store import check_fetchable, missing_models

        # no model to be had: one line and exit 2 now, not a page that looks ready while every upload gets 503
        check_fetchable(profile, missing_models(profile))
    if args.host not in LOOPBACK_HOSTS:
        if settings.token is None:
            print(f"cer: warning: no CER_API_TOKEN: anyone who reaches {args.host}:{args.port} can upload and read jobs", file=sys.stderr)
        if settings.allowed_hosts == LOOPBACK_HOSTS:
            names = ", ".join(LOOPBACK_HOSTS)
            print(f"cer: note: only requests addressed to {names} are answered; CER_ALLOWED_HOSTS names the others", file=sys.stderr)
    try:
        listener = listen(args.host, args.port)
    except PortUnavailable as exc:
        print(f"cer: error: {exc}", file=sys.stderr)
        return 3  # as uvicorn's own start-up failure
    try:
        # Opened here, before the server starts, so that a data folder it cannot use is one
        # line and exit 2, not a traceback from the server's start-up.
        stop_handler = signal.getsignal(signal.SIGTERM)
        service = Service.open(settings)
    except StartError as exc:
        listener.close()
        print(f"cer: error: {exc}", file=sys.stderr)
        return 2
    # Starting Ray replaces SIGTERM's handler with one that exits wherever the main thread is;
    # uvicorn stops the server gracefully on it instead, then ends the process by the signal.
    signal.signal(signal.SIGTERM, stop_handler)
    # a client that keeps a connection open (an upload trickling in) cannot hold the shutdown
    config = uvicorn.Config(
        create_app(settings, service),
        host=args.host,
        port=args.port,
        http=JsonRefusalProtocol,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        ws_max_size=settings.live_max_message_bytes,  # a live session's largest message, refused before it is held whole
    )
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    note(f"serving on http://{shown_host}:{args.port}/ (Ctrl-C stops it)")  # uvicorn names no address for a socket it is given
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cer.pipeline.demo import build_demo_clip

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = build_demo_clip(out_dir / "demo_clip.mp4")
    note(f"demo clip written to {clip}")
    args.videos, args.out, args.start, args.end = [str(clip)], str(out_dir / "result"), 0.0, None
    return cmd_run(args)


def cmd_expert(args: argparse.Namespace) -> int:
    from cer.pipeline.single_expert import run_expert

    profile = _load_profile(args)
    for record in run_expert(args.name, args.input, profile, text_kind=args.kind):
        print(json.dumps(record), flush=True)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from cer.pipeline import model_store

    if args.action == "list":
        print(model_store.format_rows(model_store.model_rows([args.profile] if args.profile else None)))
    elif args.action == "check":
        from cer.pipeline.model_check import check_profile, format_check

        rows = check_profile(load_profile(args.profile or "default"))
        print(format_check(rows))
        return 1 if any(row.failed for row in rows) else 0
    elif args.action == "pull":
        model_store.pull(load_profile(args.profile or "default"), report=lambda line: print(line, file=sys.stderr))
    else:
        from cer.modalities.tiny import make_tiny

        profile = load_profile("tiny")
        built = make_tiny(profile.cache_path, force=args.force)
        print(f"built {len(built)} tiny model(s) in {profile.cache_path / 'tiny'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cer.pipeline.evaluation.afew import Afew
    from cer.pipeline.evaluation.affwild2 import AffWild2
    from cer.pipeline.evaluation.cexprdb import CExprDb
    from cer.pipeline.evaluation.corpus import Corpus
    from cer.pipeline.evaluation.run import evaluate

    profile = _load_profile(args)
    corpus: Corpus
    if args.dataset == "afew":
        corpus = Afew(args.root, args.split)
    elif args.dataset == "affwild2":
        corpus = AffWild2(args.videos, args.annotations)
    else:
        corpus = CExprDb(args.videos, args.frame_list, args.labels)
    out_dir = Path(args.out) if args.out else Path("cer-eval") / f"{args.dataset}-{corpus.split}"
    _, report = evaluate(corpus, profile, out_dir)
    print(report)
    print(f"results in {out_dir}/ (report.md, metrics.json, confusion matrices, ablation.csv)")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from cer.pipeline.expert_cache import ExpertCache, describe

    store = ExpertCache(_load_profile(args).expert_cache_path)
    if args.action == "info":
        print(describe(store.info()))
    else:
        removed = store.clear(args.expert)
        print(f"removed {removed} cached window output(s) from {store.path}")
    return 0


def cmd_fusion(args: argparse.Namespace) -> int:
    from cer.fusion.fit import FitOptions
    from cer.pipeline.evaluation.fitting import fit_fusion, format_report

    profile = _load_profile(args)
    options = FitOptions(
        heads=args.heads or profile.fusion.heads,
        max_steps=args.max_steps,
        patience=args.patience,
        temperatures=profile.fusion.temperatures,
    )
    out = Path(args.out)
    report = fit_fusion(args.train, args.dev, args.test, profile, out, options, work_dir=out.parent / f"{out.stem}-videos")
    print(format_report(report))
    print(f"weights written to {out}: use them with --weights {out}, or fusion.weights in a profile")
    return 0


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before the subcommand (`top`) or after it, where they
    default to "not given" so that they never undo the ones given before it."""
    default: object = False if top else argparse.SUPPRESS
    unset: object = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--offline",
        action="store_true",
        default=default,
        help="never download a model (as HF_HUB_OFFLINE=1 or CER_OFFLINE=1); missing models are an error",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="let the libraries cer uses print their own INFO lines and bars (as CER_VERBOSE=1)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=default,
        help="no progress and no notes on standard error, only errors and warnings (as CER_QUIET=1)",
    )
    parser.add_argument(
        "--profile",
        default=unset,
        help=f"one of {', '.join(PROFILE_NAMES)}, or a YAML file (default: {DEFAULT_PROFILE}; serve: $CER_PROFILE first; "
        "models list: every profile)",
    )
    parser.add_argument(
        "--device",
        type=_device,
        default=unset,
        help="where every expert's models run: auto (a GPU when one is visible), cpu, cuda, cuda:N (default: the profile's, auto; "
        "serve: $CER_DEVICE first)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cer", description="Compound expression recognition in videos, zero-shot, from six experts.")
    parser.add_argument("--version", action="version", version=f"cer {version_text()}")
    _global_options(parser, top=True)
    # The global options are also accepted after the subcommand (`cer run clip.mp4 --offline`),
    # as users type them; there they default to "not given", so they never undo the ones before it.
    anywhere = argparse.ArgumentParser(add_help=False)
    _global_options(anywhere, top=False)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A subcommand, taking the global options too."""
        return commands.add_parser(name, parents=[anywhere], **kwargs)

    def with_fusion(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--compound", choices=("ppa", "pfsa"), help="basic-to-compound method (default: from the profile)")
        sub.add_argument("--weights", type=Path, help="MHPF weights file (default: equal weights)")
        sub.add_argument(
            "--persons",
            type=_count,
            metavar="N",
            help="score each person on their own, at most N per window, the most present first; 0: the whole-video view alone "
            "(default: from the profile, 4)",
        )
        sub.add_argument(
            "--vocabulary", help="compound vocabulary: a packaged name (raf_ce) or a YAML file (default: the 7 C-EXPR-DB compounds)"
        )

    def with_ray(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--ray-address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray started and stopped here)")

    run = command("run", help="process one video, or a few one after another (models load once)")
    run.add_argument("videos", nargs="+", metavar="VIDEO")
    run.add_argument("--out", help="output folder; for several videos, the folder of their folders (default: cer-out/VIDEO_NAME)")

    def with_json(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print the result (result.json) on stdout, all else on stderr")

    with_json(run)
    run.add_argument("--start", type=_time, default=0.0, help="analyse from this time on: seconds (90.5) or [H:]M:S (default: 0)")
    run.add_argument("--end", type=_time, help="analyse up to this time (default: the end); times in the outputs stay the video's own")
    with_fusion(run)
    with_ray(run)
    run.add_argument(
        "--engine",
        choices=("auto", "ray", "inprocess"),
        help="experts as parallel Ray actors, one after another here, or auto: chosen from the work (default: from the profile)",
    )
    run.set_defaults(handler=cmd_run)

    live = command("live", help="analyse a camera, a network stream or standard input as it arrives, printing each window's verdict")
    live.add_argument(
        "source", metavar="SOURCE", help="a camera (/dev/video0), a stream URL (rtsp://, http://, rtmp://, ...), or - for standard input"
    )
    written = live.add_mutually_exclusive_group()
    written.add_argument("--out", help="output folder, written when the stream ends or on Ctrl-C (default: cer-out/live-DATE-TIME)")
    written.add_argument("--no-files", action="store_true", help="write no output folder: the verdicts printed are all there is")
    live.add_argument("--format", help="FFmpeg's name for the input when it cannot be guessed: v4l2, avfoundation, dshow, mpegts, ...")
    live.add_argument(
        "--max-latency",
        type=_seconds,
        help="seconds a verdict may come after its window's end; slower experts are skipped (default: the profile's live.max_latency_s, 4)",
    )
    live.add_argument(
        "--json-lines",
        action="store_true",
        help="print each message of the session as a line of JSON on stdout (start, each window as result.json holds it, end), "
        "all else on stderr",
    )
    with_fusion(live)
    live.set_defaults(handler=cmd_live)

    batch = command("batch", help="process many videos; finished ones are skipped on a re-run")
    batch.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="a folder (searched recursively), a glob, or a CSV manifest with a `path` column"
    )
    batch.add_argument("--out", required=True, help="output folder: summary.csv, failures.csv and one folder per video")
    batch.add_argument("--force", action="store_true", help="recompute videos that already have a result.json")
    batch.add_argument("--jobs", type=_at_least_one, help="videos processed at once (default: one per CPU of the Ray cluster)")
    with_fusion(batch)
    with_ray(batch)
    batch.set_defaults(handler=cmd_batch)

    demo = command("demo", help="build the demo clip from packaged assets and run it")
    demo.add_argument("--out", default="cer-demo", help="output folder (default: cer-demo)")
    with_json(demo)
    with_fusion(demo)
    demo.set_defaults(handler=cmd_demo)

    serve = command("serve", help="the HTTP service and its web page (limits: CER_* variables, see README)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--degraded",
        action="store_true",
        help="start even when the profile's models cannot be had: /readyz and the page then say why videos are refused",
    )
    serve.add_argument("--data-dir", type=Path, help="job store and job files (default: $CER_DATA_DIR, else ./cer-serve)")
    serve.set_defaults(handler=cmd_serve)

    expert = command("expert", help="run one expert alone; prints JSON lines")
    expert.add_argument("name", choices=expert_names(), metavar="NAME", help=f"one of {', '.join(expert_names())}")
    expert.add_argument(
        "input", help="a video (every expert); an image (static_face); an audio file (audio, text); a text file or - for stdin (text)"
    )
    expert.add_argument(
        "--kind",
        choices=("transcript", "description"),
        help="text: what the lines are, first-person speech or a third-person description of a face and a scene "
        "(default: the profile's, transcript)",
    )
    expert.set_defaults(handler=cmd_expert)

    models = command("models", help="list, fetch, check or build the models of the profiles")
    models.add_argument("action", choices=("list", "pull", "check", "make-tiny"))
    models.add_argument("--force", action="store_true", help="make-tiny: rebuild even when present")
    models.set_defaults(handler=cmd_models)

    evaluation = command("eval", help="zero-shot evaluation on a dataset (resumable: expert outputs are cached)")
    datasets = evaluation.add_subparsers(dest="dataset", required=True)
    afew = datasets.add_parser("afew", parents=[anywhere], help="AFEW: clips in emotion-named folders, one label per clip")
    afew.add_argument("--root", type=Path, required=True, help="the AFEW folder holding Train_AFEW / Val_AFEW")
    afew.add_argument("--split", default="Val_AFEW", help="split folder (default: Val_AFEW)")
    affwild2 = datasets.add_parser("affwild2", parents=[anywhere], help="AffWild2: per-frame expression labels")
    affwild2.add_argument("--videos", type=Path, required=True, help="folder of the videos")
    affwild2.add_argument("--annotations", type=Path, required=True, help="folder of one .txt per video (the split, e.g. Validation_Set)")
    cexprdb = datasets.add_parser("c-expr-db", parents=[anywhere], help="C-EXPR-DB: the ABAW submission file in the frame list's order")
    cexprdb.add_argument("--videos", type=Path, required=True, help="folder of the videos")
    cexprdb.add_argument("--frame-list", type=Path, required=True, help="the organisers' frame list (an image_location column)")
    cexprdb.add_argument("--labels", type=Path, help="folder of VIDEO.txt frame labels, for metrics (AffWild2 layout, compound names)")
    for sub in (afew, affwild2, cexprdb):
        sub.add_argument(
            "--out", required=sub is cexprdb, help="output folder" + ("" if sub is cexprdb else " (default: cer-eval/DATASET-SPLIT)")
        )
        with_fusion(sub)
        with_ray(sub)
        sub.set_defaults(handler=cmd_eval)

    cache = command("cache", help="the expert-output cache: what it holds, or empty it")
    cache.add_argument("action", choices=("info", "clear"))
    cache.add_argument("--expert", help="clear: only this expert's outputs")
    cache.set_defaults(handler=cmd_cache)

    fusion = command("fusion", help="learn the MHPF fusion weights")
    fusion_actions = fusion.add_subparsers(dest="action", required=True)
    fit = fusion_actions.add_parser("fit", parents=[anywhere], help="fit on train splits, early-stop on dev splits (never C-EXPR-DB)")
    spec = "afew:ROOT:SPLIT or affwild2:VIDEOS:ANNOTATIONS"
    fit.add_argument("--train", nargs="+", required=True, metavar="SPEC", help=f"training splits: {spec}")
    fit.add_argument("--dev", nargs="+", required=True, metavar="SPEC", help="dev splits, for early stopping on macro F1")
    fit.add_argument(
        "--test",
        nargs="*",
        default=[],
        metavar="SPEC",
        help="splits kept for testing (also c-expr-db:VIDEOS:FRAME_LIST): refused as train or dev",
    )
    fit.add_argument("--out", required=True, help="the weights file to write (JSON)")
    fit.add_argument("--heads", type=_at_least_one, help="MHPF heads (default: from the profile)")
    fit.add_argument("--max-steps", type=_at_least_one, default=300, help="optimisation steps at most (default: 300)")
    fit.add_argument("--patience", type=_at_least_one, default=30, help="steps without a better dev macro F1 before stopping (default: 30)")
    with_ray(fit)
    fit.set_defaults(handler=cmd_fusion)
    return parser


def _show_progress_lines() -> None:
    """cer's own lines (models being fetched and loaded, progress off a terminal) on stderr;
    other libraries stay at warnings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cer: %(message)s"))
    cer_log = logging.getLogger("cer")
    cer_log.addHandler(handler)
    cer_log.setLevel(logging.WARNING if switched_on(QUIET) else logging.INFO)
    cer_log.propagate = False


def _error_line(exc: Exception, args: argparse.Namespace) -> str:
    line = f"cer: error: {exc}"
    if isinstance(exc, ModelNotAvailable) and getattr(args, "profile", None) not in ("offline", "tiny"):
        line += f"\ncer: hint: {OFFLINE_HINT}"
    return line


def _service_variables() -> list[str]:
    try:
        from cer.serving.settings import variable_names
    except ImportError:  # the service's packages are the optional `serve` extra
        return []
    return variable_names()


def main(argv: Sequence[str] | None = None) -> int:
    from cer.pipeline.ray_runtime import require_token_auth

    require_token_auth()  # before anything imports Ray, which reads it then
    args = build_parser().parse_args(argv)
    if args.offline:
        forbid_downloads()
    if args.quiet:
        os.environ[QUIET] = "1"  # inherited by the processes cer starts
    if args.verbose:
        allow_chatter()
    else:
        quiet_third_parties()
    _show_progress_lines()
    for warning in misspelt_variables([*CORE_VARIABLES, *_service_variables()]):
        print(f"cer: warning: {warning}", file=sys.stderr)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        if os.environ.get(DEBUG):
            raise
        print(_error_line(exc, args), file=sys.stderr)
        return 2
    except EngineFault as exc:  # not the user's error, nor a bug of cer's: the run may simply be repeated
        print(f"cer: error: {exc}; no result was written, run it again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG):
            raise
        print(f"cer: internal error: {type(exc).__name__}: {exc} (set CER_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
