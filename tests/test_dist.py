"""The distribution as users install it: the sdist and the wheel (as `make dist` builds them)
hold the whole package, and the wheel, installed into a fresh environment, gives a `cer`
command, an API and a demo that work from outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import cer
from cer.core.result import load_result
from tests.dist_contents import check

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it, as `make dist` builds them, but with the test
    environment's setuptools (--no-isolation): no build environment to download, 4 s."""
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("cer_video-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment holding cer from the wheel alone."""
    fresh = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder().create(fresh)  # without a pip of its own: the test environment's pip installs into it
    python = fresh / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    # The dependencies (torch and the rest, gigabytes) are the test environment's, borrowed through
    # a path file instead of installed from the index: this test checks the wheel's contents and
    # its entry point, not pip's resolver, and runs offline in seconds. The borrowed folder comes
    # after the fresh site-packages on sys.path, and the path files inside it are not run, so the
    # checkout's editable cer (a finder that its own path file installs) stays out.
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    )
    Path(fresh_site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return fresh


def run_installed(fresh: Path, cwd: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`command` of the fresh environment run in `cwd`, a folder outside the checkout."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run([str(fresh / "bin" / command), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_the_sdist_and_the_wheel_hold_the_whole_package(dist: Path) -> None:
    assert check(dist) == []
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}
    assert top_level == {"cer", f"cer_video-{cer.__version__}.dist-info"}


def test_installed_command_and_api_work_outside_the_checkout(fresh: Path, tmp_path: Path) -> None:
    help_text = run_installed(fresh, tmp_path, "cer", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "run" in help_text.stdout and "serve" in help_text.stdout
    version = run_installed(fresh, tmp_path, "cer", "--version")
    assert version.stdout.strip() == f"cer {cer.__version__}"  # no git revision outside a checkout

    probe = (
        "import cer, cer.pipeline, json, sys; "
        "print(json.dumps([cer.Pipeline.__module__, cer.__file__, cer.pipeline.__file__, [f.__module__ for f in sys.meta_path]]))"
    )
    api = run_installed(fresh, tmp_path, "python", "-c", probe)
    assert api.returncode == 0, api.stderr
    module, package, subpackage, finders = json.loads(api.stdout)
    assert module == "cer.pipeline.runner"
    # The checkout's editable finder, were it installed, would fill in any subpackage the wheel lacks
    assert not any(finder.startswith("__editable__") for finder in finders), finders
    assert Path(package).is_relative_to(fresh) and Path(subpackage).is_relative_to(fresh)
    for generic in ("pipeline", "modalities", "fusion", "serving", "configs"):
        imported = run_installed(fresh, tmp_path, "python", "-c", f"import {generic}")
        assert imported.returncode != 0, f"`import {generic}` works: cer installed a generic top-level name"


@pytest.mark.offline
def test_the_installed_demo_runs(fresh: Path, tmp_path: Path) -> None:
    """The README's first run, with the wheel's packaged demo assets and profiles."""
    demo = run_installed(fresh, tmp_path, "cer", "demo", "--profile", "offline", "--out", "demo")
    assert demo.returncode == 0, demo.stderr[-2000:]
    result = load_result(tmp_path / "demo" / "result" / "result.json")
    assert result.cer is not None and (result.cer.version, result.cer.git) == (cer.__version__, None)
    assert result.summary.decision.label == "Happiness"  # the demo clip's smiling face, as the README shows
