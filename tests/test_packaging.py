"""The distribution as users install it: a wheel with one top-level name, `cer`, whose command
and public API work from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import cer

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = out.glob("cer_video-*.whl")
    return found


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"cer", f"cer_video-{cer.__version__}.dist-info"}
    for packaged in (
        "cer/cli.py",
        "cer/pipeline/runner.py",
        "cer/core/sources.py",
        "cer/fusion/mhpf.py",
        "cer/serving/app.py",
        "cer/configs/default.yaml",
        "cer/configs/vocabularies/raf_ce.yaml",
        "cer/modalities/heads/description.npz",
        "cer/pipeline/assets/astronaut.jpg",
        "cer/core/schema/result.v2.json",
        "cer/serving/static/index.html",
    ):
        assert packaged in names, packaged
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_installed_command_and_api_work_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    # A fresh environment holding cer from the wheel alone; its dependencies are borrowed from
    # the test environment through a path file, so that nothing is downloaded again.
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(fresh)
    python = fresh / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    )
    Path(fresh_site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}

    help_text = subprocess.run([str(fresh / "bin" / "cer"), "--help"], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert help_text.returncode == 0, help_text.stderr
    assert "run" in help_text.stdout and "serve" in help_text.stdout
    version = subprocess.run([str(fresh / "bin" / "cer"), "--version"], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert version.stdout.strip() == f"cer {cer.__version__}"  # no git revision outside a checkout

    api = subprocess.run(
        [str(python), "-c", "import cer; print(cer.Pipeline.__module__); print(cer.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert api.returncode == 0, api.stderr
    module, location = api.stdout.split()
    assert module == "cer.pipeline.runner"
    assert Path(location).is_relative_to(fresh)
    for generic in ("pipeline", "modalities", "fusion", "serving", "configs"):
        probe = subprocess.run([str(python), "-c", f"import {generic}"], capture_output=True, text=True, cwd=elsewhere, env=env)
        assert probe.returncode != 0, f"`import {generic}` works: cer installed a generic top-level name"
