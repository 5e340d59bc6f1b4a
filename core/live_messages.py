"""What a live session says as it goes, one message at a time: `cer live --json-lines` prints
each as a line, and the service's WebSocket (/v1/live) sends each as a text message.

A session says `start` once the stream is open and the profile loaded, `window` for each window
as it is decided (the window in result.json's shape, and each person's), and `end` when the
stream has ended; or `error` when the stream is no video it can read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from cer.core.media import MediaProblem
from cer.core.result_records import Labels, Record, Summary, WindowResult


class LiveStart(Record):
    type: Literal["start"] = "start"
    source: str = Field(description="the source as result.json names it (`stdin` for standard input)")
    profile: str
    labels: Labels = Field(description="the labels every window's verdict names, as in result.json")
    experts: list[str] = Field(description="the experts enabled, in the profile's order")


class PersonWindow(Record):
    person: Annotated[int, Field(ge=1)] = Field(description="the person's id, as in result.json's persons")
    window: Annotated[WindowResult, Field(description="the person's own record of the window")]


class LiveWindow(Record):
    type: Literal["window"] = "window"
    window: WindowResult = Field(description="the window as result.json's windows hold it, with its latency_s")
    persons: list[PersonWindow] = Field(description="each person scored in the window, the most present first")


class LiveEnd(Record):
    type: Literal["end"] = "end"
    summary: Summary | None = Field(description="the decision of what was seen, as result.json's summary; none: no window was decided")
    interrupted: bool = Field(description="the session was stopped (Ctrl-C) before the stream ended")


class LiveError(Record):
    type: Literal["error"] = "error"
    problem: MediaProblem = Field(description="what is wrong with the stream, as a stable code")
    message: str


LiveMessage = LiveStart | LiveWindow | LiveEnd | LiveError
# reads any of them from its JSON, by its `type`
LIVE_MESSAGE: TypeAdapter[LiveMessage] = TypeAdapter(Annotated[LiveMessage, Field(discriminator="type")])
