"""A live session's analysis in a process of its own: `cer live - --json-lines --no-files`,
fed the session's media on its standard input, its messages read from its standard output.

A process rather than a thread of the server: the experts' work holds no lock the event loop
needs, a stream that crashes a decoder takes down that session alone, and ending a session is
ending its process, whatever it was doing. It is started in a process group of its own, so
that stopping it stops anything it started too, and it is always waited for (no zombie). Its
environment lacks the API token, which it has no use for.

Everything here runs on the event loop, through asyncio's pipes: nothing blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator

from pydantic import ValidationError

from cer.core.live_messages import LIVE_MESSAGE, LiveMessage
from cer.serving.settings import Settings

# The longest message line read from the process: a window with its persons and transcripts is a
# few kilobytes; a longer line is a fault of the process's, not a reason to hold more memory.
MAX_LINE_BYTES = 2**20
STDERR_LINES = 20  # the last lines of its standard error kept for the server's log
STDERR_LINE_BYTES = 1000
CHILD_ENVIRONMENT_DROPS = ("CER_API_TOKEN",)


class ChildFault(Exception):
    """The process said something that is no message of a live session's."""


def command(settings: Settings) -> list[str]:
    """The `cer live` command line of a session, with the service's profile and device."""
    line = [sys.executable, "-m", "cer", "live", "-", "--json-lines", "--no-files", "--quiet", "--profile", settings.profile]
    return [*line, "--device", settings.device] if settings.device else line


class LiveChild:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    @classmethod
    async def start(cls, settings: Settings) -> LiveChild:
        environment = {name: value for name, value in os.environ.items() if name not in CHILD_ENVIRONMENT_DROPS}
        process = await asyncio.create_subprocess_exec(
            *command(settings),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            limit=MAX_LINE_BYTES,
            start_new_session=True,
        )
        return cls(process)

    async def feed(self, data: bytes) -> bool:
        """Hand the process the stream's next bytes, waiting while its pipe is full (so that a
        client sending faster than the analysis reads is held back); False once it reads no more."""
        stdin = self.process.stdin
        assert stdin is not None  # started with a pipe
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False  # it has ended: its own messages and exit say why
        return True

    def end_input(self) -> None:
        """The stream is over: the process decides the last windows, says `end` and exits."""
        stdin = self.process.stdin
        assert stdin is not None
        if not stdin.is_closing():
            stdin.close()

    async def messages(self) -> AsyncIterator[tuple[str, LiveMessage]]:
        """Each message the process prints, as its line (the typed model's JSON) and the model;
        ChildFault for a line that is no message."""
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except ValueError as exc:  # asyncio's own for a line beyond the limit
                raise ChildFault(f"a line longer than {MAX_LINE_BYTES} bytes ({exc})") from None
            if not line:
                return
            text = line.decode().rstrip("\n")
            try:
                yield text, LIVE_MESSAGE.validate_json(text)
            except ValidationError as exc:
                raise ChildFault(f"a line that is no live message: {exc.error_count()} problems") from None

    async def finish(self) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = await self.process.wait()
        await self._stderr_reader
        return code

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def stop(self) -> None:
        """End the process and whatever it started, at once, and wait for it."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        self._stderr_reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr_reader

    async def _read_stderr(self) -> None:
        """Read its standard error as it comes (a full pipe would stall it), keeping the last lines."""
        stderr = self.process.stderr
        assert stderr is not None
        while True:
            try:
                line = await stderr.readline()
            except ValueError:  # a line beyond the limit: its start stays in asyncio's buffer, dropped
                continue
            if not line:
                return
            self._stderr.append(line[:STDERR_LINE_BYTES].decode(errors="replace").rstrip())
