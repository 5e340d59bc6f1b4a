"""The `cer` command line. Errors a user can fix print one line and exit 2; no tracebacks
unless CER_DEBUG=1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modalities.sources import ModelNotAvailable
from pipeline.config import PROFILE_NAMES, ConfigError, load_profile
from pipeline.media import MediaError

USER_ERRORS = (MediaError, ConfigError, ModelNotAvailable, FileNotFoundError, ValueError)


def _profile_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "compound", None):
        overrides["compound"] = {"method": args.compound}
    if getattr(args, "weights", None):
        overrides["fusion"] = {"weights": str(args.weights)}
    return overrides


def _progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="window", file=sys.stderr, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.outputs.terminal import summary_table
    from pipeline.runner import Pipeline

    profile = load_profile(args.profile, _profile_overrides(args))
    out_dir = Path(args.out) if args.out else Path("cer-out") / Path(args.video).stem
    print(f"cer: loading the {profile.name} profile ...", file=sys.stderr)
    with Pipeline(profile) as pipeline:
        update, close = _progress_bar(Path(args.video).name)
        try:
            result = pipeline.run(args.video, out_dir, progress=update)
        finally:
            close()
    print(summary_table(result))
    print(f"\nresults in {out_dir}/ (result.json, windows.csv, frames.csv, timeline.png, report.html)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import build_demo_clip

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = build_demo_clip(out_dir / "demo_clip.mp4")
    print(f"cer: demo clip written to {clip}", file=sys.stderr)
    args.video, args.out = str(clip), str(out_dir / "result")
    return cmd_run(args)


def cmd_expert(args: argparse.Namespace) -> int:
    from pipeline.single_expert import run_expert

    profile = load_profile(args.profile)
    for record in run_expert(args.name, args.input, profile):
        print(json.dumps(record), flush=True)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pipeline import model_store

    if args.action == "list":
        print(model_store.format_rows(model_store.model_rows([args.profile] if args.profile else None)))
    elif args.action == "pull":
        model_store.pull(load_profile(args.profile or "default"), report=lambda line: print(line, file=sys.stderr))
    else:
        from modalities.tiny import make_tiny

        profile = load_profile("tiny")
        built = make_tiny(profile.cache_path, force=args.force)
        print(f"built {len(built)} tiny model(s) in {profile.cache_path / 'tiny'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cer", description="Compound expression recognition in videos, zero-shot, from six experts.")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_profile(sub: argparse.ArgumentParser, default: str | None = "offline") -> None:
        sub.add_argument("--profile", default=default, help=f"one of {', '.join(PROFILE_NAMES)}, or a YAML file (default: {default})")

    def with_fusion(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--compound", choices=("ppa", "pfsa"), help="basic-to-compound method (default: from the profile)")
        sub.add_argument("--weights", type=Path, help="MHPF weights file (default: equal weights)")

    run = commands.add_parser("run", help="process one video")
    run.add_argument("video")
    run.add_argument("--out", help="output folder (default: cer-out/VIDEO_NAME)")
    with_profile(run, "default")
    with_fusion(run)
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="build the demo clip from packaged assets and run it")
    demo.add_argument("--out", default="cer-demo", help="output folder (default: cer-demo)")
    with_profile(demo)
    with_fusion(demo)
    demo.set_defaults(handler=cmd_demo)

    expert = commands.add_parser("expert", help="run one expert alone; prints JSON lines")
    expert.add_argument("name", help="static_face, dynamic_face, audio or text")
    expert.add_argument("input", help="an image, a video, an audio file, or for text: a text file or - for stdin")
    with_profile(expert)
    expert.set_defaults(handler=cmd_expert)

    models = commands.add_parser("models", help="list, fetch or build the models of the profiles")
    models.add_argument("action", choices=("list", "pull", "make-tiny"))
    models.add_argument("--profile", help="restrict to one profile (pull: the profile to fetch, default: default)")
    models.add_argument("--force", action="store_true", help="make-tiny: rebuild even when present")
    models.set_defaults(handler=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        if os.environ.get("CER_DEBUG"):
            raise
        print(f"cer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("CER_DEBUG"):
            raise
        print(f"cer: internal error: {type(exc).__name__}: {exc} (set CER_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
