"""Hostile chunks: compression bombs, object codecs declaring more items than the chunk holds,
types far larger than any stored chunk. Each read raises a clear lindi_core error naming the
chunk, and decoding never takes more memory than the chunk's declared size.

Memory is measured in a subprocess (peak resident size over the peak after opening the file),
so that every allocation counts, NumPy's and libraries' alike.
"""

from __future__ import annotations

import bz2
import json
import os
import subprocess
import sys
import textwrap
import zlib

import numcodecs
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import ChunkDecodeError, LindiError, ReferenceFormatError

BOMB_BYTES = 256 * 1024 * 1024  # what each bomb inflates to
CHUNK_ITEMS = 131072  # float64: 1 MiB chunks
MEMORY_BOUND = 200 * 1024 * 1024  # the peak may grow by less than this over the whole run


def _stream(compressor, total: int) -> bytes:
    piece = bytes(1 << 20)
    return b"".join(compressor.compress(piece) for _ in range(total >> 20)) + compressor.flush()


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, tuple[dict, bytes]]:
    zeros = np.zeros(BOMB_BYTES, np.uint8)
    return {
        "zlib": ({"id": "zlib", "level": 1}, _stream(zlib.compressobj(9), BOMB_BYTES)),
        "gzip": ({"id": "gzip", "level": 1}, _stream(zlib.compressobj(9, wbits=31), BOMB_BYTES)),
        "bz2": ({"id": "bz2", "level": 1}, _stream(bz2.BZ2Compressor(9), BOMB_BYTES)),
        "zstd": ({"id": "zstd", "level": 1}, bytes(numcodecs.Zstd().encode(zeros))),
        "blosc": (numcodecs.Blosc().get_config(), bytes(numcodecs.Blosc().encode(zeros))),
        "lz4": ({"id": "lz4", "acceleration": 1}, bytes(numcodecs.LZ4().encode(zeros))),
    }


def _zarray(dtype, shape, chunks, compressor=None, filters=None, fill_value=None) -> dict:
    return {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": dtype, "compressor": compressor,
            "fill_value": fill_value, "order": "C", "filters": filters, "dimension_separator": "."}


def _write_reference_file(folder, arrays: dict[str, tuple[dict, bytes]]) -> str:
    """A reference file whose array ``name`` has one chunk, stored in a file of its own."""
    refs: dict = {".zgroup": {"zarr_format": 2}}
    for name, (zarray, chunk) in arrays.items():
        path = os.path.join(folder, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(chunk)
        refs[f"{name}/.zarray"] = zarray
        refs[f"{name}/0"] = [path, 0, len(chunk)]
    target = os.path.join(folder, "hostile.lindi.json")
    with open(target, "w") as f:
        json.dump({"refs": refs}, f)
    return target


# Reads every array three ways (the facade's own read, the facade through Zarr with an index
# list, zarr.open_array on the store) in a fresh process; prints each outcome and the peak.
_PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np, zarr
    import lindi_core
    path, names, how = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    f = lindi_core.LindiH5pyFile.from_lindi_file(path)
    store = lindi_core.ReferenceStore.from_file(path)
    reads = {
        "facade": lambda n: f[n][:10],
        "facade-list": lambda n: f[n][[0, 2]],
        "zarr": lambda n: zarr.open_array(store, path=n, mode="r", zarr_format=2)[:10],
    }
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {}
    for name in names:
        for way in how:
            try:
                reads[way](name)
                outcomes[f"{name} {way}"] = "no error"
            except Exception as exc:
                outcomes[f"{name} {way}"] = [type(exc).__module__ + "." + type(exc).__name__, str(exc)]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) * 1024
    print(json.dumps({"outcomes": outcomes, "grown": grown}))
""")


def _probe(path: str, names: list[str], how=("facade", "facade-list", "zarr")) -> dict:
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", _PROBE, path, ",".join(names), ",".join(how)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_refused(result: dict, error: type[Exception] = ChunkDecodeError) -> None:
    for read, outcome in result["outcomes"].items():
        name = read.split()[0]
        assert outcome != "no error", read
        kind, message = outcome
        assert kind == f"{error.__module__}.{error.__name__}", (read, outcome)
        assert f"{name}/0" in message, (read, message)  # names the chunk
    assert result["grown"] < MEMORY_BOUND, result


@pytest.mark.slow
def test_compression_bombs_stop_at_the_chunk_size(tmp_path, bombs):
    arrays = {name: (_zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], config), data)
              for name, (config, data) in bombs.items()}
    result = _probe(_write_reference_file(tmp_path, arrays), list(arrays))
    _assert_refused(result)


@pytest.mark.slow
def test_compression_bombs_as_translated_filters_stop_at_the_chunk_size(tmp_path, bombs):
    """Translated HDF5 files hold their compressors in ``filters`` (``compressor`` is null)."""
    arrays = {}
    for name, (config, data) in bombs.items():
        arrays[name] = (_zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], None, [config]), data)
        arrays[f"{name}-shuffled"] = (
            _zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], None, [{"id": "shuffle", "elementsize": 8}, config]), data)
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays)))


@pytest.mark.slow
def test_a_bomb_in_a_chunk_stored_with_a_filter_skipped_is_refused(tmp_path, bombs):
    """HDF5 skipped the (optional) shuffle for this chunk: the store rewrites it into the form
    the full pipeline decodes, inflating it first; that inflation is bounded too."""
    filters = [{"id": "shuffle", "elementsize": 8}, {"id": "zlib", "level": 1}]
    path = _write_reference_file(tmp_path, {"masked": (_zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], None, filters),
                                                       bombs["zlib"][1])})
    with open(path) as f:
        document = json.load(f)
    document["refs"]["masked/0"].append({"filter_mask": 1})
    with open(path, "w") as f:
        json.dump(document, f)
    _assert_refused(_probe(path, ["masked"]))


@pytest.mark.slow
def test_compression_bombs_with_a_filter_stop_near_the_chunk_size(tmp_path, bombs):
    shuffle = [{"id": "shuffle", "elementsize": 8}]
    arrays = {name: (_zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], config, shuffle), data)
              for name, (config, data) in bombs.items() if name in ("zlib", "zstd")}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays)))


@pytest.mark.slow
def test_a_bomb_for_libhdf5s_own_pipeline_is_refused_before_libhdf5_inflates_it(tmp_path, bombs):
    pipeline = {"id": "lindi_core.hdf5_filters", "filters": [[1, 0, [4]]], "dtype": "<f8", "chunk_shape": [CHUNK_ITEMS]}
    arrays = {"deflate": (_zarray("<f8", [CHUNK_ITEMS], [CHUNK_ITEMS], None, [pipeline]), bombs["zlib"][1])}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays)))


@pytest.mark.slow
def test_compressed_object_chunks_stop_at_the_object_chunk_limit(tmp_path, bombs):
    vlen = [{"id": "vlen-utf8"}]
    arrays = {name: (_zarray("|O", [100], [100], config, vlen, ""), data)
              for name, (config, data) in bombs.items() if name in ("zlib", "zstd")}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays), how=("facade", "zarr")))


def _vlen_header(count: int) -> bytes:
    return count.to_bytes(4, "little") + bytes(8)  # 12 bytes: a count, then room for two lengths


HUGE_COUNT = 50_000_000


@pytest.mark.parametrize("codec", [{"id": "vlen-utf8"}, {"id": "vlen-bytes"}, {"id": "vlen-array", "dtype": "<i4"}])
def test_a_vlen_count_larger_than_the_chunk_is_refused(tmp_path, codec):
    arrays = {"strings": (_zarray("|O", [HUGE_COUNT], [HUGE_COUNT], None, [codec]), _vlen_header(HUGE_COUNT))}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays), how=("facade", "zarr")))


def test_a_json_chunk_declaring_a_huge_shape_is_refused(tmp_path):
    chunk = json.dumps(["|O", [HUGE_COUNT]]).encode()
    arrays = {"rows": (_zarray("|O", [HUGE_COUNT], [HUGE_COUNT], None, [{"id": "json2"}]), chunk)}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays), how=("facade", "zarr")))


def test_a_json_chunk_declaring_a_huge_type_is_refused(tmp_path):
    chunk = json.dumps([1, "|V2000000000", [1]]).encode()
    arrays = {"rows": (_zarray("|O", [1], [1], None, [{"id": "json2"}]), chunk)}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays), how=("facade", "zarr")))


def test_a_huge_item_type_is_refused_before_anything_is_allocated(tmp_path):
    arrays = {"void": (_zarray("|V2000000000", [4], [1], {"id": "zlib", "level": 1}), zlib.compress(b"x" * 12))}
    path = _write_reference_file(tmp_path, arrays)
    with pytest.raises(ReferenceFormatError, match="void/.zarray.*2000000000"):
        with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
            f["void"][:1]
    with pytest.raises(ReferenceFormatError, match="void/.zarray.*2000000000"):
        zarr.open_array(lindi_core.ReferenceStore.from_file(path), path="void", mode="r", zarr_format=2)[:1]


def test_an_item_size_the_chunk_does_not_hold_is_refused(tmp_path):
    """A compressed chunk must decode to exactly the chunk's size (here 12 bytes for 1000)."""
    arrays = {"void": (_zarray("|V1000", [4], [1], {"id": "zlib", "level": 1}), zlib.compress(b"x" * 12))}
    _assert_refused(_probe(_write_reference_file(tmp_path, arrays), list(arrays), how=("facade", "zarr")))


@pytest.mark.parametrize("codec", [{"id": "no-such-codec"}, {"id": "blosc", "cname": "lz4", "unknown_option": 1}])
def test_an_unknown_or_unbuildable_codec_is_a_reference_format_error(tmp_path, codec):
    arrays = {"a": (_zarray("<f8", [4], [4], codec), bytes(32))}
    path = _write_reference_file(tmp_path, arrays)
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        with pytest.raises(ReferenceFormatError, match="a/.zarray"):
            f["a"][:]
    with pytest.raises(ReferenceFormatError, match="a/.zarray"):
        zarr.open_array(lindi_core.ReferenceStore.from_file(path), path="a", mode="r", zarr_format=2)[:]


def test_inline_vlen_chunk_with_a_huge_count_is_refused_naming_it(tmp_path):
    """A small single-chunk array is decoded by the facade itself (no Zarr): bounded too."""
    refs = {".zgroup": {"zarr_format": 2},
            "s/.zarray": _zarray("|O", [3], [3], None, [{"id": "vlen-utf8"}], ""),
            "s/0": "base64:" + __import__("base64").b64encode(_vlen_header(HUGE_COUNT)).decode()}
    path = tmp_path / "inline.lindi.json"
    path.write_text(json.dumps({"refs": refs}))
    with lindi_core.LindiH5pyFile.from_lindi_file(str(path)) as f:
        with pytest.raises(ChunkDecodeError, match="'s/0'.*declares 50000000 items"):
            f["s"][:]


def test_honest_chunks_still_decode_exactly(tmp_path):
    """The bounds refuse nothing real: every compressor, with and without a filter, reads the
    values written, through the facade and through Zarr."""
    values = np.random.default_rng(0).standard_normal(3000)
    strings = np.array([f"item {i}" * (i % 7) for i in range(50)], dtype=object)
    arrays = {}
    for config in ({"id": "zlib", "level": 3}, {"id": "gzip", "level": 3}, {"id": "bz2", "level": 3},
                   {"id": "zstd", "level": 3}, numcodecs.Blosc().get_config(), {"id": "lz4", "acceleration": 1}):
        codec = numcodecs.get_codec(dict(config))
        for filters in (None, [{"id": "shuffle", "elementsize": 8}], [{"id": "fletcher32"}]):
            data = values
            for f in filters or []:
                data = numcodecs.get_codec(dict(f)).encode(data)
            name = f"{config['id']}-{(filters or [{'id': 'none'}])[0]['id']}"
            arrays[name] = (_zarray("<f8", [3000], [1000], config, filters), None)
            for i in range(3):
                block = values[i * 1000 : (i + 1) * 1000]
                for f in filters or []:
                    block = numcodecs.get_codec(dict(f)).encode(block)
                arrays[f"{name}#{i}"] = bytes(codec.encode(np.asarray(block)))
        name = f"{config['id']}-as-filter"
        arrays[name] = (_zarray("<f8", [3000], [1000], None, [{"id": "shuffle", "elementsize": 8}, config]), None)
        for i in range(3):
            shuffled = numcodecs.Shuffle(8).encode(values[i * 1000 : (i + 1) * 1000])
            arrays[f"{name}#{i}"] = bytes(codec.encode(np.frombuffer(shuffled, np.uint8)))
        arrays[f"{config['id']}-text"] = (_zarray("|O", [50], [50], config, [{"id": "vlen-utf8"}], ""), None)
        arrays[f"{config['id']}-text#0"] = bytes(codec.encode(numcodecs.VLenUTF8().encode(strings)))
    refs: dict = {".zgroup": {"zarr_format": 2}}
    for key, value in arrays.items():
        if isinstance(value, tuple):
            refs[f"{key}/.zarray"] = value[0]
            continue
        name, i = key.split("#")
        path = tmp_path / f"{name}.{i}.bin"
        path.write_bytes(value)
        refs[f"{name}/{i}"] = [str(path), 0, len(value)]
    target = tmp_path / "honest.lindi.json"
    target.write_text(json.dumps({"refs": refs}))
    store = lindi_core.ReferenceStore.from_file(str(target))
    with lindi_core.LindiH5pyFile.from_lindi_file(str(target)) as f:
        for key, value in arrays.items():
            if not isinstance(value, tuple):
                continue
            expected = strings if key.endswith("-text") else values
            through_zarr = zarr.open_array(store, path=key, mode="r", zarr_format=2)[:]
            if key.endswith("-text"):
                assert list(f[key][:]) == [s.encode() for s in strings], key
                assert list(through_zarr) == list(strings), key
            else:
                np.testing.assert_array_equal(f[key][:], expected, err_msg=key)
                np.testing.assert_array_equal(f[key][[0, 1500, 2999]], expected[[0, 1500, 2999]], err_msg=key)
                np.testing.assert_array_equal(through_zarr, expected, err_msg=key)


def _both_roads_raise(path, names, error: type[Exception], pattern: str) -> None:
    """Reading each array of ``names`` raises ``error`` matching ``pattern`` (``{name}`` filled
    in) through the facade and through zarr-python on the store."""
    store = lindi_core.ReferenceStore.from_file(path)
    with lindi_core.LindiH5pyFile.from_lindi_file(path) as f:
        for name in names:
            with pytest.raises(error, match=pattern.format(name=name)):
                f[name][:]
            with pytest.raises(error, match=pattern.format(name=name)):
                zarr.open_array(store, path=name, mode="r", zarr_format=2)[:]


def test_corrupt_compressed_chunks_raise_chunk_decode_error(tmp_path):
    arrays = {name: (_zarray("<f8", [10], [10], {"id": name, "level": 1}), b"\x01not compressed data at all")
              for name in ("zlib", "gzip", "bz2")}
    _both_roads_raise(_write_reference_file(tmp_path, arrays), arrays, LindiError, "{name}/0")


_HOSTILE_COMPRESSORS = [None, {"id": "zlib", "level": "x"}, {"id": "blosc", "cname": 5}, {"id": "lz4"}, {"id": "bz2", "level": 1}]
_HOSTILE_FILTERS = [None, [{"id": "shuffle", "elementsize": "a"}], [{"id": "shuffle", "elementsize": 0}],
                    [{"id": "vlen-utf8"}], [{"id": "json2"}], [{"id": "fletcher32"}],
                    [{"id": "lindi_core.hdf5_filters", "filters": [[1, 0, [1]]], "dtype": "<f8", "chunk_shape": [4]}]]
_HOSTILE_DTYPES = ["<f8", "|O", "|V3", [["a", "<i4"], ["b", "<f8"]]]
_HOSTILE_CHUNKS = [b"", b"\xff" * 40, zlib.compress(b"\x00" * 12), b'[1, 2, "|O", [4]]', bytes(numcodecs.Blosc().encode(np.zeros(4)))]


def test_hostile_metadata_and_chunks_raise_only_lindi_errors_through_the_facade(tmp_path):
    """Every combination of malformed codec configurations, mismatched types and chunks that
    do not decode: the facade raises lindi_core errors only (before: ValueError, TypeError,
    RuntimeError, OSError, zlib.error, UnknownCodecError escaped)."""
    import base64
    import itertools

    escaped = []
    reads = 0
    path = tmp_path / "fuzz.lindi.json"
    for compressor, filters, dtype, chunk in itertools.product(_HOSTILE_COMPRESSORS, _HOSTILE_FILTERS, _HOSTILE_DTYPES,
                                                               _HOSTILE_CHUNKS):
        refs = {".zgroup": {"zarr_format": 2}, "a/.zarray": _zarray(dtype, [4], [4], compressor, filters),
                "a/0": "base64:" + base64.b64encode(chunk).decode()}
        path.write_text(json.dumps({"refs": refs}))
        with lindi_core.LindiH5pyFile.from_lindi_file(str(path)) as f:
            for read in (lambda: f["a"][:], lambda: f["a"][[0, 2]]):
                reads += 1
                try:
                    read()
                except LindiError:
                    pass
                except Exception as exc:
                    escaped.append((refs["a/.zarray"], chunk[:16], repr(exc)[:200]))
    assert reads == 2 * 5 * 7 * 4 * 5
    assert not escaped, escaped[:5]


def test_an_object_codec_on_a_non_object_array_is_a_reference_format_error(tmp_path):
    arrays = {"a": (_zarray("|S4", [4], [4], None, [{"id": "vlen-utf8"}]), bytes(16)),
              "b": (_zarray("|O", [4], [4], None, [{"id": "shuffle", "elementsize": 8}]), bytes(32))}
    _both_roads_raise(_write_reference_file(tmp_path, arrays), arrays, ReferenceFormatError,
                      "{name}/.zarray.*object codec")


@pytest.mark.parametrize("compressor", [{"id": "zlib", "level": 1}, {"id": "zstd", "level": 1}, {"id": "bz2", "level": 1}])
def test_a_huge_declared_array_reads_lazily_and_its_tiny_chunks_take_little_memory(tmp_path, compressor):
    """2**40 elements in chunks of 8 GiB: a selection of the fill value allocates its output, a
    stored chunk of a few bytes is refused, and neither allocates what the metadata declares
    (NumPy's allocations are traced by tracemalloc, reserved or not)."""
    import base64
    import tracemalloc

    zarray = _zarray("<f8", [2**40], [2**30], compressor, fill_value=1.5)
    tiny = bytes(numcodecs.get_codec(dict(compressor)).encode(b"x" * 16))
    refs = {".zgroup": {"zarr_format": 2}, "fill/.zarray": zarray, "tiny/.zarray": zarray,
            "tiny/1": "base64:" + base64.b64encode(tiny).decode()}
    path = tmp_path / "huge.lindi.json"
    path.write_text(json.dumps({"refs": refs}))
    store = lindi_core.ReferenceStore.from_file(str(path))
    window = slice(2**30 + 3, 2**30 + 13)
    tracemalloc.start()
    try:
        with lindi_core.LindiH5pyFile.from_lindi_file(str(path)) as f:
            np.testing.assert_array_equal(f["fill"][window], np.full(10, 1.5))
            np.testing.assert_array_equal(f["fill"][[5, 2**39]], [1.5, 1.5])
            for read in (lambda: f["tiny"][window], lambda: f["tiny"][[2**30, 2**30 + 7]],
                         lambda: zarr.open_array(store, path="tiny", mode="r", zarr_format=2)[window]):
                with pytest.raises(ChunkDecodeError, match="tiny/1.*decode"):
                    read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
