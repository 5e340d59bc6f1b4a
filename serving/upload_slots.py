"""The uploads being received, counted against CER_MAX_UPLOADS and the bytes they announce
against CER_MAX_UPLOAD_BYTES_IN_FLIGHT: slow or stalled clients cannot hold more connections,
folders and disk than that."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cer.serving.errors import ApiError

RETRY_AFTER_S = 10  # uploads in progress end (or time out) within seconds, not minutes


class UploadSlots:
    """Used from the event loop only, where nothing runs between a check and its update, so no
    lock is needed."""

    def __init__(self, max_uploads: int, max_bytes: int) -> None:
        self.max_uploads = max_uploads
        self.max_bytes = max_bytes
        self.uploads = 0
        self.bytes = 0

    @contextmanager
    def hold(self, size_bytes: int) -> Iterator[None]:
        """A slot for an upload of (at most) `size_bytes`, while the block runs; ApiError 429
        when there is none."""
        if self.uploads >= self.max_uploads:
            raise self._busy(f"{self.uploads} uploads are arriving already, the most this server takes at once")
        if self.bytes + size_bytes > self.max_bytes:
            raise self._busy(f"the uploads arriving already take {self.bytes} of the {self.max_bytes} bytes this server receives at once")
        self.uploads += 1
        self.bytes += size_bytes
        try:
            yield
        finally:
            self.uploads -= 1
            self.bytes -= size_bytes

    @staticmethod
    def _busy(why: str) -> ApiError:
        return ApiError(429, "too_many_uploads", f"{why}; try again in {RETRY_AFTER_S} s", headers={"Retry-After": str(RETRY_AFTER_S)})
