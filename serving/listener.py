"""The server's listening socket, bound by `cer serve` itself before anything loads: a port
that another program holds is one line at once, not an error after every model has loaded,
and nothing can take the port while they load. uvicorn then serves on this socket."""

from __future__ import annotations

import errno
import socket


class PortUnavailable(RuntimeError):
    """The host and port cannot be listened on; the message says why, in one line."""


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait for TIME_WAIT
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"{host}:{port} is in use by another program; choose another port with --port") from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return listener
