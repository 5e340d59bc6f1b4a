"""A real small filesystem for the disk-full and read-only tests: a tmpfs of a few MiB, mounted
in a mount namespace of its own (`unshare`, no privileges needed where user namespaces are
allowed) and reached from the test process through /proc/PID/root of the process holding it.

Files opened through that path land on the tmpfs. SQLite resolves the /proc link to `/` and
would not, so a job store cannot live there; job folders and the data folder's lock can."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

FILLER_CHUNK = b"\0" * 2**16


@dataclass
class SmallDisk:
    path: Path  # the tmpfs's root, as this process reaches it
    mount_point: Path  # the same, as the holder sees it
    holder: subprocess.Popen[bytes]

    def fill(self) -> None:
        """Write a filler file until the disk is full."""
        with open(self.path / "filler", "wb") as out:
            try:
                while True:
                    out.write(FILLER_CHUNK)
                    out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def set_read_only(self, read_only: bool) -> None:
        mode = "ro" if read_only else "rw"
        enter = ["nsenter", "-t", str(self.holder.pid), "-U", "-m", "--preserve-credentials"]
        subprocess.run([*enter, "mount", "-o", f"remount,{mode}", str(self.mount_point)], check=True)


@contextmanager
def small_disk(tmp_path: Path, size_mib: int = 4, read_only: bool = False) -> Iterator[SmallDisk]:
    """Skips the test where user and mount namespaces are not allowed."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("unshare and nsenter (util-linux) are needed for a small tmpfs")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    options = f"size={size_mib}m" + (",ro" if read_only else "")
    script = f"mount -t tmpfs -o {options} tmpfs {mount_point} && echo mounted && exec sleep infinity"
    holder = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"mounted":
            holder.wait(10)
            assert holder.stderr is not None
            pytest.skip(f"no tmpfs in a user namespace here: {holder.stderr.read().decode().strip()}")
        yield SmallDisk(Path(f"/proc/{holder.pid}/root{mount_point}"), mount_point, holder)
    finally:
        holder.kill()
        holder.wait()
