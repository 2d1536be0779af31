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
as the columns of a small 2-D array. No per-byte running sum over the whole file is needed.

Any entry that is not exactly a plain ref (a number that is not a plain non-negative JSON
integer, a key that is not canonical chunk coordinates, an escape in its key or URL, odd
separators) is left in the document for the JSON parser. The module declines (returns None)
only when it cannot find the ``"refs"`` object; the caller then parses the whole file the
ordinary way, as it also does when the split document would fail to load or names a key twice
(``jsonio.loads``): both ways give one result for one document.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

QUOTE, BACKSLASH, SLASH, DOT, COMMA, COLON, SPACE, ZERO = 34, 92, 47, 46, 44, 58, 32, 48
OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE = 91, 93, 123, 125
JSON_WHITESPACE = b" \t\n\r"
BLOCK = 1 << 22  # bytes scanned at a time when looking for tokens (bounds the temporary masks)
BATCH = 1 << 14  # entries checked at a time (bounds the 2-D arrays)
MAX_DIGITS = 18  # a JSON integer of up to 18 digits fits int64
MAX_GAP = 256  # longest run of separators and whitespace between two tokens of a plain entry
MAX_TEXT = 512  # longest parent path or URL of a plain entry (longer ones go to the JSON parser)
MAX_ESCAPED_QUOTES = 1_000_000  # beyond this the document is not the kind this reader is for
WORKERS = max(1, min(4, os.cpu_count() or 1))  # threads checking batches of entries
POWERS_OF_TEN = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)
# Token offsets of a plain entry relative to its '[': key quotes, url quotes, ']', neighbours.
KEY_OPEN, KEY_CLOSE, URL_OPEN, URL_CLOSE, LIST_CLOSE, PREVIOUS, FOLLOWING = -2, -1, 1, 2, 3, -3, 4
TOKENS_PER_ENTRY = 6


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
class _Tokens:
    position: np.ndarray  # int32 byte positions, in document order
    kind: np.ndarray  # the byte at each: '"', '[', ']', '{' or '}'
    refs_open: int = -1  # token index of the '{' of the top-level "refs" value
    refs_close: int = -1
    has_backslashes: bool = False  # escapes anywhere in the document

    def at(self, entry_tokens: np.ndarray, offset: int) -> np.ndarray:
        """Byte positions of the token at ``offset`` from each entry's '['."""
        return self.position[entry_tokens + offset]


@dataclass
class _Parsed:
    """What the checks found, one value per candidate entry."""

    plain: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    coordinates: np.ndarray
    ndims: np.ndarray
    name_start: np.ndarray
    same_parent: np.ndarray  # the parent path equals that of the candidate before
    same_url: np.ndarray


def split(data: bytes) -> SplitDocument | None:
    """Separate the plain chunk refs from the rest of a reference file, or None to decline."""
    if not data or len(data) >= 2**31 - 1:
        return None  # positions are kept as int32
    a = np.frombuffer(data, dtype=np.uint8)
    tokens = _tokens(a, data)
    if tokens is None:
        return None
    candidates = _candidate_entries(data, a, tokens)
    if candidates is None:
        return None
    if not len(candidates):
        return SplitDocument(data, [])
    parsed = _check_and_parse(a, tokens, candidates)
    index = np.flatnonzero(parsed.plain)
    if not len(index):
        return SplitDocument(data, [])
    # A run starts where the entry before was not kept, or differs in parent or ndim.
    after_kept = np.zeros(len(index), dtype=bool)
    after_kept[1:] = np.diff(index) == 1
    previous_ndim = parsed.ndims[np.maximum(index - 1, 0)]
    new_run = ~(after_kept & parsed.same_parent[index] & (parsed.ndims[index] == previous_ndim))
    new_url = ~(after_kept & parsed.same_url[index])
    kept = candidates[index]
    if len(index) == len(candidates):  # all plain, the usual case: no copies
        name_start, coordinates, ndims, offsets, lengths = (parsed.name_start, parsed.coordinates, parsed.ndims,
                                                           parsed.offsets, parsed.lengths)
    else:
        name_start, coordinates, ndims, offsets, lengths = (parsed.name_start[index], parsed.coordinates[index],
                                                           parsed.ndims[index], parsed.offsets[index],
                                                           parsed.lengths[index])
    del parsed, candidates
    runs = _runs(data, tokens, kept, new_run, new_url, name_start, coordinates, ndims, offsets, lengths)
    if runs is None:
        return None
    return SplitDocument(_without_entries(data, tokens, kept), runs)


# -- tokens -----------------------------------------------------------------------------------
def _tokens(a: np.ndarray, data: bytes) -> _Tokens | None:
    """The string quotes, and the brackets and braces outside strings.

    Blocks of bytes are scanned in threads (NumPy releases the GIL inside each operation);
    which brackets are inside strings is decided afterwards from the running count of quotes."""
    escapes = data.find(b"\\") >= 0

    def scan(start: int) -> tuple[np.ndarray, np.ndarray] | None:
        part = a[start : start + BLOCK]
        # '[' ']' '{' '}' are the bytes b with b & 0xD9 == 0x59 (with 'Y', '_', 'y' and DEL,
        # dropped below): one mask instead of four comparisons.
        found = np.flatnonzero((part == QUOTE) | ((part & 0xD9) == 0x59)).astype(np.int32)
        kind = part[found]
        keep = (kind == QUOTE) | (kind == OPEN_BRACKET) | (kind == CLOSE_BRACKET) | (kind == OPEN_BRACE) \
            | (kind == CLOSE_BRACE)
        found, kind = found[keep] + np.int32(start), kind[keep]
        if escapes:
            escaped = _escaped_quotes(a, found, kind)
            if escaped is None:
                return None
            found, kind = found[~escaped], kind[~escaped]
        return found, kind

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        blocks = list(pool.map(scan, range(0, len(a), BLOCK)))
        if any(block is None for block in blocks):
            return None
        # Quotes before each block, then each block keeps its tokens outside strings: a bracket
        # is inside a string when an odd number of quotes come before it (the low bit of a
        # wrapping uint8 running count).
        quote_counts = [int(np.count_nonzero(kind == QUOTE)) for _, kind in blocks]
        carries = np.cumsum([0] + quote_counts[:-1]) & 1

        def outside_strings(block: tuple[np.ndarray, np.ndarray], carry: int) -> tuple[np.ndarray, np.ndarray]:
            found, kind = block
            is_quote = kind == QUOTE
            quotes = np.cumsum(is_quote, dtype=np.uint8)
            quotes += np.uint8(carry)
            outside = (quotes & 1) == 0
            outside |= is_quote
            return found[outside], kind[outside]

        blocks = list(pool.map(outside_strings, blocks, carries.tolist()))
    if sum(quote_counts) % 2 or not sum(len(kind) for _, kind in blocks):
        return None  # an unterminated string, or nothing at all
    return _Tokens(np.concatenate([found for found, _ in blocks]), np.concatenate([kind for _, kind in blocks]),
                   has_backslashes=escapes)


def _escaped_quotes(a: np.ndarray, found: np.ndarray, kind: np.ndarray) -> np.ndarray | None:
    """Which tokens are quotes escaped inside a string (an odd run of backslashes before)."""
    suspicious = np.flatnonzero((kind == QUOTE) & (found > 0) & (a[np.maximum(found - 1, 0)] == BACKSLASH))
    escaped = np.zeros(len(found), dtype=bool)
    if len(suspicious) > MAX_ESCAPED_QUOTES:
        return None
    for i in suspicious.tolist():
        position = int(found[i])
        run = 0
        while position - run - 1 >= 0 and a[position - run - 1] == BACKSLASH:
            run += 1
        escaped[i] = run % 2 == 1
    return escaped


def _candidate_entries(data: bytes, a: np.ndarray, tokens: _Tokens) -> np.ndarray | None:
    """Token indices of the '[' of each entry of "refs" whose tokens are exactly ``" " [ " " ]``.

    After a '[' outside strings the next quote opens a string and the one after closes it, so
    the token shape alone pairs the quotes: no quote parity is needed here."""
    kind = tokens.kind
    delta = np.zeros(len(kind), dtype=np.int8)
    delta[(kind == OPEN_BRACKET) | (kind == OPEN_BRACE)] = 1
    delta[(kind == CLOSE_BRACKET) | (kind == CLOSE_BRACE)] = -1
    depth = np.cumsum(delta, dtype=np.int32)  # after each token
    if depth[-1] != 0 or (depth < 0).any():
        return None
    refs = _refs_tokens(data, tokens, depth)
    if refs is None:
        return None
    first, last = tokens.refs_open, tokens.refs_close = refs
    t = first + 3 + np.flatnonzero(kind[first + 3 : last - 3] == OPEN_BRACKET)
    t = t[(depth[t] == 3) & (kind[t - 2] == QUOTE) & (kind[t - 1] == QUOTE) & (kind[t + 1] == QUOTE)
          & (kind[t + 2] == QUOTE) & (kind[t + 3] == CLOSE_BRACKET) & ((kind[t + 4] == QUOTE) | (t + 4 == last))]
    t = t.astype(np.int32)
    if len(t) and tokens.has_backslashes:
        # An escape inside a key or URL: the JSON parser decodes those entries.
        backslashes = np.flatnonzero(a == BACKSLASH)
        start, stop = tokens.at(t, KEY_OPEN), tokens.at(t, URL_CLOSE)
        t = t[np.searchsorted(backslashes, stop) == np.searchsorted(backslashes, start)]
    return t


def _refs_tokens(data: bytes, tokens: _Tokens, depth: np.ndarray) -> tuple[int, int] | None:
    """Token indices of the '{' that opens the top-level "refs" value and of its '}'."""
    position, kind = tokens.position, tokens.kind
    for t in np.flatnonzero((kind == OPEN_BRACE) & (depth == 2)).tolist():
        if t < 2 or kind[t - 1] != QUOTE or kind[t - 2] != QUOTE:
            continue
        key = data[position[t - 2] + 1 : position[t - 1]]
        if key == b"refs" and data[position[t - 1] + 1 : position[t]].strip(JSON_WHITESPACE) == b":":
            closing = t + np.flatnonzero((kind[t:] == CLOSE_BRACE) & (depth[t:] == 1))
            return (t, int(closing[0])) if len(closing) else None
    return None


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


def _check_and_parse(a: np.ndarray, tokens: _Tokens, candidates: np.ndarray) -> _Parsed:
    """Check the bytes between each candidate's tokens and read its numbers and chunk name."""
    n = len(candidates)
    slashes = np.flatnonzero(a == SLASH).astype(np.int32)
    parsed = _Parsed(plain=np.zeros(n, dtype=bool), offsets=np.zeros(n, dtype=np.int64),
                     lengths=np.zeros(n, dtype=np.int64), coordinates=np.zeros((0, 0), dtype=np.int64),
                     ndims=np.zeros(n, dtype=np.int8), name_start=np.zeros(n, dtype=np.int32),
                     same_parent=np.zeros(n, dtype=bool), same_url=np.zeros(n, dtype=bool))
    after_ok = np.zeros(n, dtype=bool)

    def check_batch(begin: int) -> np.ndarray:
        # One candidate of overlap in front, to compare parents and URLs with the one before.
        lead = 1 if begin else 0
        t = candidates[begin - lead : begin + BATCH]
        part = slice(begin, begin + len(t) - lead)
        key_open, key_close = tokens.at(t, KEY_OPEN), tokens.at(t, KEY_CLOSE)
        url_open, url_close = tokens.at(t, URL_OPEN), tokens.at(t, URL_CLOSE)
        last_slash = np.searchsorted(slashes, key_close) - 1
        last_slash = np.where(last_slash >= 0, slashes[np.maximum(last_slash, 0)] if len(slashes) else -1, -1)
        has_parent = last_slash > key_open
        parent_stop = np.where(has_parent, last_slash, key_open + 1).astype(np.int32)
        name_start = np.where(has_parent, last_slash + 1, key_open + 1).astype(np.int32)
        parsed.same_parent[part] = _equal_to_previous(a, key_open + 1, parent_stop)[lead:]
        parsed.same_url[part] = _equal_to_previous(a, url_open + 1, url_close)[lead:]

        t, key_close, url_open, url_close, name_start = t[lead:], key_close[lead:], url_open[lead:], \
            url_close[lead:], name_start[lead:]
        list_close = tokens.at(t, LIST_CLOSE)
        ok = _colon_and_bracket_ok(a, key_close, url_open)
        after_ok[part] = _separators_ok(a, list_close + 1, tokens.at(t, FOLLOWING), COMMA,
                                        (t + FOLLOWING != tokens.refs_close).astype(np.int16))
        numbers_ok, values = _two_integers(a, url_close + 1, list_close)
        names_ok, ndims, coordinates = _chunk_coordinates(a, name_start, key_close)
        parsed.plain[part] = ok & numbers_ok & names_ok
        parsed.offsets[part], parsed.lengths[part] = values[:, 0], values[:, 1]
        parsed.ndims[part] = ndims
        parsed.name_start[part] = name_start
        return coordinates

    # Batches write disjoint slices; NumPy releases the GIL inside each operation, so threads
    # share the work across cores.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        coordinate_parts = list(pool.map(check_batch, range(0, n, BATCH)))
    # The gap before an entry is the gap after the one before it when that one is a candidate
    # too (checked above); only the others are looked at again.
    follows_candidate = np.zeros(n, dtype=bool)
    follows_candidate[1:] = np.diff(candidates) == TOKENS_PER_ENTRY
    before_ok = np.zeros(n, dtype=bool)
    before_ok[1:] = after_ok[:-1]
    others = candidates[~follows_candidate]
    before_ok[~follows_candidate] = _separators_ok(a, tokens.at(others, PREVIOUS) + 1, tokens.at(others, KEY_OPEN),
                                                   COMMA, (others + PREVIOUS != tokens.refs_open).astype(np.int16))
    parsed.plain &= after_ok & before_ok
    parsed.coordinates = np.zeros((n, max(p.shape[1] for p in coordinate_parts)), dtype=np.int64)
    row = 0
    for p in coordinate_parts:
        parsed.coordinates[row : row + len(p), : p.shape[1]] = p
        row += len(p)
    return parsed


# -- results ----------------------------------------------------------------------------------
def _text(data: bytes, start: int, stop: int) -> str | None:
    """A key or URL as text, or None when it is not text JSON allows unescaped."""
    raw = data[start:stop]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if any(b < 32 for b in raw) else text


def _runs(data: bytes, tokens: _Tokens, kept: np.ndarray, new_run: np.ndarray, new_url: np.ndarray,
          name_start: np.ndarray, coordinates: np.ndarray, ndims: np.ndarray, offsets: np.ndarray,
          lengths: np.ndarray) -> list[ChunkRefRun] | None:
    run_starts = np.flatnonzero(new_run)
    run_stops = np.append(run_starts[1:], len(kept))
    url_run = np.cumsum(new_url, dtype=np.int32) - 1
    url_run_first = np.flatnonzero(new_url)  # the first ref of every url run
    runs = []
    for s, e in zip(run_starts.tolist(), run_stops.tolist()):
        key_open = int(tokens.at(kept[s], KEY_OPEN))
        parent = _text(data, key_open + 1, max(int(name_start[s]) - 1, key_open + 1))
        # url_run never decreases: the url runs of this run are a contiguous range of them.
        local = url_run[s:e] - url_run[s]
        firsts = kept[url_run_first[url_run[s] : url_run[e - 1] + 1]]
        url_texts = [_text(data, int(o) + 1, int(c))
                     for o, c in zip(tokens.at(firsts, URL_OPEN).tolist(), tokens.at(firsts, URL_CLOSE).tolist())]
        if parent is None or any(text is None for text in url_texts):
            return None
        ndim = int(ndims[s])
        runs.append(ChunkRefRun(parent, url_texts, local, coordinates[s:e, :ndim], ndim,
                                offsets[s:e], lengths[s:e]))
    return runs


def _without_entries(data: bytes, tokens: _Tokens, kept: np.ndarray) -> bytes:
    """The document with the plain entries removed from "refs".

    Each removed entry takes the comma after it along (the separators were checked); when the
    entries removed run up to the closing brace, the comma before them goes instead."""
    group_start = np.ones(len(kept), dtype=bool)
    group_start[1:] = np.diff(kept) != TOKENS_PER_ENTRY
    starts = kept[group_start]
    ends = kept[np.append(group_start[1:], True)]
    refs_open, refs_close = int(tokens.position[tokens.refs_open]), int(tokens.position[tokens.refs_close])
    pieces = []
    cursor = refs_open + 1
    for s, e in zip(starts.tolist(), ends.tolist()):
        pieces.append(data[cursor : int(tokens.at(s, KEY_OPEN))])
        closes_refs = e + FOLLOWING == tokens.refs_close
        cursor = int(tokens.at(e, LIST_CLOSE)) + 1 if closes_refs else int(tokens.at(e, FOLLOWING))
    pieces.append(data[cursor:refs_close])
    if ends[-1] + FOLLOWING == tokens.refs_close and starts[-1] + PREVIOUS != tokens.refs_open:
        separator = pieces[-2].rstrip(JSON_WHITESPACE)
        pieces[-2] = separator[:-1]  # the comma between the last kept entry and the removed ones
    return data[: refs_open + 1] + b"".join(pieces) + data[refs_close:]
