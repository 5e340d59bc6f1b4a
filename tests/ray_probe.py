"""Run as `python -m tests.ray_probe`: starts Ray as cer starts it, with a stale marker of
another cluster left in Ray's temp folder, and prints as JSON who listens where and whether a
client without the cluster's token gets in. (A process of its own: Ray reads its
authentication mode when it is imported, and the test process imported it long ago.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cer.pipeline.ray_runtime import ray_session

LOOPBACK = ("127.", "[::1]", "::1")
INTRUDER = "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR')"


def listeners() -> list[dict[str, object]]:
    """Every TCP listening socket outside loopback, with its process's name and authentication
    mode (read from its environment; Ray's Python processes rename themselves, which can
    overwrite that record, so only the native servers' is telling)."""
    table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in table.splitlines():
        fields = line.split()
        local, process = fields[3], fields[-1]
        if local.startswith(LOOPBACK) or "pid=" not in process:
            continue
        pid = int(process.split("pid=")[1].split(",")[0])
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        mode = next((item.split(b"=", 1)[1].decode() for item in environ if item.startswith(b"RAY_AUTH_MODE=")), None)
        found.append({"address": local, "pid": pid, "process": process.split('"')[1], "auth_mode": mode})
    return found


def main() -> None:
    from ray._common.utils import get_ray_address_file

    marker = Path(get_ray_address_file(None))
    marker.parent.mkdir(parents=True, exist_ok=True)
    kept = marker.read_bytes() if marker.exists() else None
    marker.write_text("127.0.0.1:9")  # a cluster that is not there: Ray must not try to join it
    try:
        with ray_session():
            import ray

            gcs = ray.get_runtime_context().gcs_address
            sockets = [entry for entry in listeners() if "ray" in Path(f"/proc/{entry['pid']}/cmdline").read_text(errors="replace")]
            # a client that knows the address but not the token
            stranger = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH")}
            stranger |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "x" * 32}
            intruder = subprocess.run([sys.executable, "-c", INTRUDER, gcs], capture_output=True, text=True, env=stranger, timeout=120)
    finally:
        if kept is None:
            marker.unlink(missing_ok=True)
        else:
            marker.write_bytes(kept)
    print(json.dumps({"sockets": sockets, "intruder_rc": intruder.returncode, "intruder_error": intruder.stderr[-2000:]}))


if __name__ == "__main__":
    main()
