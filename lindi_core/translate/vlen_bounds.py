"""Checking a variable-length dataset's element sizes before libhdf5 reads its values.

Variable-length strings and sequences are stored as one record per element: a 4-byte length
(bytes of a string, items of a sequence), then the global heap object holding the value (the
collection's file address, then a 4-byte index). To read an element libhdf5 allocates
``length x item size`` bytes from the record *before* it reads the heap object, and copies that
many: one bit-flipped length makes it allocate and touch gigabytes, whatever the file holds.

A heap object lives in the file, so no element can hold more bytes than the file, and distinct
heap objects together cannot either. The records are read raw (no libhdf5 conversion: a
contiguous dataset's bytes from the file, a chunk's with ``read_direct_chunk``, decoded through
its filter pipeline when it has one) and checked against the file's size first.

The heap collections the records name are checked too (:func:`check_collection`): libhdf5
parses a whole collection when it first reads an object of it, and a collection whose object
sizes do not add up to its own size made it loop without end. A translation reads the file
through a :class:`FileBytes`, which remembers the collections found sound: the file does not
change while it is translated, and an NWB file's string attributes share a few collections
(checking one again for every attribute was a fifth of translating such a file).

Compact datasets and attributes keep their records inside the object header, which h5py does
not read raw: :mod:`lindi_core.translate.object_header` finds them there (an attribute in dense
storage, or a header it cannot read, is not checked).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable

import h5py
import numpy as np

from lindi_core.codecs import HDF5FilterPipeline
from lindi_core.errors import ChunkDecodeError, TranslationError
from lindi_core.translate import object_header
from lindi_core.translate.filters import pipeline_of

RawReader = Callable[[int, int], bytes]


class FileBytes:
    """``read_raw(offset, length)`` of one file for one translation, with the addresses of the
    heap collections :func:`check_collection` found sound in it (each is checked once), and
    the file's sizes (asked of libhdf5 once, not for every object)."""

    def __init__(self, read_raw: RawReader):
        self._read_raw = read_raw
        self.sound_collections: set[int] = set()
        self.sizes: tuple[int, int, int] | None = None  # set by file_sizes

    def __call__(self, offset: int, length: int) -> bytes:
        return self._read_raw(offset, length)


def file_sizes(object_id: h5py.h5o.ObjectID, read_raw: RawReader | None) -> tuple[int, int, int]:
    """(bytes of an address, bytes of a length, bytes of the file) of the file holding the
    object ``object_id``, which ``read_raw`` reads."""
    if isinstance(read_raw, FileBytes) and read_raw.sizes is not None:
        return read_raw.sizes
    file_id = h5py.h5i.get_file_id(object_id)
    address_size, size_size = file_id.get_create_plist().get_sizes()
    sizes = (address_size, size_size, file_id.get_filesize())
    if isinstance(read_raw, FileBytes):
        read_raw.sizes = sizes
    return sizes


def header_address(object_id: h5py.h5o.ObjectID) -> int:
    """The file address of an object's header, as ``h5py.h5o.get_info(object_id).addr`` gives it.

    From ``H5Gget_objinfo``, whose object number is that address (split over two C longs where a
    long is narrower than an address): ``H5Oget_info`` also counts the object's storage, walking
    a chunked dataset's whole chunk index (9 ms for 100,000 chunks), and NWB data datasets have
    string attributes to check."""
    low, high = h5py.h5g.get_objinfo(object_id).objno
    return low | (high << (8 * _C_LONG_SIZE))


_C_LONG_SIZE = struct.calcsize("l")


def vlen_item_size(tid: h5py.h5t.TypeID) -> int | None:
    """Bytes per counted item of a variable-length type (1 for strings); ``None`` for types
    that are not themselves variable-length."""
    if isinstance(tid, h5py.h5t.TypeStringID) and tid.is_variable_str():
        return 1
    if isinstance(tid, h5py.h5t.TypeVlenID):
        return tid.get_super().get_size()
    return None


def check_vlen_sizes(dset: h5py.Dataset, read_raw: RawReader | None) -> None:
    """Raise :class:`TranslationError` when an element of the variable-length dataset ``dset``
    declares more bytes than the file holds. ``read_raw(offset, length)`` reads bytes of the
    file (for contiguous datasets; without it they are not checked)."""
    tid = dset.id.get_type()
    per_element = 1  # records per dataset element: an HDF5 array type holds its entries' back to back
    if isinstance(tid, h5py.h5t.TypeArrayID):
        per_element = math.prod(tid.get_array_dims())
        tid = tid.get_super()
    kind = _vlen_kind(tid)
    if kind not in (None, 0):
        # Neither a sequence: libhdf5 reads such values anyway and crashes the process.
        raise TranslationError(f"its variable-length datatype is of kind {kind}, not a sequence (0): the file is "
                               "corrupt")
    item_size = vlen_item_size(tid)
    if item_size is None or dset.shape is None or math.prod(dset.shape) * per_element == 0:
        return
    address_size, size_size, file_size = file_sizes(dset.id, read_raw)
    record = _record_dtype(address_size)
    bounds = _Bounds(item_size, file_size, read_raw)
    dcpl = dset.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dset.id.get_offset()
        if offset is None or read_raw is None or dcpl.get_external_count():
            return
        nbytes = math.prod(dset.shape) * per_element * record.itemsize
        if offset + nbytes > file_size:
            raise TranslationError(f"its {nbytes} bytes of element records at offset {offset} lie beyond the "
                                   f"end of the file ({file_size} bytes)")
        bounds.check(np.frombuffer(read_raw(offset, nbytes), dtype=record))
    elif layout == h5py.h5d.COMPACT:
        if read_raw is None:
            return
        data = object_header.compact_data(read_raw, h5py.h5o.get_info(dset.id).addr, address_size, size_size)
        count = math.prod(dset.shape) * per_element
        if data is not None and len(data) >= count * record.itemsize:
            bounds.check(np.frombuffer(data[: count * record.itemsize], dtype=record))
    elif layout == h5py.h5d.CHUNKED:
        filters = [f.as_list() for f in pipeline_of(dcpl)]
        element = f"|V{record.itemsize * per_element}"
        decoder = HDF5FilterPipeline(filters, element, list(dset.chunks)) if filters else None
        origins: list[tuple[int, ...]] = []
        # one pass over the chunk index (get_chunk_info(i) walks it from the start each time)
        dset.id.chunk_iter(lambda info: origins.append(info.chunk_offset))
        for origin in origins:
            filter_mask, stored = dset.id.read_direct_chunk(origin)
            if decoder is not None:
                try:
                    stored = decoder.decode_stored(bytes(stored), filter_mask)
                except ChunkDecodeError as exc:
                    raise TranslationError(f"the chunk at {origin} cannot be decoded: {exc}") from exc
            records = np.frombuffer(stored, dtype=np.uint8)
            usable = records.nbytes - records.nbytes % record.itemsize
            bounds.check(records[:usable].view(record))


def _vlen_kind(tid: h5py.h5t.TypeID) -> int | None:
    """The kind a variable-length sequence type (h5py's TypeVlenID) declares in the file: 0 for
    a sequence, anything else corrupt (strings are TypeStringIDs). Read from libhdf5's own
    encoding of the type (H5Tencode: the datatype message after two bytes of header), which
    keeps the kind as the file says it; None for other types."""
    if not isinstance(tid, h5py.h5t.TypeVlenID):
        return None
    raw = tid.encode()
    if len(raw) < 4 or raw[0] != 3 or raw[2] & 0x0F != 9:  # not the layout of a vlen datatype message
        return None
    return raw[3] & 0x0F


@functools.lru_cache(maxsize=8)
def _record_dtype(address_size: int) -> np.dtype:
    return np.dtype([("length", "<u4"), ("collection", f"<u{address_size}"), ("index", "<u4")])


def _is_vlen(dtype: np.dtype) -> bool:
    if dtype.kind != "O":
        return False
    string = h5py.check_string_dtype(dtype)
    return (string is not None and string.length is None) or h5py.check_vlen_dtype(dtype) is not None


class AttributeChecker:
    """Checks the variable-length attributes of one object before libhdf5 reads them (their
    records are read from the object header once, when the first one is checked)."""

    def __init__(self, obj: h5py.HLObject, read_raw: RawReader | None):
        self.obj, self.read_raw = obj, read_raw
        self._records: dict[str, object_header.VlenValues] | None = None

    def check(self, name: str, dtype: np.dtype) -> None:
        """Check the attribute ``name`` of type ``dtype`` (as h5py gives it)."""
        if self.read_raw is None or not _is_vlen(dtype):
            return
        if self._records is None:
            address_size, size_size, self._file_size = file_sizes(self.obj.id, self.read_raw)
            self._record = _record_dtype(address_size)
            self._records = object_header.vlen_attributes(self.read_raw, header_address(self.obj.id),
                                                          address_size, size_size)
        found = self._records.get(name)
        if found is None:
            return
        if found.vlen_kind not in (0, 1):
            # Neither a sequence nor a string: libhdf5 converted such a value anyway and crashed.
            raise TranslationError(f"attribute {name!r}: its variable-length datatype is of kind {found.vlen_kind}, "
                                   f"neither a sequence (0) nor a string (1): the file is corrupt")
        step = self._record.itemsize
        nbytes = found.count * step
        if len(found.data) < nbytes:
            return  # not what this reading of the header expected: libhdf5 decides
        if found.count <= 64:  # most attributes: one value, a few; no NumPy for those
            lengths_and_collections = [
                (int.from_bytes(found.data[at : at + 4], "little"), int.from_bytes(found.data[at + 4 : at + step - 4], "little"))
                for at in range(0, nbytes, step)]
            self._check_collections(name, sorted({c for _length, c in lengths_and_collections if c != 0}))
            declared = sum(length for length, _collection in lengths_and_collections)
            if declared * found.item_size <= self._file_size:
                return  # together within the file, so each one is too
            records = np.frombuffer(found.data[:nbytes], dtype=self._record)
        else:
            records = np.frombuffer(found.data[:nbytes], dtype=self._record)
            self._check_collections(name, [int(c) for c in np.unique(records["collection"][records["collection"] != 0])])
        try:
            _Bounds(found.item_size, self._file_size).check(records)
        except TranslationError as exc:
            raise TranslationError(f"attribute {name!r}: {exc.detail}") from None

    def _check_collections(self, name: str, addresses: list[int]) -> None:
        try:
            for address in addresses:
                check_collection(self.read_raw, address, self._file_size)
        except TranslationError as exc:
            raise TranslationError(f"attribute {name!r}: {exc.detail}") from None


class _Bounds:
    """Running checks over a dataset's element records."""

    def __init__(self, item_size: int, file_size: int, read_raw: RawReader | None = None):
        self.item_size = item_size
        self.file_size = file_size
        self.read_raw = read_raw
        self.collections: set[int] = set()  # heap collections already checked
        self.seen: list[np.ndarray] = []
        self.total = 0

    def check(self, records: np.ndarray) -> None:
        stored = records[records["collection"] != 0]  # address 0: an empty (null) element
        sizes = stored["length"].astype(np.uint64) * np.uint64(self.item_size)
        if sizes.size and int(sizes.max()) > self.file_size:
            raise TranslationError(
                f"a variable-length element declares {int(sizes.max())} bytes, more than the whole file holds "
                f"({self.file_size} bytes): the file is corrupt")
        if self.read_raw is not None:
            for address in np.unique(stored["collection"]):
                if int(address) not in self.collections:
                    check_collection(self.read_raw, int(address), self.file_size)
                    self.collections.add(int(address))
        self.seen.append(stored)
        self.total += int(sizes.sum())
        if self.total > self.file_size:
            self._check_distinct()

    def _check_distinct(self) -> None:
        """Elements may share a heap object: only distinct objects must fit in the file."""
        seen = np.concatenate(self.seen)
        order = np.lexsort((seen["length"], seen["index"], seen["collection"]))
        seen = seen[order]
        last_of_object = np.ones(len(seen), bool)  # sorted by length within an object: its largest
        last_of_object[:-1] = (seen["collection"][1:] != seen["collection"][:-1]) | (seen["index"][1:] != seen["index"][:-1])
        distinct = seen[last_of_object]
        total = int((distinct["length"].astype(np.uint64) * np.uint64(self.item_size)).sum())
        self.seen, self.total = [distinct], total
        if total > self.file_size:
            raise TranslationError(
                f"its variable-length elements declare {total} bytes in distinct heap objects, more than "
                f"the whole file holds ({self.file_size} bytes): the file is corrupt")


_COLLECTION_HEADER = 16  # "GCOL", version, 3 reserved bytes, the collection's size (8 bytes)
_OBJECT_HEADER = 16  # index (2 bytes), reference count (2), reserved (4), size (8)


def check_collection(read_raw: RawReader, address: int, file_size: int) -> None:
    """Raise :class:`TranslationError` unless a global heap collection (spec III.E) is at
    ``address`` with objects that tile it exactly: each object's header and its data (padded
    to 8 bytes) inside the collection, the free space (index 0) last. libhdf5 walks a
    collection by those sizes when it loads it; it trusts them (one such walk never ended).
    Through a :class:`FileBytes`, a collection already found sound is not read again."""
    sound = read_raw.sound_collections if isinstance(read_raw, FileBytes) else None
    if sound is not None and address in sound:
        return
    _check_collection(read_raw, address, file_size)
    if sound is not None:
        sound.add(address)


def _check_collection(read_raw: RawReader, address: int, file_size: int) -> None:
    if address + _COLLECTION_HEADER > file_size:
        raise TranslationError(f"a variable-length element names a heap collection at {address}, past the end "
                               f"of the file ({file_size} bytes): the file is corrupt")
    head = read_raw(address, _COLLECTION_HEADER)
    size = int.from_bytes(head[8:16], "little")
    if head[:4] != b"GCOL" or size < _COLLECTION_HEADER or address + size > file_size:
        raise TranslationError(f"the heap collection at {address} that variable-length elements name is not a "
                               f"collection of at most the file's size: the file is corrupt")
    data = read_raw(address, size)
    at = _COLLECTION_HEADER
    while at + _OBJECT_HEADER <= size:
        index = int.from_bytes(data[at : at + 2], "little")
        length = int.from_bytes(data[at + 8 : at + 16], "little")
        if index == 0:  # the free space: the rest of the collection, header included
            if length != size - at and not (length == 0 and at + _OBJECT_HEADER >= size):
                break
            return
        end = at + _OBJECT_HEADER + -(-length // 8) * 8
        if end > size:
            break
        at = end
    if at == size or size - at < _OBJECT_HEADER:
        return  # ends exactly, or in a remainder too small for an object (libhdf5 counts it free)
    raise TranslationError(f"the heap collection at {address} ({size} bytes) holds objects whose sizes do not "
                           f"add up to its own (at byte {at}): the file is corrupt")
