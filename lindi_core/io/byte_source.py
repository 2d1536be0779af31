"""The interface every byte source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod


class ByteSource(ABC):
    """Reads byte ranges of one kind of location."""

    @abstractmethod
    async def read(self, where: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (``length < 0``: to the end of the file)."""

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release connections and handles."""
