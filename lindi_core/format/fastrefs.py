"""Reading the chunk references of a large reference file without a Python object per ref.

A translated file can hold millions of ``"key": [url, offset, length]`` entries. A JSON
parser makes a dict entry, a list, a string and two ints of each (hundreds of bytes and a
microsecond or more apiece), only for them to be packed into columns again. This module finds
the plain chunk-ref entries directly in the raw bytes with NumPy and hands the *rest* of the
document (metadata, inline data, odd refs) to the JSON parser.

How: the only bytes that shape a JSON document outside its strings are brackets, braces,
commas and colons. One pass over the bytes finds the quotes and the brackets and braces (the
"tokens"); the running count of quotes tells which brackets lie inside strings. In the token
stream a plain ref entry directly inside ``"refs"`` is exactly ``" " [ " " ]`` (key, url,
list) with the ``[`` at depth 2. What lies *between* those tokens (the colon, the commas, the
two numbers, whitespace) is short, so it is checked and parsed a batch of entries at a time
as rows of a small 2-D array. No per-byte running sum over the whole file is needed.

Any entry that is not exactly a plain ref (a number that is not a plain non-negative JSON
integer, a key that is not chunk coordinates, an escape in its key or URL, odd separators) is
simply left in the document for the JSON parser, which then gives the same result, or the same
error, as it would for the whole file. The module declines (returns None) only when it cannot
find the ``"refs"`` object; the caller then parses the whole file the ordinary way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUOTE, BACKSLASH, SLASH, DOT, COMMA, COLON, SPACE, ZERO = 34, 92, 47, 46, 44, 58, 32, 48
OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE = 91, 93, 123, 125
JSON_WHITESPACE = b" \t\n\r"
BLOCK = 1 << 22  # bytes scanned at a time when looking for tokens (bounds the temporary masks)
BATCH = 1 << 16  # entries checked at a time (bounds the 2-D row arrays)
MAX_DIGITS = 18  # a JSON integer of up to 18 digits fits int64
TOKENS_PER_ENTRY = 6  # " " [ " " ]
MAX_GAP = 256  # longest run of separators and whitespace between two tokens of a plain entry
MAX_TEXT = 512  # longest parent path or URL of a plain entry (longer ones go to the JSON parser)


POWERS_OF_TEN = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)


@dataclass
class ChunkRefRun:
    """Consecutive plain chunk refs of one parent path."""

    parent: str
    url_texts: list[str]  # raw URL text (templates not expanded), one per url run
    url_run_index: np.ndarray  # per ref: index into url_texts
    coordinates: np.ndarray  # (n, ndim) chunk grid coordinates ("0" of a 0-d array: [[0]])
    ndim: int
    offsets: np.ndarray
    lengths: np.ndarray


@dataclass
class SplitDocument:
    """The document without its plain chunk refs, plus those refs in columns."""

    rest: bytes  # valid JSON if the original was: the plain chunk-ref entries removed from "refs"
    runs: list[ChunkRefRun]


@dataclass
class _Entries:
    """Candidate plain entries: positions of their tokens and of their neighbours."""

    key_open: np.ndarray
    key_close: np.ndarray
    list_open: np.ndarray
    url_open: np.ndarray
    url_close: np.ndarray
    list_close: np.ndarray
    previous: np.ndarray  # position of the token before the key (end of the previous entry, or "{")
    following: np.ndarray  # position of the token after the list (next key, or the closing "}")
    first_in_refs: np.ndarray  # bool: the entry follows "{" directly
    last_in_refs: np.ndarray  # bool: "}" follows the entry directly
    token_index: np.ndarray  # index of the "[" token (consecutive entries are TOKENS_PER_ENTRY apart)

    def __len__(self) -> int:
        return len(self.key_open)

    def select(self, mask: np.ndarray) -> _Entries:
        return _Entries(**{name: value[mask] for name, value in vars(self).items()})


def split(data: bytes) -> SplitDocument | None:
    """Separate the plain chunk refs from the rest of a reference file, or None to decline."""
    if not data or len(data) >= 2**31 - 1:
        return None  # positions are kept as int32
    a = np.frombuffer(data, dtype=np.uint8)
    tokens = _tokens(a, data)
    if tokens is None:
        return None
    position, kind = tokens
    opens = (kind == OPEN_BRACKET) | (kind == OPEN_BRACE)
    closes = (kind == CLOSE_BRACKET) | (kind == CLOSE_BRACE)
    depth_after = np.cumsum(opens.astype(np.int32) - closes, dtype=np.int32)
    depth_before = depth_after - opens + closes
    if depth_after[-1] != 0 or (depth_after < 0).any():
        return None
    refs = _refs_tokens(data, position, kind, depth_before, depth_after)
    if refs is None:
        return None
    first, last = refs
    entries = _candidate_entries(data, a, position, kind, depth_before, first, last)
    if not len(entries):
        return SplitDocument(data, [])
    checked = _check_and_parse(data, a, entries)
    if checked is None:
        return None
    plain, offsets, lengths, coordinates, ndims, same_parent, same_url, name_start = checked
    if not plain.any():
        return SplitDocument(data, [])
    # An entry starts a new run where the one before it was not kept, or differs in parent or ndim.
    index = np.flatnonzero(plain)
    after_kept = np.zeros(len(index), dtype=bool)
    after_kept[1:] = np.diff(index) == 1
    new_run = ~(after_kept & same_parent[index] & (ndims[index] == np.roll(ndims, 1)[index]))
    new_url = ~(after_kept & same_url[index])
    kept = entries.select(plain)
    runs = _runs(data, kept, name_start[plain], new_run, new_url, coordinates[plain], ndims[plain],
                 offsets[plain], lengths[plain])
    if runs is None:
        return None
    rest = _without_entries(data, position[first], position[last], kept)
    return SplitDocument(rest, runs)


# -- tokens -----------------------------------------------------------------------------------
def _tokens(a: np.ndarray, data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions (int32) and bytes of the string quotes and of the brackets and braces that lie
    outside strings, in document order."""
    parts = []
    for start in range(0, len(a), BLOCK):
        part = a[start : start + BLOCK]
        # '[' ']' '{' '}' are the bytes b with b & 0xD9 == 0x59 (with 'Y', '_', 'y' and DEL,
        # dropped below): one mask instead of four comparisons.
        mask = (part == QUOTE) | ((part & 0xD9) == 0x59)
        parts.append(np.flatnonzero(mask).astype(np.int32) + np.int32(start))
    position = np.concatenate(parts)
    kind = a[position]
    keep = (kind == QUOTE) | (kind == OPEN_BRACKET) | (kind == CLOSE_BRACKET) | (kind == OPEN_BRACE) | (kind == CLOSE_BRACE)
    position, kind = position[keep], kind[keep]
    if data.find(b"\\") >= 0:
        escaped = _escaped_quotes(a, position[kind == QUOTE])
        if escaped is None:
            return None
        if len(escaped):
            keep = ~np.isin(position, escaped, assume_unique=True)
            position, kind = position[keep], kind[keep]
    is_quote = kind == QUOTE
    quotes_before = np.cumsum(is_quote, dtype=np.int32) - is_quote
    if not len(position) or (quotes_before[-1] + is_quote[-1]) % 2:
        return None
    outside = is_quote | ((quotes_before & 1) == 0)
    return position[outside], kind[outside]


def _escaped_quotes(a: np.ndarray, quotes: np.ndarray) -> np.ndarray | None:
    """The quote positions that are escaped inside a string (an odd run of backslashes before)."""
    suspicious = quotes[(quotes > 0) & (a[np.maximum(quotes - 1, 0)] == BACKSLASH)]
    if len(suspicious) > 1_000_000:
        return None  # a document made of escapes is not the kind this reader is for
    escaped = []
    for position in suspicious.tolist():
        run = 0
        while position - run - 1 >= 0 and a[position - run - 1] == BACKSLASH:
            run += 1
        if run % 2:
            escaped.append(position)
    return np.asarray(escaped, dtype=np.int32)


def _refs_tokens(data: bytes, position: np.ndarray, kind: np.ndarray, depth_before: np.ndarray,
                 depth_after: np.ndarray) -> tuple[int, int] | None:
    """Token indices of the '{' that opens the top-level "refs" value and of its '}'."""
    for t in np.flatnonzero((kind == OPEN_BRACE) & (depth_before == 1)).tolist():
        if t < 2 or kind[t - 1] != QUOTE or kind[t - 2] != QUOTE:
            continue
        key = data[position[t - 2] + 1 : position[t - 1]]
        if key == b"refs" and data[position[t - 1] + 1 : position[t]].strip(JSON_WHITESPACE) == b":":
            closing = t + np.flatnonzero((kind[t:] == CLOSE_BRACE) & (depth_after[t:] == 1))
            return (t, int(closing[0])) if len(closing) else None
    return None


def _candidate_entries(data: bytes, a: np.ndarray, position: np.ndarray, kind: np.ndarray,
                       depth_before: np.ndarray, first: int, last: int) -> _Entries:
    """Entries of "refs" whose tokens are exactly ``" " [ " " ]``.

    After a '[' outside strings the next quote opens a string and the one after closes it, so
    the token shape alone pairs the quotes: no quote parity is needed here."""
    t = first + 3 + np.flatnonzero(kind[first + 3 : last - 3] == OPEN_BRACKET)
    t = t[(depth_before[t] == 2) & (kind[t - 2] == QUOTE) & (kind[t - 1] == QUOTE) & (kind[t + 1] == QUOTE)
          & (kind[t + 2] == QUOTE) & (kind[t + 3] == CLOSE_BRACKET)
          & ((kind[t + 4] == QUOTE) | (t + 4 == last)) & (kind[t - 3] != OPEN_BRACKET)]
    entries = _Entries(
        key_open=position[t - 2], key_close=position[t - 1], list_open=position[t], url_open=position[t + 1],
        url_close=position[t + 2], list_close=position[t + 3], previous=position[t - 3], following=position[t + 4],
        first_in_refs=t - 3 == first, last_in_refs=t + 4 == last, token_index=t)
    if len(entries) and data.find(b"\\") >= 0:
        # An escape inside a key or URL: the JSON parser decodes those entries.
        backslashes = np.flatnonzero(a == BACKSLASH)
        inside = np.searchsorted(backslashes, entries.url_close) > np.searchsorted(backslashes, entries.key_open)
        entries = entries.select(~inside)
    return entries


# -- checking and parsing the bytes between tokens --------------------------------------------
# The spans between tokens are gathered as the *columns* of a (width, n) array: byte k of every
# span is one contiguous row, so each check is a handful of whole-vector operations instead of
# a short reduction per span (which NumPy does slowly).
def _columns(a: np.ndarray, start: np.ndarray, stop: np.ndarray,
             limit: int = MAX_GAP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte k of each span [start, stop) in row k of a (width, n) array (spaces past the end),
    each span's length, and whether it is at most ``limit`` bytes long (longer spans are cut
    there: their entries are left to the JSON parser, and memory stays bounded)."""
    length = (stop - start).astype(np.int32)
    fits = length <= limit
    length = np.minimum(length, limit)
    width = max(int(length.max(initial=0)), 1)
    index = start[None, :].astype(np.int32) + np.arange(width, dtype=np.int32)[:, None]
    if int(start.max(initial=0)) + width > len(a):
        np.minimum(index, len(a) - 1, out=index)
    columns = a[index]
    columns[np.arange(width, dtype=np.int32)[:, None] >= length[None, :]] = SPACE
    return columns, length, fits


def _count(mask: np.ndarray) -> np.ndarray:
    return mask.sum(axis=0, dtype=np.int16)


def _run_starts(mask: np.ndarray) -> np.ndarray:
    """Where a run of True begins in each column."""
    starts = mask.copy()
    starts[1:] &= ~mask[:-1]
    return starts


def _running_count(mask: np.ndarray) -> np.ndarray:
    """Per byte, how many True at or above it in its column (NumPy's cumsum along the first
    axis is slow for short wide arrays; a row at a time is a vector add)."""
    count = np.empty(mask.shape, dtype=np.int8)
    count[0] = mask[0]
    for row in range(1, len(mask)):
        np.add(count[row - 1], mask[row], out=count[row])
    return count


def _digits(columns: np.ndarray) -> np.ndarray:
    return (columns - np.uint8(ZERO)) < 10  # bytes below '0' wrap around to large values


def _whitespace(columns: np.ndarray, also: np.ndarray) -> np.ndarray:
    """Whether each byte is JSON whitespace or marked in ``also``. Most files use only spaces
    and newlines, so tabs and carriage returns are looked for only when something is left."""
    ok = also | (columns == SPACE) | (columns == 10)
    if not ok.all():
        ok |= (columns == 9) | (columns == 13)
    return ok


def _separators_ok(a: np.ndarray, start: np.ndarray, stop: np.ndarray, separator: int,
                   count: np.ndarray | int) -> np.ndarray:
    """Per span: only whitespace and exactly ``count`` ``separator`` bytes."""
    columns, _, fits = _columns(a, start, stop)
    is_separator = columns == separator
    return fits & _whitespace(columns, is_separator).all(axis=0) & (_count(is_separator) == count)


def _colon_and_bracket_ok(a: np.ndarray, key_close: np.ndarray, url_open: np.ndarray) -> np.ndarray:
    """Per entry: between the key and the URL only whitespace, one ':' and after it one '['."""
    columns, _, fits = _columns(a, key_close + 1, url_open)
    colon = columns == COLON
    bracket = columns == OPEN_BRACKET
    colons_before = _running_count(colon)
    ok = fits & _whitespace(columns, colon | bracket).all(axis=0)
    return ok & (_count(colon) == 1) & (_count(bracket & (colons_before == 1)) == 1)


def _two_integers(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per span of the form ``, N , M`` (whitespace anywhere between): whether it has that form
    with N and M plain JSON integers of at most 18 digits, and the (n, 2) values (0 where not)."""
    columns, _, fits = _columns(a, start, stop)
    digit = _digits(columns)
    comma = columns == COMMA
    ok = fits & _whitespace(columns, digit | comma).all(axis=0) & (_count(comma) == 2)
    # Which field each byte is in: 0 before the first comma, 1 between, 2 after the second.
    field = _running_count(comma)
    number_start = _run_starts(digit)
    ok &= ~(digit & (field == 0)).any(axis=0)
    for number in (1, 2):
        ok &= _count(number_start & (field == number)) == 1
        ok &= _count(digit & (field == number)) <= MAX_DIGITS
    # JSON forbids leading zeros ("007"): such text goes to the parser, which rejects it.
    ok &= ~(number_start[:-1] & (columns[:-1] == ZERO) & digit[1:]).any(axis=0)
    values = np.zeros((columns.shape[1], 2), dtype=np.int64)
    for number in (1, 2):
        values[:, number - 1] = np.where(ok, _field_numbers(a, start, digit, field, number), 0)
    return ok, values


def _field_numbers(a: np.ndarray, start: np.ndarray, digit: np.ndarray, field: np.ndarray,
                   number: int) -> np.ndarray:
    """The integer written by the digits of field ``number`` in each column (already checked
    to be one run of at most 18 digits), read from ``a`` left-aligned.

    Text parsing (``np.fromstring``) would have to wade through the whitespace of every span;
    gathering just the digits again, aligned at each number's first digit, makes the work a
    few vector operations per digit position."""
    mask = digit & (field == number)
    rows = np.arange(len(mask), dtype=np.int16)[:, None]
    first = np.where(mask, rows, np.int16(len(mask))).min(axis=0)
    count = np.minimum(_count(mask), MAX_DIGITS)  # longer ones were rejected; keep int64 safe
    width = int(count.max(initial=0))
    values = np.zeros(mask.shape[1], dtype=np.int64)
    if width == 0:
        return values
    index = (start + first)[None, :].astype(np.int32) + np.arange(width, dtype=np.int32)[:, None]
    np.minimum(index, len(a) - 1, out=index)
    digits = a[index] - np.uint8(ZERO)
    digits[np.arange(width, dtype=np.int16)[:, None] >= count] = 0
    # Horner over all rows reads each number with (width - count) zeros appended: divide them off.
    for k in range(width):
        values *= 10
        values += digits[k]
    values //= POWERS_OF_TEN[width - count]
    return values


def _chunk_coordinates(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chunk name like ``3.0.12``: whether it is one, its number of dimensions, and its
    coordinates in the first ``ndim`` columns of an (n, max ndim) array."""
    columns, length, fits = _columns(a, start, stop)
    width = len(columns)
    inside = np.arange(width, dtype=np.int32)[:, None] < length[None, :]
    digit = _digits(columns) & inside
    dot = (columns == DOT) & inside
    component_start = _run_starts(digit)
    dots = _count(dot)
    ok = fits & (length > 0) & (digit | dot | ~inside).all(axis=0) & (_count(component_start) == dots + 1)
    leading_zero = component_start[:-1] & (columns[:-1] == ZERO) & digit[1:]
    ok &= ~leading_zero.any(axis=0)
    if width > MAX_DIGITS:  # no run of more than MAX_DIGITS digits
        window = MAX_DIGITS + 1
        running = np.zeros((width + 1, columns.shape[1]), dtype=np.int16)
        np.cumsum(digit, axis=0, dtype=np.int16, out=running[1:])
        ok &= (running[window:] - running[:-window] < window).all(axis=0)
    ndims = np.where(ok, dots + 1, 0).astype(np.int64)
    coordinates = np.zeros((columns.shape[1], max(int(ndims.max(initial=0)), 1)), dtype=np.int64)
    component = _running_count(component_start)
    for axis in range(coordinates.shape[1]):
        coordinates[:, axis] = np.where(ok, _field_numbers(a, start, digit, component, axis + 1), 0)
    return ok, ndims, coordinates


def _equal_to_previous(a: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """For each span, whether its bytes equal those of the span before it (the first: False)."""
    columns, length, fits = _columns(a, start, stop, MAX_TEXT)
    equal = np.zeros(len(start), dtype=bool)
    equal[1:] = (columns[:, 1:] == columns[:, :-1]).all(axis=0) & (length[1:] == length[:-1]) & fits[1:] & fits[:-1]
    return equal


def _check_and_parse(data: bytes, a: np.ndarray, entries: _Entries):
    """Check the bytes between each candidate's tokens and read its numbers and chunk name.

    Returns (plain, offsets, lengths, coordinates, ndims, same_parent, same_url, name_start),
    arrays over the candidates; ``plain`` marks those that are exactly a plain chunk ref."""
    n = len(entries)
    slashes = np.flatnonzero(a == SLASH).astype(np.int32)
    last_slash = np.searchsorted(slashes, entries.key_close) - 1
    last_slash = np.where(last_slash >= 0, slashes[np.maximum(last_slash, 0)] if len(slashes) else -1, -1)
    has_parent = last_slash > entries.key_open
    parent_stop = np.where(has_parent, last_slash, entries.key_open + 1).astype(np.int32)
    name_start = np.where(has_parent, last_slash + 1, entries.key_open + 1).astype(np.int32)
    del slashes, last_slash, has_parent

    plain = np.zeros(n, dtype=bool)
    offsets = np.zeros(n, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    ndims = np.zeros(n, dtype=np.int64)
    same_parent = np.zeros(n, dtype=bool)
    same_url = np.zeros(n, dtype=bool)
    after_ok = np.zeros(n, dtype=bool)
    coordinate_parts = []
    for begin in range(0, n, BATCH):
        part = slice(begin, min(begin + BATCH, n))
        e = entries.select(part)
        ok = _colon_and_bracket_ok(a, e.key_close, e.url_open)
        after_ok[part] = _separators_ok(a, e.list_close + 1, e.following, COMMA, (~e.last_in_refs).astype(np.int16))
        numbers_ok, values = _two_integers(a, e.url_close + 1, e.list_close)
        names_ok, part_ndims, part_coordinates = _chunk_coordinates(a, name_start[part], e.key_close)
        plain[part] = ok & numbers_ok & names_ok
        offsets[part], lengths[part] = values[:, 0], values[:, 1]
        ndims[part] = part_ndims
        coordinate_parts.append(part_coordinates)
        # Compare with the entry before, the last of the previous batch included.
        with_previous = slice(max(begin - 1, 0), part.stop)
        skip = 1 if begin else 0
        same_parent[part] = _equal_to_previous(a, entries.key_open[with_previous] + 1, parent_stop[with_previous])[skip:]
        same_url[part] = _equal_to_previous(a, entries.url_open[with_previous] + 1, entries.url_close[with_previous])[skip:]
    # The gap before an entry is the gap after the one before it when that one is a candidate
    # too (checked above); only the others are looked at again.
    follows_candidate = np.zeros(n, dtype=bool)
    follows_candidate[1:] = np.diff(entries.token_index) == TOKENS_PER_ENTRY
    before_ok = np.zeros(n, dtype=bool)
    before_ok[1:] = after_ok[:-1]
    others = np.flatnonzero(~follows_candidate)
    e = entries.select(others)
    before_ok[others] = _separators_ok(a, e.previous + 1, e.key_open, COMMA, (~e.first_in_refs).astype(np.int16))
    plain &= after_ok & before_ok
    width = max(p.shape[1] for p in coordinate_parts)
    coordinates = np.zeros((n, width), dtype=np.int64)
    row = 0
    for p in coordinate_parts:
        coordinates[row : row + len(p), : p.shape[1]] = p
        row += len(p)
    return plain, offsets, lengths, coordinates, ndims, same_parent, same_url, name_start


# -- results ----------------------------------------------------------------------------------
def _text(data: bytes, start: int, stop: int) -> str | None:
    """A key or URL as text, or None when it is not text JSON allows unescaped."""
    raw = data[start:stop]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if any(b < 32 for b in raw) else text


def _runs(data: bytes, kept: _Entries, name_start: np.ndarray, new_run: np.ndarray, new_url: np.ndarray,
          coordinates: np.ndarray, ndims: np.ndarray, offsets: np.ndarray,
          lengths: np.ndarray) -> list[ChunkRefRun] | None:
    run_starts = np.flatnonzero(new_run)
    run_stops = np.append(run_starts[1:], len(kept))
    url_run = np.cumsum(new_url, dtype=np.int32) - 1
    url_run_first = np.flatnonzero(new_url)  # the first ref of every url run
    runs = []
    for s, e in zip(run_starts.tolist(), run_stops.tolist()):
        key_open = int(kept.key_open[s])
        parent = _text(data, key_open + 1, max(int(name_start[s]) - 1, key_open + 1))
        distinct, local = np.unique(url_run[s:e], return_inverse=True)
        url_texts = [_text(data, int(kept.url_open[i]) + 1, int(kept.url_close[i]))
                     for i in url_run_first[distinct].tolist()]
        if parent is None or any(text is None for text in url_texts):
            return None
        ndim = int(ndims[s])
        runs.append(ChunkRefRun(parent, url_texts, local.astype(np.int32).ravel(), coordinates[s:e, :ndim], ndim,
                                offsets[s:e], lengths[s:e]))
    return runs


def _without_entries(data: bytes, refs_open: int, refs_close: int, kept: _Entries) -> bytes:
    """The document with the plain entries removed from "refs".

    Each removed entry takes the comma after it along (the separators were checked); when the
    entries removed run up to the closing brace, the comma before them goes instead."""
    group_start = np.ones(len(kept), dtype=bool)
    group_start[1:] = np.diff(kept.token_index) != TOKENS_PER_ENTRY
    starts = np.flatnonzero(group_start)
    ends = np.append(starts[1:], len(kept)) - 1
    pieces = []
    cursor = refs_open + 1
    for s, e in zip(starts.tolist(), ends.tolist()):
        pieces.append(data[cursor : int(kept.key_open[s])])
        cursor = int(kept.list_close[e]) + 1 if kept.last_in_refs[e] else int(kept.following[e])
    pieces.append(data[cursor:refs_close])
    if kept.last_in_refs[ends[-1]] and not kept.first_in_refs[starts[-1]]:
        separator = pieces[-2].rstrip(JSON_WHITESPACE)
        pieces[-2] = separator[:-1]  # the comma between the last kept entry and the removed ones
    return data[: refs_open + 1] + b"".join(pieces) + data[refs_close:]
