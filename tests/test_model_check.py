"""`cer models check`: checksums, strict loads and known answers of a profile's cached models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cer.core.config import Profile, load_profile
from cer.core.sources import cached_path
from cer.modalities.tiny import make_tiny
from cer.pipeline.model_check import KNOWN_ANSWERS, check_profile, format_check
from tests.cli_process import cer


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    make_tiny(cache)
    return cache


def tiny_profile(cache: Path) -> Profile:
    return load_profile("tiny", {"cache_dir": str(cache)})


def test_the_tiny_profile_checks_out(tiny_cache: Path) -> None:
    rows = check_profile(tiny_profile(tiny_cache))
    assert {row.model for row in rows} >= {"audio.emotion", "text.asr", "scene.vlm", "clip_labels.clip", "static_face.classifier"}
    assert all(row.load == "ok" for row in rows if not row.model.startswith("faces."))
    assert not any(row.failed for row in rows)
    assert format_check(rows).endswith("every cached model checked out")


def test_a_checkpoint_that_does_not_fit_fails_the_check(tiny_cache: Path, tmp_path: Path) -> None:
    broken = tmp_path / "cache"
    shutil.copytree(tiny_cache, broken)
    weights = broken / "tiny" / "speech_emotion" / "pytorch_model.bin"
    state = torch.load(weights, weights_only=True)
    state["classifier.dense.renamed"] = state.pop("classifier.dense.bias")
    torch.save(state, weights)
    rows = {row.model: row for row in check_profile(tiny_profile(broken))}
    assert rows["audio.emotion"].failed and "classifier.dense.bias" in rows["audio.emotion"].load
    assert not rows["text.asr"].failed
    table = format_check(list(rows.values()))
    assert "audio.emotion: failed: ModelLoadError" in table and table.endswith("model(s) failed")


def test_the_command_checks_the_offline_profile() -> None:
    ok = cer("models", "check", "--profile", "offline")
    assert ok.returncode == 0, ok.stderr
    assert "strict load" in ok.stdout and "text.emotion" in ok.stdout and "every cached model checked out" in ok.stdout


def test_nothing_cached_is_said_and_is_no_failure(tmp_path: Path) -> None:
    rows = check_profile(load_profile("default", {"cache_dir": str(tmp_path)}))
    assert rows and all(row.checksum == "not cached" for row in rows if not row.source.startswith("pypi:"))
    assert not any(row.failed for row in rows)


@pytest.mark.hub
def test_the_text_classifier_gives_its_model_cards_answer() -> None:
    """Needs the real j-hartmann weights in the cache (`cer models pull`); skipped elsewhere."""
    profile = load_profile("default")
    known = KNOWN_ANSWERS[0]
    if cached_path(profile.experts["text"].models["emotion"], profile.cache_path) is None:
        pytest.skip("the published j-hartmann classifier is not cached here (no hub access); `cer models pull` fetches it")
    rows = {row.model: row for row in check_profile(profile)}
    assert rows["text.emotion"].probe.startswith("ok"), rows["text.emotion"].probe
    assert known.label == "Happiness"


@pytest.mark.parametrize("profile_name", ["default", "paper"])
def test_every_hub_model_declares_its_download_and_the_docs_state_the_total(profile_name: str) -> None:
    from cer.pipeline.model_store import format_rows, model_rows

    rows = [row for row in model_rows([profile_name]) if not row.source.startswith("pypi:")]
    assert rows and all(row.download_mb for row in rows), [row.role for row in rows if not row.download_mb]
    total_line = next(line for line in format_rows(rows).splitlines() if line.startswith(f"{profile_name}:"))
    total = total_line.split(": ", 1)[1].split(" from ")[0]  # e.g. "10.3 GB"
    docs = Path(__file__).parents[1]
    for page in ("README.md", "docs/models.md"):
        assert total in (docs / page).read_text(), f"{page} does not state the {profile_name} profile's {total}"


def test_a_repository_source_lists_the_files_its_loader_reads() -> None:
    for profile_name in ("default", "paper"):
        for role, ref in load_profile(profile_name).all_models().items():
            if ref.source.startswith("hf:") and ref.source.count("/") == 1:
                assert ref.files, f"{profile_name}: {role} would fetch its whole repository"


@pytest.mark.hub
@pytest.mark.parametrize("profile_name", ["default", "paper"])
def test_every_cached_published_model_loads_exactly(profile_name: str) -> None:
    """Wherever the published weights are cached: every one loads strictly and gives its card's answers."""
    profile = load_profile(profile_name)
    rows = check_profile(profile)
    if all(row.load in ("not cached", "-") for row in rows):
        pytest.skip(f"no expert of the {profile_name} profile has its published weights cached here (`cer models pull`)")
    assert not any(row.failed for row in rows), format_check(rows)
