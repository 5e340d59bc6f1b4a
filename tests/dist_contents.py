"""What a built distribution of cer must hold, checked against the repository itself.

The package is every file the repository tracks in the folders pyproject.toml maps to `cer`
and its subpackages: modules, configs, schemas, assets, the web page. Deriving that list from
git rather than from pyproject.toml's package-data is the point: a new asset in a folder the
package-data globs do not reach is reported, not silently left out of the wheel.

`make dist` runs this on dist/ (`python -m tests.dist_contents dist`); tests/test_dist.py runs
it on the wheel it builds.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # `build`, in the test extras, brings tomli on 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
# what the sdist needs besides the package to build a wheel: the build configuration and the readme it names
SDIST_EXTRAS = ("pyproject.toml", "README.md")


def package_files(repo: Path = REPO) -> dict[str, str]:
    """Each file the installed package needs: its path in the repository -> its path in the wheel."""
    package_dir: dict[str, str] = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    files: dict[str, str] = {}
    for package, folder in package_dir.items():
        tracked = subprocess.run(["git", "ls-files", "-z", "--", folder], cwd=repo, capture_output=True, text=True, check=True)
        for path in filter(None, tracked.stdout.split("\0")):
            files[path] = package.replace(".", "/") + path[len(folder) :]
    return files


def missing_from_wheel(wheel: Path, repo: Path = REPO) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    return sorted(installed for installed in package_files(repo).values() if installed not in held)


def missing_from_sdist(sdist: Path, repo: Path = REPO) -> list[str]:
    with tarfile.open(sdist) as archive:
        # every member lies under one folder, cer_video-VERSION/
        held = {name.partition("/")[2] for name in archive.getnames()}
    needed = [*package_files(repo), *SDIST_EXTRAS]
    return sorted(path for path in needed if path not in held)


def check(dist: Path) -> list[str]:
    """The problems of the one wheel and the one sdist in `dist`, one line each; none when both are complete."""
    problems: list[str] = []
    for pattern, missing_from in (("cer_video-*.whl", missing_from_wheel), ("cer_video-*.tar.gz", missing_from_sdist)):
        found = sorted(dist.glob(pattern))
        if len(found) != 1:
            problems.append(f"{dist}: expected one {pattern}, found {len(found)}")
            continue
        problems += [f"{found[0].name} lacks {path}" for path in missing_from(found[0])]
    return problems


if __name__ == "__main__":
    problems = check(Path(sys.argv[1]))
    print("\n".join(problems) or "the wheel and the sdist hold every file of the package")
    sys.exit(1 if problems else 0)
