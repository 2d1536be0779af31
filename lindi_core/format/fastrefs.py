"""Reading the chunk references of a large reference file without a Python object per ref.

A translated file can hold millions of ``"key": [url, offset, length]`` entries. A JSON
parser makes a dict entry, a list, a string and two ints of each (hundreds of bytes and a
microsecond or more apiece), only for them to be packed into columns again. This module finds
the plain chunk-ref entries directly in the raw bytes with NumPy: it locates the strings and
the bracket structure, reads the numbers, keys and URLs of all plain lists in bulk, and hands
the *rest* of the document (metadata, inline data, odd refs) to the JSON parser.

It handles any whitespace and key order. It declines (returns None, and the caller parses the
whole file the ordinary way) when the bytes hold anything it does not model exactly: escapes
inside a chunk key or URL, numbers that are not plain non-negative integers, and the like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUOTE, BACKSLASH, SLASH, DOT = 34, 92, 47, 46
OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE, COMMA, COLON = 91, 93, 123, 125, 44, 58
WHITESPACE = (32, 9, 10, 13)
BATCH = 1 << 16


def _lookup(*values: int) -> np.ndarray:
    """A 256-entry table that is True at ``values``: one fancy index classifies every byte."""
    table = np.zeros(256, dtype=bool)
    table[list(values)] = True
    return table


STRUCTURAL = _lookup(OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE, COMMA)
IS_DIGIT = _lookup(*range(48, 58))
IS_WHITESPACE = _lookup(*WHITESPACE)
MAX_NUMBER_FIELD = 64  # characters between the separators around one number, whitespace included
MAX_NAME = 64


@dataclass
class ChunkRefRun:
    """Consecutive plain chunk refs of one parent path."""

    parent: str
    url_texts: list[str]  # raw URL text (templates not expanded), one per url run
    url_run_index: np.ndarray  # per ref: index into url_texts
    coordinates: np.ndarray | None  # (n, ndim) chunk grid coordinates, None for "0" of 0-d arrays
    ndim: int
    offsets: np.ndarray
    lengths: np.ndarray


@dataclass
class SplitDocument:
    """The document without its plain chunk refs, plus those refs in columns."""

    rest: bytes  # valid JSON: the original with the plain chunk-ref entries removed from "refs"
    runs: list[ChunkRefRun]


def split(data: bytes) -> SplitDocument | None:
    """Separate the plain chunk refs from the rest of a reference file, or None to decline."""
    if len(data) >= 2**31 - 1:
        return None  # positions are kept as int32
    a = np.frombuffer(data, dtype=np.uint8)
    quotes = _real_quotes(a)
    if quotes is None or len(quotes) % 2:
        return None
    structural = _structural_positions(a, quotes)
    chars = a[structural]
    delta = np.zeros(len(structural), dtype=np.int16)
    delta[(chars == OPEN_BRACKET) | (chars == OPEN_BRACE)] = 1
    delta[(chars == CLOSE_BRACKET) | (chars == CLOSE_BRACE)] = -1
    depth_after = np.cumsum(delta, dtype=np.int16)
    depth_before = depth_after - delta
    del delta
    if len(structural) == 0 or depth_after[-1] != 0:
        return None

    refs_span = _refs_object(data, quotes, structural, chars, depth_before, depth_after)
    if refs_span is None:
        return None
    refs_open, refs_close = refs_span
    in_refs = (structural > refs_open) & (structural < refs_close)
    entry_commas = structural[in_refs & (chars == COMMA) & (depth_before == 2)]
    list_open = structural[in_refs & (chars == OPEN_BRACKET) & (depth_before == 2)]
    list_close = structural[in_refs & (chars == CLOSE_BRACKET) & (depth_after == 2)]
    if len(list_open) != len(list_close) or not len(list_open):
        return SplitDocument(data, []) if len(list_open) == len(list_close) else None
    if (list_close <= list_open).any() or (list_close[:-1] >= list_open[1:]).any():
        return None

    # A plain list holds exactly two separators at its own level and nothing nested.
    openings = structural[(chars == OPEN_BRACE) | (chars == OPEN_BRACKET)]
    nested = (np.searchsorted(openings, list_close) - np.searchsorted(openings, list_open)) != 1
    commas = structural[chars == COMMA]
    first_comma_index = np.searchsorted(commas, list_open)
    comma_count = np.searchsorted(commas, list_close) - first_comma_index
    plain = (comma_count == 2) & ~nested
    if not plain.any():
        return SplitDocument(data, [])
    lo, hi = list_open[plain], list_close[plain]
    c1 = commas[first_comma_index[plain]]
    c2 = commas[first_comma_index[plain] + 1]
    # The structure arrays are done with; what follows works on the plain lists alone.
    del structural, chars, depth_before, depth_after, in_refs, commas, first_comma_index, comma_count
    del openings, nested, plain, list_open, list_close

    url_quote = np.searchsorted(quotes, lo).astype(np.int32)
    if (url_quote + 1 >= len(quotes)).any() or (url_quote < 2).any():
        return None
    url_open, url_close = quotes[url_quote], quotes[url_quote + 1]
    key_close = quotes[url_quote - 1]
    key_open = quotes[url_quote - 2]
    del url_quote, quotes
    if (url_close >= c1).any():
        return None
    if not (_only(a, url_close + 1, c1, ()) and _only(a, lo + 1, url_open, ()) and _is_colon(a, key_close + 1, lo)):
        return None  # the list's first item is not a lone string, or the key is not followed by ':'
    if _contains(a, key_open, url_close, BACKSLASH):
        return None
    offsets = _integers(a, c1 + 1, c2)
    lengths = _integers(a, c2 + 1, hi)
    del lo, c1, c2
    if offsets is None or lengths is None:
        return None

    runs = _runs(data, a, key_open, key_close, url_open, url_close, offsets, lengths)
    if runs is None:
        return None
    rest = _without_entries(a, data, refs_open, refs_close, entry_commas, key_open, hi)
    return None if rest is None else SplitDocument(rest, runs)


def _positions(mask: np.ndarray) -> np.ndarray:
    """Indices of the True entries, as int32 (half the memory of NumPy's default)."""
    return np.flatnonzero(mask).astype(np.int32)


def _find(a: np.ndarray, byte: int, block: int = 1 << 22) -> np.ndarray:
    """Positions of ``byte`` in ``a`` (int32), a block at a time so no full-size mask exists."""
    found = [_positions(a[start : start + block] == byte) + start for start in range(0, len(a), block)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int32)


def _structural_positions(a: np.ndarray, quotes: np.ndarray, block: int = 1 << 22) -> np.ndarray:
    """Positions of brackets, braces and commas outside strings, found a block at a time.

    A byte is inside a string when an odd number of string quotes precede it: the low bit of a
    running (wrapping) uint8 count of them. Blocks keep the temporaries small."""
    found = []
    for start in range(0, len(a), block):
        part = a[start : start + block]
        quote_mask = np.zeros(len(part), dtype=np.uint8)
        first, last = np.searchsorted(quotes, [start, start + len(part)])
        local = quotes[first:last] - start
        quote_mask[local] = 1
        parity = np.cumsum(quote_mask, dtype=np.uint8)
        parity += np.uint8(first & 1)
        found.append(_positions(STRUCTURAL[part] & ((parity & 1) == 0)) + start)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int32)


def _real_quotes(a: np.ndarray) -> np.ndarray | None:
    """Positions of the quote characters that delimit strings (not escaped ones)."""
    quotes = _find(a, QUOTE)
    suspicious = quotes[(quotes > 0) & (a[np.maximum(quotes - 1, 0)] == BACKSLASH)]
    if len(suspicious) > 100_000:
        return None
    escaped = []
    for position in suspicious.tolist():
        run = 0
        while position - run - 1 >= 0 and a[position - run - 1] == BACKSLASH:
            run += 1
        if run % 2:
            escaped.append(position)
    if escaped:
        quotes = np.setdiff1d(quotes, np.asarray(escaped, dtype=quotes.dtype), assume_unique=True)
    return quotes


def _refs_object(data: bytes, quotes: np.ndarray, structural: np.ndarray, chars: np.ndarray,
                 depth_before: np.ndarray, depth_after: np.ndarray) -> tuple[int, int] | None:
    """(position of the '{' of the top-level "refs" value, position of its '}')."""
    candidates = structural[(chars == OPEN_BRACE) & (depth_before == 1)]
    for position in candidates.tolist():
        q = int(np.searchsorted(quotes, position))
        if q < 2:
            continue
        if data[quotes[q - 2] + 1 : quotes[q - 1]] == b"refs" and data[quotes[q - 1] + 1 : position].strip() == b":":
            closing = structural[(structural > position) & (chars == CLOSE_BRACE) & (depth_after == 1)]
            return (position, int(closing[0])) if len(closing) else None
    return None


def _windows(a: np.ndarray, start: np.ndarray, stop: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``width`` bytes from each start, and a mask of the positions before stop."""
    index = start[:, None].astype(np.int32) + np.arange(width, dtype=np.int32)
    valid = index < stop[:, None]
    rows = a[np.minimum(index, len(a) - 1)]
    return rows, valid


def _only(a: np.ndarray, start: np.ndarray, stop: np.ndarray, allowed: tuple) -> bool:
    """Whether the bytes in each [start, stop) are whitespace or in ``allowed``."""
    for begin in range(0, len(start), BATCH):
        s, e = start[begin : begin + BATCH], stop[begin : begin + BATCH]
        width = int((e - s).max(initial=0))
        if width == 0:
            continue
        if width > MAX_NUMBER_FIELD:
            return False
        rows, valid = _windows(a, s, e, width)
        ok = _lookup(*(WHITESPACE + allowed))[rows] | ~valid
        if not ok.all():
            return False
    return True


def _is_colon(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> bool:
    """Whether each [start, stop) is one ':' with whitespace around it."""
    if not _only(a, start, stop, (COLON,)):
        return False
    for begin in range(0, len(start), BATCH):
        s, e = start[begin : begin + BATCH], stop[begin : begin + BATCH]
        rows, valid = _windows(a, s, e, int((e - s).max(initial=1)))
        colons = ((rows == COLON) & valid).sum(axis=1)
        if (colons != 1).any():
            return False
    return True


def _contains(a: np.ndarray, start: np.ndarray, stop: np.ndarray, byte: int) -> bool:
    hits = _find(a, byte)
    if not len(hits):
        return False
    return bool((np.searchsorted(hits, stop) - np.searchsorted(hits, start)).any())


def _integers(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray | None:
    """The non-negative integer written in each [start, stop) (whitespace around allowed)."""
    out = np.empty(len(start), dtype=np.int64)
    for begin in range(0, len(start), BATCH):
        s, e = start[begin : begin + BATCH], stop[begin : begin + BATCH]
        width = int((e - s).max(initial=0))
        if width == 0 or width > MAX_NUMBER_FIELD:
            return None
        rows, valid = _windows(a, s, e, width)
        digit = IS_DIGIT[rows] & valid
        if not (digit | IS_WHITESPACE[rows] | ~valid).all() or digit.sum(axis=1).max() > 18:
            return None
        rows[~valid] = 32
        values = _parse_rows(rows, b",")
        if values is None or len(values) != len(s):
            return None
        out[begin : begin + BATCH] = values
    return out


def _parse_rows(rows: np.ndarray, separator: bytes) -> np.ndarray | None:
    """Parse the numbers of space-padded text rows, each ending where a ``separator`` is added;
    None when some field is not exactly one number.

    NumPy's text parser does the digit work in C (``fromstring`` with a separator); it raises
    on a field that does not parse ("1 2", nothing) and may stop early, so callers also check
    the count of values."""
    text = np.concatenate([rows, np.full((len(rows), 1), separator[0], dtype=np.uint8)], axis=1)
    try:
        return np.fromstring(text.tobytes()[:-1], dtype=np.int64, sep=separator.decode())
    except ValueError:
        return None


def _equal_to_previous(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """For each span, whether its bytes equal those of the span before it (the first: False)."""
    equal = np.zeros(len(start), dtype=bool)
    length = stop - start
    for begin in range(1, len(start), BATCH):
        end = min(begin + BATCH, len(start))
        s, e = start[begin - 1 : end], stop[begin - 1 : end]  # one row of overlap
        rows, valid = _windows(a, s, e, max(int((e - s).max(initial=0)), 1))
        rows = np.where(valid, rows, 0)
        same_bytes = (rows[1:] == rows[:-1]).all(axis=1)
        equal[begin:end] = same_bytes & (length[begin:end] == length[begin - 1 : end - 1])
    return equal


def _runs(data: bytes, a: np.ndarray, key_open: np.ndarray, key_close: np.ndarray, url_open: np.ndarray,
          url_close: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> list[ChunkRefRun] | None:
    slashes = _find(a, SLASH)
    last = (np.searchsorted(slashes, key_close) - 1).astype(np.int32)
    last_slash = np.where(last >= 0, slashes[np.maximum(last, 0)], np.int32(-1))
    del slashes, last
    has_parent = last_slash > key_open
    parent_start = key_open + 1
    parent_stop = np.where(has_parent, last_slash, key_open + 1)
    name_start = np.where(has_parent, last_slash + 1, key_open + 1)
    del last_slash, has_parent
    same_parent = _equal_to_previous(a, parent_start, parent_stop)
    same_url = _equal_to_previous(a, url_open + 1, url_close)
    run_starts = np.flatnonzero(~same_parent)
    run_stops = np.append(run_starts[1:], len(key_open))
    url_run = (np.cumsum(~same_url, dtype=np.int32) - 1)
    url_run_first = _positions(~same_url)  # the first ref of every url run
    del same_url, same_parent
    runs = []
    for s, e in zip(run_starts.tolist(), run_stops.tolist()):
        parent = data[parent_start[s] : parent_stop[s]].decode("utf-8")
        names_start, names_stop = name_start[s:e], key_close[s:e]
        coordinates, ndim = _batched_coordinates(a, names_start, names_stop)
        if ndim < 0:
            return None
        url_ids = url_run[s:e]
        distinct, local = np.unique(url_ids, return_inverse=True)
        firsts = url_run_first[distinct]
        url_texts = [data[url_open[i] + 1 : url_close[i]].decode("utf-8") for i in firsts.tolist()]
        runs.append(ChunkRefRun(parent, url_texts, local.astype(np.int32), coordinates, ndim, offsets[s:e],
                                lengths[s:e]))
    return runs


def _batched_coordinates(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray | None, int]:
    parts = []
    ndim = None
    for begin in range(0, len(start), BATCH):
        coordinates, part_ndim = _chunk_coordinates(a, start[begin : begin + BATCH], stop[begin : begin + BATCH])
        if part_ndim < 0 or (ndim is not None and part_ndim != ndim):
            return None, -1
        ndim = part_ndim
        parts.append(coordinates)
    return np.concatenate(parts), ndim


def _chunk_coordinates(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Grid coordinates from names like ``3.0.12``; ndim -1 when the names are not all such."""
    width = int((stop - start).max(initial=0))
    if width == 0 or width > MAX_NAME:
        return None, -1
    rows, valid = _windows(a, start, stop, width)
    digit = IS_DIGIT[rows] & valid
    dot = (rows == DOT) & valid
    if not (digit | dot | ~valid).all():
        return None, -1
    dots = dot.sum(axis=1)
    if (dots != dots[0]).any():
        return None, -1
    ndim = int(dots[0]) + 1
    # no empty number: no leading dot, no two dots in a row, no trailing dot
    trailing = dot[np.arange(len(rows)), np.maximum(stop - start - 1, 0)]
    if dot[:, 0].any() or (dot[:, 1:] & dot[:, :-1]).any() or trailing.any():
        return None, -1
    if (digit.sum(axis=1) > 18 * ndim).any():
        return None, -1
    rows[~valid] = 32
    values = _parse_rows(rows, b".")
    if values is None or len(values) != len(rows) * ndim:
        return None, -1
    return values.reshape(len(rows), ndim), ndim


def _without_entries(a: np.ndarray, data: bytes, refs_open: int, refs_close: int, entry_commas: np.ndarray,
                     key_open: np.ndarray, list_close: np.ndarray) -> bytes | None:
    """The document with the given refs entries (key through closing bracket) removed; None
    when the entries are not cleanly separated (then the JSON parser must see the original)."""
    bounds = np.concatenate([[refs_open], entry_commas, [refs_close]]).astype(np.int64)
    entry_of = np.searchsorted(bounds, key_open) - 1  # entry index of each removed ref
    if not (_only(a, bounds[entry_of] + 1, key_open, ()) and _only(a, list_close + 1, bounds[entry_of + 1], ())):
        return None
    removed = np.zeros(len(bounds) - 1, dtype=bool)
    removed[entry_of] = True
    kept = np.flatnonzero(~removed)
    pieces = [data[int(bounds[i]) + 1 : int(bounds[i + 1])] for i in kept.tolist()]
    if any(not p.strip() for p in pieces):
        return None  # an empty entry (",," or a trailing comma): invalid JSON, let the parser say so
    return data[: refs_open + 1] + b",".join(pieces) + data[refs_close:]
