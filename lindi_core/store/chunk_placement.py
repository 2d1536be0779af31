"""Placing full-size uncompressed chunks into a result array as NumPy columns: a chunked view
of the result, one copy for many chunks, and a sink that places the chunks of a span while its
bytes still arrive.

A bulk read of tiny chunks (:mod:`lindi_core.store.bulk_reads`, and zarr's road through
:mod:`lindi_core.store.codec_pipeline`) has thousands of chunks in each span it reads. Their
bytes go into the result here, many per NumPy call, never one Python step per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


def chunked_view(part: np.ndarray, counts: Sequence[int], chunks: Sequence[int]) -> np.ndarray:
    """``part`` (a region of whole chunks) viewed as (grid positions..., chunk shape...)."""
    shape = tuple(counts) + tuple(chunks)
    strides = tuple(s * c for s, c in zip(part.strides, chunks)) + part.strides
    return as_strided(part, shape=shape, strides=strides, writeable=True)


def byte_blocks(blocks: np.ndarray, chunks: Sequence[int], itemsize: int) -> np.ndarray:
    """``blocks`` (a region of whole chunks viewed as (grid positions..., chunk shape...), the
    last axis contiguous) as bytes: the last axis of each chunk ``itemsize`` times longer. Chunk
    bytes are copied in as they are, wherever they lie in their span (a view of int64 items at
    an odd address would be copied item by item)."""
    ndim = len(chunks)
    part = as_strided(blocks, shape=tuple(g * c for g, c in zip(blocks.shape[:ndim], chunks)),
                      strides=blocks.strides[ndim:], writeable=True)  # the region the blocks cover
    byte_chunks = tuple(chunks[:-1]) + (chunks[-1] * itemsize,)
    return chunked_view(part.view(np.uint8), blocks.shape[:ndim], byte_chunks)


def place_whole_chunks(blocks: np.ndarray, where: tuple[np.ndarray, ...], flat: np.ndarray, at: np.ndarray,
                       nbytes: int) -> None:
    """Copy the full-size uncompressed chunks found at byte offsets ``at`` of the span ``flat``
    (uint8) to the grid positions ``where`` of ``blocks`` (:func:`byte_blocks`): one NumPy
    assignment for them all (a plain copy where they follow each other in both)."""
    if not len(at):
        return
    if int(at.min()) < 0 or int(at.max()) + nbytes > len(flat):
        raise ValueError(f"a chunk of {nbytes} bytes at offset {int(at.max())} does not lie in the "
                         f"{len(flat)} bytes read for it")
    ndim = len(where)
    first = where[0]
    run = ndim == 1 and int(first[-1]) - int(first[0]) == len(at) - 1 and bool((np.diff(first) == 1).all())
    if len(at) == 1 or bool((np.diff(at) == nbytes).all()):  # one after the other: a view of the span
        values = flat[int(at[0]) : int(at[0]) + len(at) * nbytes].reshape((len(at),) + blocks.shape[ndim:])
    else:
        values = sliding_window_view(flat, nbytes)[at].reshape((len(at),) + blocks.shape[ndim:])
    if run:
        blocks[int(first[0]) : int(first[-1]) + 1] = values  # a run of chunks: one copy
    else:
        blocks[where] = values


class PlacingSink:
    """Where the bytes of one span go as they arrive (a :class:`lindi_core.io.coalesce.RangeSink`):
    straight into the result, so the span is never held whole and its bytes are copied once.

    The chunks are the span's full-size uncompressed ones (all of ``nbytes`` bytes), at offsets
    ``at`` from the span's start, in rising order, going to the grid positions ``where`` of
    ``blocks`` (:func:`byte_blocks`). Where each chunk's bytes are one contiguous run of the
    result and the chunks do not overlap in the span (the usual case: a 1-D array, or chunks
    as wide as the box), each run of chunks that follow each other in both is copied piece by
    piece as it arrives, bytes cut by a piece's end included. Otherwise each piece's whole
    chunks are placed by :func:`place_whole_chunks`, and a chunk cut by a piece's end waits,
    with its bytes seen so far (less than one chunk), for the piece that completes it.

    A restarted read (a retry) places the chunks again from the start; :meth:`check_complete`
    says whether every chunk was placed. With ``keep``, the pieces are kept as they came (no
    copy), for :meth:`span_bytes`: the span's bytes, for a store that remembers what it read."""

    def __init__(self, blocks: np.ndarray, where: tuple[np.ndarray, ...], at: np.ndarray, nbytes: int,
                 keep: bool = False):
        at = np.asarray(at, dtype=np.int64)
        gaps = np.diff(at)  # from each chunk's start to the next one's
        apart = bool((gaps >= nbytes).all())  # (in rising order, and none sharing bytes with another)
        if not apart and not bool((gaps >= 0).all()):
            raise ValueError("the chunks of a span are placed in the order of their offsets")
        for positions, extent in zip(where, blocks.shape):  # (the runs are copied by address: checked here)
            if len(positions) != len(at):
                raise ValueError(f"{len(positions)} grid positions for {len(at)} chunks")
            if len(at) and (int(positions.min()) < 0 or int(positions.max()) >= extent):
                raise ValueError("a chunk's grid position lies outside the blocks it is placed in")
        self.blocks, self.where, self.nbytes, self.at = blocks, where, nbytes, at
        self._runs = self._copy_runs(gaps) if apart and len(at) else None
        if self._runs is None:
            self.ends = at + nbytes
        self.keep = keep
        self.restart()

    def _copy_runs(self, gaps: np.ndarray) -> tuple[list[int], list[int], list[int], memoryview] | None:
        """The runs of chunks that follow each other both in the span and in the result, as
        (span starts, span stops, result offsets, the result's bytes from its first block),
        when every chunk is one contiguous run of the result (the chunks lie apart in the span,
        ``gaps`` from each one's start to the next one's); else None."""
        blocks, at, nbytes = self.blocks, self.at, self.nbytes
        ndim = len(self.where)
        chunk_shape = blocks.shape[ndim:]
        contiguous = [1]
        for extent in reversed(chunk_shape[1:]):
            contiguous.insert(0, contiguous[0] * extent)
        if tuple(blocks.strides[ndim:]) != tuple(contiguous):
            return None
        dest = self.where[0] * blocks.strides[0]
        for w, stride in zip(self.where[1:], blocks.strides[1:ndim]):
            dest += w * stride
        if int(dest.min()) < 0:
            return None
        breaks = np.flatnonzero((gaps != nbytes) | (np.diff(dest) != nbytes)) + 1
        firsts = np.concatenate(([0], breaks))
        lasts = np.append(breaks, len(at))
        # the result's bytes from the first block on, as far as the last chunk placed reaches
        extent = int(dest.max()) + nbytes
        region = memoryview(as_strided(blocks, shape=(extent,), strides=(1,), writeable=True)).cast("B")
        return at[firsts].tolist(), (at[lasts - 1] + nbytes).tolist(), dest[firsts].tolist(), region

    def restart(self) -> None:
        self._placed = 0  # the chunks (or, copying runs, the runs) before this one are in the result
        self._received = 0
        self._carry = b""  # the bytes from _carry_at on of the first chunk not yet complete
        self._carry_at = 0
        self._pieces: list[bytes | memoryview] = []

    def span_bytes(self) -> bytes:
        """The bytes of the span, joined from the pieces kept (``keep``)."""
        if not self.keep:
            raise ValueError("this sink keeps no bytes")
        return b"".join(self._pieces)

    def write(self, position: int, piece: memoryview) -> None:
        if position != self._received:
            raise ValueError(f"the bytes of a span arrive in order: {position} given, {self._received} expected")
        end = position + len(piece)
        if self.keep:  # the piece's own bytes object where it is the whole of it: no copy
            whole = isinstance(piece.obj, bytes) and piece.nbytes == len(piece.obj)
            self._pieces.append(piece.obj if whole else bytes(piece))
        if self._runs is not None:
            self._copy(position, end, piece)
        else:
            self._place_pieces(position, end, piece)
        self._received = end

    def _copy(self, position: int, end: int, piece: memoryview) -> None:
        starts, stops, dests, region = self._runs
        count = len(starts)
        k = self._placed
        # (the loop of a span's runs, tens of thousands in a whole read: kept to plain operations)
        while k < count:
            start, stop = starts[k], stops[k]
            if start >= end:
                break
            lo = start if start > position else position
            if stop > end:  # the rest of this run comes with the next piece
                if lo < end:
                    into = dests[k] + lo - start
                    region[into : into + end - lo] = piece[lo - position :]
                break
            if lo < stop:
                into = dests[k] + lo - start
                region[into : into + stop - lo] = piece[lo - position : stop - position]
            k += 1
        self._placed = k

    def _place_pieces(self, position: int, end: int, piece: memoryview) -> None:
        first = self._placed
        done = int(np.searchsorted(self.ends, end, side="right"))  # chunks whose last byte is in now
        if done > first:
            inside = first + int(np.searchsorted(self.at[first:done], position, side="left"))
            for k in range(first, inside):  # begun in an earlier piece: its bytes put together
                begin = int(self.at[k]) - self._carry_at
                chunk = self._carry[begin:] + bytes(piece[: int(self.ends[k]) - position])
                self._place(k, k + 1, np.frombuffer(chunk, dtype=np.uint8), int(self.at[k]))
            if inside < done:
                self._place(inside, done, np.frombuffer(piece, dtype=np.uint8), position)
        self._placed = done
        if done < len(self.at) and int(self.at[done]) < end:  # a chunk this piece leaves unfinished
            start = int(self.at[done])
            if start >= position:
                self._carry = bytes(piece[start - position :])
            else:
                self._carry = self._carry[start - self._carry_at :] + bytes(piece)
            self._carry_at = start
        else:
            self._carry = b""

    def _place(self, begin: int, end: int, flat: np.ndarray, flat_at: int) -> None:
        where = tuple(w[begin:end] for w in self.where)
        place_whole_chunks(self.blocks, where, flat, self.at[begin:end] - flat_at, self.nbytes)

    def check_complete(self) -> None:
        """Raise unless every chunk of the span was placed (the read ended with all its bytes)."""
        total = len(self._runs[0]) if self._runs is not None else len(self.at)
        if self._placed != total:
            raise ValueError(f"a span read ended after {self._received} bytes, before all of its {len(self.at)} "
                             f"chunks were placed")
