"""The ``.lindi.tar`` container (spec §12, LINDI 0.4's layout): containers laid out by hand as the
spec (and LINDI) lays them out, our own written, grown in place, read over HTTP, and broken."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import warnings

import h5py
import numpy as np
import pynwb
import pytest

import lindi_core
from lindi_core.cli import main
from lindi_core.errors import AccessDeniedError, TarFormatError
from lindi_core.io import tar_container
from lindi_core.write import lindi_tar as tar_writer
from tests.facade.nwb.builders import build_ecephys
from tests.facade.nwb.compare import assert_same, snapshot
from tests.facade.test_writing import _same_operations, _snapshot
from tests.write.test_pynwb_append import _append

H5 = lindi_core.LindiH5pyFile


# -- containers built by hand from the spec ---------------------------------------------------
def _header(name: str, size: int) -> bytes:
    """A USTAR header field by field, as the spec (and LINDI 0.4's create_tar_header) has it."""
    h = bytearray(512)
    h[0 : len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156:157] = b"0"
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _member(name: str, data: bytes) -> bytes:
    return _header(name, len(data)) + data + bytes(-len(data) % 512)


def _record(name: str, offset: int, size: int) -> dict:
    return {"d": offset + 512, "n": name, "o": offset, "s": size}


def _lindi_json(obj: dict, size: int) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode().ljust(size)  # as LINDI writes JSON


def _hand_built(rfs: dict, blobs: dict[str, bytes], *, index_last: bool = False) -> bytes:
    """A container as LINDI 0.4 creates one: entry record, 8 KiB index, 8 KiB lindi.json, then the
    blob members, then two zero blocks. ``index_last``: as LINDI leaves it once the index has
    outgrown its first place (old index renamed into .trash/ and no longer listed, new index
    appended at the end, the entry record pointing there)."""
    index_size = lindi_size = 8192
    parts = [b"", b""]  # entry record and first index slot, filled in below
    lindi_at = 1536 + 512 + index_size
    files = [_record(".tar_entry.json", 0, 1024)]
    if not index_last:
        files.append(_record(".tar_index.json", 1536, index_size))
    files.append(_record("lindi.json", lindi_at, lindi_size))
    parts.append(_member("lindi.json", _lindi_json(rfs, lindi_size)))
    position = lindi_at + 512 + lindi_size
    for name, data in blobs.items():
        files.append(_record(name, position, len(data)))
        parts.append(_member(name, data))
        position += len(parts[-1])
    if index_last:
        index = _record(".tar_index.json", position, index_size)
        files.append(index)
        parts[1] = _member(".trash/.tar_index.json.qwertyuiop", b"-" * index_size)
        parts.append(_member(".tar_index.json", _lindi_json({"files": files}, index_size)))
    else:
        index = files[1]
        parts[1] = _member(".tar_index.json", _lindi_json({"files": files}, index_size))
    parts[0] = _member(".tar_entry.json", _lindi_json({"index": index}, 1024))
    return b"".join(parts) + bytes(1024)


DATA = np.arange(12, dtype="<i4").reshape(4, 3)
PACKED = np.linspace(0, 1, 6)


def _spec_rfs() -> tuple[dict, dict[str, bytes]]:
    """A group with an attribute, an array whose two chunks are members of their own (LINDI's
    way) and an array whose two chunks share one member, reached through a template."""
    zarray = {"chunks": [2, 3], "compressor": None, "dtype": "<i4", "fill_value": 0, "filters": None,
              "order": "C", "shape": [4, 3], "zarr_format": 2}
    packed = {**zarray, "chunks": [3], "dtype": "<f8", "shape": [6]}
    refs = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {"title": "hand built"},
        "g/.zgroup": {"zarr_format": 2},
        "g/data/.zarray": zarray,
        "g/data/.zattrs": {"unit": "counts"},
        "g/data/0.0": ["./blobs/g/data/0.0", 0, 24],
        "g/data/1.0": ["./blobs/g/data/1.0", 0, 24],
        "packed/.zarray": packed,
        "packed/0": ["{{p}}", 0, 24],
        "packed/1": ["{{p}}", 24, 24],
    }
    blobs = {"blobs/g/data/0.0": DATA[:2].tobytes(), "blobs/g/data/1.0": DATA[2:].tobytes(),
             "blobs/packed": PACKED.tobytes()}
    return {"refs": refs, "templates": {"p": "./blobs/packed"}}, blobs


@pytest.mark.parametrize("index_last", [False, True], ids=["as-created", "index-moved"])
def test_reads_a_container_laid_out_as_the_spec_says(tmp_path, index_last):
    rfs, blobs = _spec_rfs()
    path = tmp_path / "spec.lindi.tar"
    path.write_bytes(_hand_built(rfs, blobs, index_last=index_last))
    with tarfile.open(path) as t:  # the fixture itself is a plain tar
        assert t.extractfile("blobs/packed").read() == PACKED.tobytes()
    with H5.from_lindi_file(path) as f:
        assert f.attrs["title"] == "hand built"
        np.testing.assert_array_equal(f["g/data"][...], DATA)
        assert f["g/data"].attrs["unit"] == "counts"
        np.testing.assert_array_equal(f["packed"][...], PACKED)
    before = path.read_bytes()
    H5.from_lindi_file(path, mode="r+").close()  # opened for writing, nothing changed: untouched
    assert path.read_bytes() == before


def test_our_containers_have_the_spec_layout(tmp_path, make_h5):
    make_h5(lambda f: f.create_dataset("x", data=np.arange(50_000, dtype="<i8"), chunks=(10_000,)), name="o.h5")
    with H5.from_hdf5_file(tmp_path / "o.h5", mode="r+") as f:
        f.create_dataset("new", data=np.arange(3000, dtype="<f8"), chunks=(1000,))
        f.write_lindi_file(tmp_path / "o.lindi.tar")
    raw = (tmp_path / "o.lindi.tar").read_bytes()
    assert raw[:512] == _header(".tar_entry.json", 1024)
    entry = json.loads(raw[512:1536])
    assert raw[512:1536].rstrip(b" ") == raw[512:1536].strip()  # JSON, then spaces to 1024 bytes
    index = entry["index"]
    assert (index["n"], index["o"], index["d"]) == (".tar_index.json", 1536, 2048)  # LINDI's creation order
    files = json.loads(raw[index["d"] : index["d"] + index["s"]])["files"]
    assert files[0] == _record(".tar_entry.json", 0, 1024) and index in files
    by_name = {r["n"]: r for r in files}
    assert by_name["lindi.json"]["o"] == index["d"] + index["s"]
    with tarfile.open(tmp_path / "o.lindi.tar") as t:  # every record agrees with the tar headers
        members = t.getmembers()
        assert [m.name for m in members] == [r["n"] for r in files]
        for m in members:
            assert (m.offset, m.offset_data, m.size) == (by_name[m.name]["o"], by_name[m.name]["d"],
                                                          by_name[m.name]["s"])
        reference = json.loads(t.extractfile("lindi.json").read())
    assert raw.endswith(bytes(1024)) and len(raw) == max(r["d"] + -(-r["s"] // 512) * 512 for r in files) + 1024
    new_refs = {k: v for k, v in reference["refs"].items() if k.startswith("new/") and isinstance(v, list)}
    assert new_refs == {f"new/{i}": [f"./blobs/new/{i}", 0, 8000] for i in range(3)}
    assert all(not v[0].startswith("{{") for v in new_refs.values())
    assert reference["refs"]["x/0"][0].startswith("{{")  # refs into the HDF5 file are as in a .lindi.json


def test_written_through_the_facade_equals_h5py(tmp_path):
    def operations(f):
        _same_operations(f)
        ints = np.random.default_rng(1).integers(0, 1 << 30, size=(2000, 100), dtype="<i4")
        f.create_dataset("big/ints", data=ints, chunks=(500, 100), compression="gzip", shuffle=True)
        d = f.create_dataset("big/floats", data=np.random.default_rng(0).normal(size=(300, 300)), chunks=(100, 100))
        d[10:20, 5] = -1.0
        f.create_dataset("big/strings", data=[f"string {i}" for i in range(3000)])

    with h5py.File(tmp_path / "truth.h5", "w") as truth:
        operations(truth)
        expected = _snapshot(truth)
    with H5.from_lindi_file(tmp_path / "x.lindi.tar", mode="w") as f:
        operations(f)
        assert _snapshot(f) == expected
    with H5.from_lindi_file(tmp_path / "x.lindi.tar", mode="r") as f:
        assert _snapshot(f) == expected
    with tarfile.open(tmp_path / "x.lindi.tar") as t:
        names = t.getnames()
    assert "blobs/big/ints/0.0" in names and "blobs/big/floats/0.0.v2" in names  # a rewritten chunk


def test_write_lindi_file_picks_the_format_by_extension(tmp_path, make_h5):
    original = np.arange(40_000, dtype="<i8")
    make_h5(lambda f: f.create_dataset("orig", data=original, chunks=(5000,)), name="o.h5")
    lindi_core.translate_to_file(tmp_path / "o.h5", tmp_path / "o.lindi.json", progress=False)
    new = np.random.default_rng(1).normal(size=(100_000,))
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    with H5.from_lindi_file(tmp_path / "o.lindi.json", mode="r+", staging_area=staging) as f:
        f.create_dataset("new", data=new, chunks=(10_000,), compression="gzip")
        f.write_lindi_file(tmp_path / "copy.lindi.tar")
    staging.cleanup()  # the container holds the staged chunks: it needs the staging area no more
    with H5.from_lindi_file(tmp_path / "copy.lindi.tar") as f:
        np.testing.assert_array_equal(f["new"][...], new)
        np.testing.assert_array_equal(f["orig"][...], original)
        assert {ref.url for _, ref in f._rfs.chunk_refs("new")} == {f"./blobs/new/{i}" for i in range(10)}
        assert {ref.url for _, ref in f._rfs.chunk_refs("orig")} == {str(tmp_path / "o.h5")}
        f.write_lindi_file(tmp_path / "back.lindi.json")  # refs to members: byte ranges of the archive
        f.write_lindi_file(tmp_path / "again.lindi.tar")  # members copied over
    os.rename(tmp_path / "copy.lindi.tar", tmp_path / "renamed.lindi.tar")
    with H5.from_lindi_file(tmp_path / "again.lindi.tar") as f:
        np.testing.assert_array_equal(f["new"][...], new)
    (tmp_path / "renamed.lindi.tar").rename(tmp_path / "copy.lindi.tar")
    with H5.from_lindi_file(tmp_path / "back.lindi.json") as f:
        np.testing.assert_array_equal(f["new"][...], new)
        assert {ref.url for _, ref in f._rfs.chunk_refs("new")} == {str(tmp_path / "copy.lindi.tar")}
    lindi_core.translate_to_file(tmp_path / "o.h5", tmp_path / "t.lindi.tar", progress=False)
    with H5.from_lindi_file(tmp_path / "t.lindi.tar") as f:
        np.testing.assert_array_equal(f["orig"][...], original)


def _index(path) -> dict[str, tuple[int, int, int]]:
    with open(path, "rb") as f:
        entry = json.loads(f.read(1536)[512:])["index"]
        f.seek(entry["d"])
        return {r["n"]: (r["o"], r["d"], r["s"]) for r in json.loads(f.read(entry["s"]))["files"]}


def _span(record: tuple[int, int, int]) -> int:
    return 512 + -(-record[2] // 512) * 512


def test_grows_in_place_by_the_new_members_only(tmp_path):
    path = tmp_path / "grow.lindi.tar"
    rng = np.random.default_rng(2)
    written = {}
    with H5.from_lindi_file(path, mode="w") as f:
        written["d0"] = rng.normal(size=(400, 50))
        f.create_dataset("d0", data=written["d0"], chunks=(100, 50))
    for session in range(1, 6):
        before_index, before_bytes = _index(path), path.read_bytes()
        with H5.from_lindi_file(path, mode="r+") as f:
            written[f"d{session}"] = rng.normal(size=(400, 50))
            f.create_dataset(f"d{session}", data=written[f"d{session}"], chunks=(100, 50))
            f.attrs["sessions"] = session
        after_index, after_bytes = _index(path), path.read_bytes()
        old_end = len(before_bytes) - 1024
        for name, record in before_index.items():
            if name.startswith("blobs/") or name == ".tar_entry.json":  # earlier members kept, bytes untouched
                assert after_index[name] == record
                if name != ".tar_entry.json":
                    assert after_bytes[record[0] : record[1] + record[2]] == before_bytes[record[0] : record[1] + record[2]]
        assert after_bytes[:512] == before_bytes[:512]
        new = {n: r for n, r in after_index.items() if r[0] >= old_end}
        assert {n for n in new if n.startswith("blobs/")} == {f"blobs/d{session}/{i}.0" for i in range(4)}
        assert len(after_bytes) == len(before_bytes) + sum(_span(r) for r in new.values())  # nothing else grew
        # each commit appends its reference file and index; the previous ones keep their bytes
        assert sorted(n for n in new if not n.startswith("blobs/")) == [".tar_index.json", "lindi.json"]
        for name in (".tar_index.json", "lindi.json"):
            o, d, size = before_index[name]
            assert after_bytes[d : d + size] == before_bytes[d : d + size]
    with H5.from_lindi_file(path) as f:
        assert f.attrs["sessions"] == 5
        for name, values in written.items():
            np.testing.assert_array_equal(f[name][...], values)
    with tarfile.open(path) as t:
        assert json.loads(t.extractfile("lindi.json").read())["refs"][".zattrs"]["sessions"] == 5


def _failing(message: str):
    def fail(*args):
        raise OSError(message)

    return fail


def test_an_interrupted_commit_leaves_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "crash.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("kept", data=np.arange(20_000, dtype="<i8"), chunks=(5000,))
    committed, committed_index = path.read_bytes(), _index(path)
    writer = tar_writer.LindiTarWriter.open(path)
    for i in range(3):
        writer.store_chunk(f"lost/{i}", os.urandom(10_000))
    monkeypatch.setattr(tar_writer, "encode_entry", _failing("power cut"))  # just before the commit point
    with pytest.raises(OSError, match="power cut"):
        writer.commit(b'{"refs": {".zgroup": {"zarr_format": 2}}}')
    writer.close()
    monkeypatch.undo()
    after = path.read_bytes()
    for name, (o, d, size) in committed_index.items():  # everything the entry record reaches is as it was
        if not name.startswith(".trash/"):
            assert after[o : d + size] == committed[o : d + size], name
    assert _index(path) == committed_index
    with H5.from_lindi_file(path) as f:
        assert list(f) == ["kept"]
        np.testing.assert_array_equal(f["kept"][...], np.arange(20_000))
    # A session cut short while appending leaves a partial member past the end: also harmless.
    with open(path, "ab") as f:
        f.write(_header("blobs/partial", 100_000) + b"x" * 1000)
    with H5.from_lindi_file(path, mode="r+") as f:
        f.create_dataset("after", data=np.arange(30_000, dtype="<i4"), chunks=(10_000,))
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["after"][...], np.arange(30_000))
        np.testing.assert_array_equal(f["kept"][...], np.arange(20_000))
    with tarfile.open(path) as t:
        assert "lindi.json" in t.getnames() and "blobs/partial" not in t.getnames()
    assert path.read_bytes().endswith(bytes(1024))


def test_a_failed_commit_can_be_retried(tmp_path, monkeypatch):
    path = tmp_path / "retry.lindi.tar"
    with H5.from_lindi_file(path, mode="w") as f:
        f.create_dataset("a", data=np.arange(20_000, dtype="<i8"), chunks=(5000,))
    f = H5.from_lindi_file(path, mode="r+")
    f.create_dataset("b", data=np.arange(20_000, dtype="<f8"), chunks=(5000,))
    with monkeypatch.context() as patch:
        patch.setattr(tar_writer, "encode_entry", _failing("disk full"))
        with pytest.raises(OSError, match="disk full"):
            f.flush()
    size_after_failure = os.path.getsize(path)
    f.close()  # commits
    assert os.path.getsize(path) == size_after_failure  # the retry reused what the failed attempt wrote
    with H5.from_lindi_file(path) as g:
        np.testing.assert_array_equal(g["b"][...], np.arange(20_000))
        np.testing.assert_array_equal(g["a"][...], np.arange(20_000))


def test_reads_over_http_with_few_requests(tmp_path, serve):
    data = np.random.default_rng(3).normal(size=(1000, 64))
    with H5.from_lindi_file(tmp_path / "remote.lindi.tar", mode="w") as f:
        f.create_dataset("x", data=data, chunks=(100, 64))
        f.attrs["title"] = "served"
    shutil.copy(tmp_path / "remote.lindi.tar", tmp_path / "no-extension")
    server = serve(tmp_path)
    server.stats.reset()
    f = H5.from_lindi_file(server.url_for("remote.lindi.tar"))
    assert server.stats.requests == 3  # entry record, index, reference file
    assert f.attrs["title"] == "served"
    server.stats.reset()
    np.testing.assert_array_equal(f["x"][250:260, :5], data[250:260, :5])
    assert server.stats.requests == 1
    server.stats.reset()
    np.testing.assert_array_equal(f["x"][...], data)
    assert server.stats.requests <= 2  # adjacent members: merged into one or two range requests
    f.close()
    with H5.from_lindi_file(server.url_for("no-extension")) as g:  # recognised by its content
        np.testing.assert_array_equal(g["x"][...], data)


def test_a_remote_container_may_read_its_members_but_not_local_files(tmp_path, make_h5, serve):
    make_h5(lambda f: f.create_dataset("local", data=np.arange(10_000, dtype="<i8"), chunks=(5000,)), name="o.h5")
    with H5.from_hdf5_file(tmp_path / "o.h5", mode="r+") as f:
        f.create_dataset("inside", data=np.arange(5000, dtype="<f8"), chunks=(2500,))
        f.write_lindi_file(tmp_path / "mixed.lindi.tar")
    server = serve(tmp_path)
    with H5.from_lindi_file(server.url_for("mixed.lindi.tar")) as f:
        np.testing.assert_array_equal(f["inside"][...], np.arange(5000))
        with pytest.raises(AccessDeniedError):
            f["local"][...]
    with H5.from_lindi_file(server.url_for("mixed.lindi.tar"), allow_local=True) as f:
        np.testing.assert_array_equal(f["local"][...], np.arange(10_000))


def _corrupt(tmp_path, change) -> str:
    rfs, blobs = _spec_rfs()
    raw = bytearray(_hand_built(rfs, blobs))
    raw = change(raw)
    path = tmp_path / "bad.lindi.tar"
    path.write_bytes(bytes(raw))
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw[:12_000], "past the end"),  # truncated inside lindi.json
    (lambda raw: raw[: len(raw) - 1500], "past the end"),  # truncated inside the last member
    (lambda raw: raw[:520] + b"garbage!" + raw[528:], "entry record"),
    (lambda raw: raw[:5] + b"X" + raw[6:], "checksum"),
    (lambda raw: raw.replace(b'"s": 8192', b'"s": 4096', 1), "index does not list itself"),
], ids=["truncated-reference", "truncated-member", "bad-entry", "bad-checksum", "index-disagrees"])
def test_corrupt_containers_are_refused(tmp_path, change, message):
    with pytest.raises(TarFormatError, match=message):
        H5.from_lindi_file(_corrupt(tmp_path, change))


def test_a_plain_tar_is_not_a_container(tmp_path):
    (tmp_path / "lindi.json").write_text('{"refs": {".zgroup": {"zarr_format": 2}}}')
    with tarfile.open(tmp_path / "plain.tar", "w", format=tarfile.USTAR_FORMAT) as t:
        t.add(tmp_path / "lindi.json", arcname="lindi.json")
    with pytest.raises(TarFormatError, match="not a LINDI tar"):
        H5.from_lindi_file(tmp_path / "plain.tar")


@pytest.mark.parametrize("ref, message", [
    (["./blobs/missing", 0, 24], "no member 'blobs/missing'"),
    (["./blobs/g/data/0.0", 8, 24], "past the end of member"),
    (["../outside.bin", 0, 24], "not the name of a member"),
])
def test_refs_to_members_the_container_lacks_are_refused(tmp_path, ref, message):
    rfs, blobs = _spec_rfs()
    rfs["refs"]["g/data/0.0"] = ref
    path = tmp_path / "refs.lindi.tar"
    path.write_bytes(_hand_built(rfs, blobs))
    with H5.from_lindi_file(path) as f:
        np.testing.assert_array_equal(f["g/data"][2:], DATA[2:])  # the other chunk is fine
        with pytest.raises(TarFormatError, match=message):
            f["g/data"][...]


def test_long_keys_fit_ustar_headers(tmp_path):
    deep = "/".join(["a_rather_long_group_name"] * 6) + "/data"
    with H5.from_lindi_file(tmp_path / "long.lindi.tar", mode="w") as f:
        f.create_dataset(deep, data=np.arange(2000, dtype="<i8"), chunks=(1000,))
        f.create_dataset("x" * 200 + "/y", data=np.arange(2000, dtype="<i8"), chunks=(1000,))
    with tarfile.open(tmp_path / "long.lindi.tar") as t:
        names = t.getnames()
    assert f"blobs/{deep}/0" in names  # over 100 bytes: split into USTAR's prefix and name
    assert sum(1 for n in names if n.startswith("blobs/") and len(n) < 60) == 2  # too long even so: hashed
    with H5.from_lindi_file(tmp_path / "long.lindi.tar") as f:
        np.testing.assert_array_equal(f[deep][...], np.arange(2000))
        np.testing.assert_array_equal(f["x" * 200 + "/y"][...], np.arange(2000))


def test_copies_into_other_files_name_the_archive(tmp_path):
    with H5.from_lindi_file(tmp_path / "src.lindi.tar", mode="w") as f:
        f.create_dataset("d", data=np.arange(10_000, dtype="<i8"), chunks=(5000,))
    with H5.from_lindi_file(tmp_path / "src.lindi.tar") as src, \
            H5.from_lindi_file(tmp_path / "dst.lindi.json", mode="w") as dst:
        dst.copy(src["d"], "d")
    with H5.from_lindi_file(tmp_path / "dst.lindi.json") as f:
        np.testing.assert_array_equal(f["d"][...], np.arange(10_000))
        assert {r.url for _, r in f._rfs.chunk_refs("d")} == {str(tmp_path / "src.lindi.tar")}


def test_command_line_translates_to_lists_and_validates_containers(make_h5, tmp_path, capsys):
    path = make_h5(lambda f: f.create_group("grp").create_dataset("x", data=np.arange(100), chunks=(10,)))
    out = tmp_path / "x.lindi.tar"
    assert main(["translate", path, "-o", str(out), "--no-progress"]) == 0
    assert tarfile.is_tarfile(out)
    capsys.readouterr()
    assert main(["tree", str(out)]) == 0
    assert "grp/\n  x  (100,) int64" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 0
    out.write_bytes(out.read_bytes()[:3000])
    assert main(["validate", str(out)]) == 1
    assert "past the end" in capsys.readouterr().err


def test_modes_on_containers(tmp_path):
    path = tmp_path / "m.lindi.tar"
    with pytest.raises(FileNotFoundError):
        H5.from_lindi_file(path, mode="r+")
    H5.from_lindi_file(path, mode="a").close()  # creates a container
    assert tar_container.holds_tar(path)
    with pytest.raises(FileExistsError):
        H5.from_lindi_file(path, mode="x")
    with H5.from_lindi_file(path, mode="a") as f:
        f.create_dataset("x", data=np.arange(5000))
    with H5.from_lindi_file(path, mode="w") as f:  # truncates
        assert list(f) == []


@pytest.mark.filterwarnings("ignore:The linked table")
def test_pynwb_appends_to_a_container(tmp_path):
    build_ecephys(tmp_path / "orig.nwb")
    shutil.copy(tmp_path / "orig.nwb", tmp_path / "truth.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), mode="a") as io:
            _append(io)
    lindi_core.translate_to_file(tmp_path / "orig.nwb", tmp_path / "x.nwb.lindi.tar", progress=False)
    f = H5.from_lindi_file(tmp_path / "x.nwb.lindi.tar", mode="r+")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(file=f, mode="a") as io:
            _append(io)
    f.close()
    with tarfile.open(tmp_path / "x.nwb.lindi.tar") as t:
        assert any(n.startswith("blobs/processing/results/smoothed/data/") for n in t.getnames())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(tmp_path / "truth.nwb"), mode="r") as truth_io, \
                pynwb.NWBHDF5IO(file=H5.from_lindi_file(tmp_path / "x.nwb.lindi.tar"), mode="r") as tar_io:
            assert_same(snapshot(truth_io.read()), snapshot(tar_io.read()))
