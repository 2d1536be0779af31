"""Both forms of chunk refs (JSON entries, binary chunk tables: spec §13) through every operation
on a reference file: translate, open, edit in ``r+``, copy, upload, write back, ``.lindi.tar``
growth, and conversion between the forms. Truth is h5py: the source file, and a copy of it that
gets the same edits through h5py. A low ``chunk_table_threshold`` makes small arrays count as
large, so that ``auto`` decides both ways on files of a few hundred chunks."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from lindi_core import LindiH5pyFile, StagingArea
from lindi_core.format import jsonio, table_files
from lindi_core.format.lindi_tar import padded_to_block
from lindi_core.io import tar_container
from lindi_core.translate import ChunkOptions, translate_to_file
from lindi_core.write.uploaders import DirectoryUploader

THRESHOLD = 100
OPTIONS = ChunkOptions(inline_threshold=0, chunk_table_threshold=THRESHOLD)
FORMS = ("json", "binary", "auto")
CONTAINERS = (".lindi.json", ".lindi.tar", ".lindi.d")
ARRAYS = ("x", "g/z", "s", "w")
# What translation makes binary under each form: "auto" only the arrays of THRESHOLD chunks or more.
EXPECTED_BINARY = {"json": set(), "binary": set(ARRAYS), "auto": {"x", "g/z", "w"}}


def build(f: h5py.File) -> None:
    # 300 chunks of 8 bytes (inline when rewritten), some never written (fill value).
    x = f.create_dataset("x", shape=(600,), chunks=(2,), maxshape=(None,), dtype="<i4", fillvalue=-1)
    x[:500] = np.arange(500)
    x[560:562] = 3
    # 200 compressed chunks, some of them random (incompressible), part never written.
    z = f.create_group("g").create_dataset("z", shape=(40, 30), chunks=(2, 3), dtype="<f8", compression="gzip",
                                           fillvalue=np.nan)
    z[:30] = np.arange(900.0).reshape(30, 30)
    z[34:36] = np.random.default_rng(1).random((2, 30))
    f.create_dataset("s", data=np.arange(8), chunks=(2,), maxshape=(None,))  # 4 chunks
    # 150 chunks larger than the store's inline limit: rewritten ones go to a staging area or a container.
    f.create_dataset("w", data=np.arange(150 * 600, dtype="<f8").reshape(150, 600), chunks=(1, 600))


def edit(f) -> None:
    """The same edits through h5py and through the facade."""
    x = f["x"]
    x[10:20] = 7  # existing chunks
    x[520:530] = 5  # chunks that were missing
    x.resize((700,))  # more chunks: the grid changes
    x[650:700] = 9
    f["g/z"][5:7, :] = np.arange(60.0).reshape(2, 30) * 0.5
    f["s"][0:2] = [40, 41]
    f["w"][3:5] = -1.5
    f["w"][140] = np.random.default_rng(2).random(600)


def assert_matches(h5_path: str, lindi_file: LindiH5pyFile) -> None:
    with h5py.File(h5_path, "r") as truth:
        names: list[str] = []
        truth.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names:
            expected, got = truth[name], lindi_file[name]
            assert got.shape == expected.shape and got.dtype == expected.dtype, name
            assert np.array_equal(got[()], expected[()], equal_nan=True), name


def binary_arrays(path) -> set[str]:
    with LindiH5pyFile.from_lindi_file(path) as f:
        return set(f._rfs.binary_tables)


def loaded(path):
    with LindiH5pyFile.from_lindi_file(path) as f:
        return f._rfs


@pytest.fixture
def source(make_h5) -> str:
    return make_h5(build, name="source.h5")


@pytest.fixture
def truth(source, tmp_path) -> str:
    """The source with the edits made by h5py."""
    path = str(tmp_path / "truth.h5")
    shutil.copy(source, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def translated(source: str, tmp_path, form: str, container: str) -> str:
    out = str(tmp_path / f"t-{form}{container}")
    rfs = translate_to_file(source, out, progress=False, options=OPTIONS, chunk_table=form)
    assert rfs.binary_tables == EXPECTED_BINARY[form]
    return out


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("form", FORMS)
def test_translate_save_open(source, tmp_path, form, container):
    out = translated(source, tmp_path, form, container)
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(source, f)
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("form", FORMS)
def test_edit_in_place_keeps_each_arrays_form(source, truth, tmp_path, form, container):
    out = translated(source, tmp_path, form, container)
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        edit(f)
        assert_matches(truth, f)
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(truth, f)
        # x has 350 chunks now, still on the same side of the (default) threshold: forms kept.
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:  # a second session on the edited file
        f["x"][0:2] = [100, 101]
    with h5py.File(truth, "r+") as f:
        f["x"][0:2] = [100, 101]
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(truth, f)
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("form", FORMS)
def test_converting_between_forms_keeps_every_ref(source, truth, tmp_path, form, container):
    out = translated(source, tmp_path, form, container)
    staging = StagingArea.create(tmp_path / "staging") if container == ".lindi.json" else None
    with LindiH5pyFile.from_lindi_file(out, mode="r+", staging_area=staging) as f:
        edit(f)  # refs into more than one file (staged chunks, members), inline chunks, masks
    before = loaded(out)
    for choice, expected in (("binary", set(ARRAYS)), ("json", set()), ("auto", {"x", "g/z", "w"})):
        with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table=choice, chunk_table_threshold=THRESHOLD):
            pass  # nothing edited: the save converts
        after = loaded(out)
        assert after.binary_tables == expected, choice
        assert after.same_references(before), choice
        with LindiH5pyFile.from_lindi_file(out) as f:
            assert_matches(truth, f)


def test_json_binary_json_gives_the_same_text(source, tmp_path):
    out = translated(source, tmp_path, "json", ".lindi.json")
    original = open(out, "rb").read()
    for choice in ("binary", "json"):
        with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table=choice):
            pass
    assert open(out, "rb").read() == original


@pytest.mark.parametrize("form", FORMS)
def test_copy_a_table_dataset(source, tmp_path, form):
    out = translated(source, tmp_path, form, ".lindi.tar")
    other = str(tmp_path / "other.lindi.json")
    copied = str(tmp_path / "copied.h5")
    with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table_threshold=THRESHOLD) as f, \
            LindiH5pyFile.from_lindi_file(other, mode="w", chunk_table_threshold=THRESHOLD) as g, \
            h5py.File(copied, "w") as h:
        f.copy("x", "x_copy")
        f.copy(f["g/z"], f["g"], "z_copy")
        f.copy(f["x"], g, "x")
        f.copy(f["g/z"], g, "z")
        f.copy(f["x"], h, "x")
        f.copy(f["g/z"], h, "z")
        assert dict(f._rfs.chunk_refs("x_copy")) == dict(f._rfs.chunk_refs("x"))
    with h5py.File(source, "r") as truth, h5py.File(copied, "r") as h, \
            LindiH5pyFile.from_lindi_file(out) as f, LindiH5pyFile.from_lindi_file(other) as g:
        for name, copy in (("x", f["x_copy"]), ("g/z", f["g/z_copy"]), ("x", g["x"]), ("g/z", g["z"]),
                           ("x", h["x"]), ("g/z", h["z"])):
            assert np.array_equal(copy[()], truth[name][()], equal_nan=True), (name, copy)
        # Copies are new arrays: written as auto decides for them (x and z have >= THRESHOLD chunks).
        assert {"x_copy", "g/z_copy"} <= f._rfs.binary_tables
        assert g._rfs.binary_tables == {"x", "g/z"} - {"g/z"} | {"z"}


@pytest.mark.parametrize("form", FORMS)
def test_upload_staged_chunks_of_table_arrays(source, truth, tmp_path, form):
    out = translated(source, tmp_path, form, ".lindi.json")
    staging = StagingArea.create(tmp_path / "staging")
    with LindiH5pyFile.from_lindi_file(out, mode="r+", staging_area=staging) as f:
        edit(f)
        staged = [ref.url for _, ref in f._rfs.chunk_refs("w") if staging.contains(ref.url)]
        assert len(staged) == 3  # rows 3, 4 and 140
        report = f.upload(DirectoryUploader(tmp_path / "blobs"))
        assert report.chunks == 3
    staging.cleanup()
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(truth, f)
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]
        urls = {ref.url for _, ref in f._rfs.chunk_refs("w")}
        assert urls - {source} and all(url.startswith(str(tmp_path / "blobs")) for url in urls - {source})


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("form", FORMS)
def test_write_back_to_every_container(source, truth, tmp_path, form, container):
    out = translated(source, tmp_path, form, container)
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        edit(f)
        targets = [str(tmp_path / f"copy{suffix}") for suffix in CONTAINERS]
        for target in targets:
            f.write_lindi_file(target)
    for target in [*targets, out]:
        with LindiH5pyFile.from_lindi_file(target) as f:
            assert_matches(truth, f)
            assert f._rfs.binary_tables == EXPECTED_BINARY[form], target


def _members(path: str) -> dict:
    return dict(tar_container.open_local(path).container.members)


@pytest.mark.parametrize(("form", "tables"), [("json", "inline"), ("binary", "inline"), ("binary", "members")])
def test_lindi_tar_grows_by_new_bytes_only(make_h5, tmp_path, monkeypatch, form, tables):
    if tables == "members":  # every binary table a member of the archive, however small
        monkeypatch.setattr(table_files, "CONTAINER_TABLE_THRESHOLD", 0)
    chunks = 20_000 if form == "binary" else 5_000  # JSON refs cost a parse at each of the many opens
    source = make_h5(lambda f: f.create_dataset("big", data=np.arange(2 * chunks, dtype="<i2"), chunks=(2,)),
                     name="big.h5")
    truth = str(tmp_path / "big-truth.h5")
    shutil.copy(source, truth)
    out = str(tmp_path / "big.lindi.tar")
    translate_to_file(source, out, progress=False, chunk_table=form,
                      options=ChunkOptions(inline_threshold=0, chunk_table_threshold=1000))
    # Reads cover the edited region only: reading 20,000 chunks one by one takes seconds.
    window = np.s_[:600]
    readers = []
    for step in range(3):
        before_bytes = open(out, "rb").read()
        before_members = _members(out)
        with h5py.File(truth, "r") as h:
            readers.append((LindiH5pyFile.from_lindi_file(out), h["big"][window]))
        with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
            f["big"][step * 100: step * 100 + 6] = step + 1000
            f.flush()
            after_first = os.path.getsize(out)
            f.flush()  # nothing new: nothing written
            assert os.path.getsize(out) == after_first
            assert f._rfs.binary_tables == ({"big"} if form == "binary" else set())
        with h5py.File(truth, "r+") as h:
            h["big"][step * 100: step * 100 + 6] = step + 1000
        after_bytes = open(out, "rb").read()
        after_members = _members(out)
        new = [m for name, m in after_members.items() if before_members.get(name) != m]
        # The archive grew by the new members (reference file, index, chunks) and nothing else.
        assert len(after_bytes) - len(before_bytes) == sum(512 + padded_to_block(m.size) for m in new)
        assert {m.name for m in new} >= {"lindi.json", ".tar_index.json"}
        # A commit's reference file keeps at most 64 KiB of room to grow in place (for LINDI 0.4,
        # which rewrites it in place; this library appends): not half its size again, which on a
        # large reference file is megabytes each commit.
        reference = after_members["lindi.json"]
        text = tar_container.open_local(out).reference_text.rstrip()
        assert reference.size <= padded_to_block(len(text) + (64 << 10))
        # No byte of the previous commit's members was written again.
        for member in before_members.values():
            if member.name != ".tar_entry.json":
                start, end = member.data_offset, member.data_offset + member.size
                assert after_bytes[start:end] == before_bytes[start:end], member.name
        with LindiH5pyFile.from_lindi_file(out) as f, h5py.File(truth, "r") as h:
            assert np.array_equal(f["big"][window], h["big"][window])
            assert f["big"][-1] == h["big"][-1]
            assert f._rfs.binary_tables == ({"big"} if form == "binary" else set())
        # With members, the edited table is one new member and the reference file names it.
        assert len(_table_members(out)) == (1 if tables == "members" else 0)
    for reader, expected in readers:  # readers opened before a commit still read their commit's data
        assert np.array_equal(reader["big"][window], expected)
        reader.close()


@pytest.mark.parametrize("container", CONTAINERS)
def test_arrays_created_or_resized_while_editing_get_the_form_translation_gives(source, truth, tmp_path,
                                                                               container):
    out = translated(source, tmp_path, "auto", container)

    def more_edits(f) -> None:
        f.create_dataset("new", data=np.arange(400, dtype="<i4"), chunks=(2,))  # 200 chunks
        f.create_dataset("tiny", data=np.arange(20, dtype="<i4"), chunks=(2,))  # 10 chunks
        f.create_dataset("unwritten", shape=(400,), dtype="<i4", chunks=(2,))  # 200 chunks, none stored
        f["x"].resize((100,))  # 50 chunks: below the threshold
        f["s"].resize((400,))  # 200 chunks: at or above it
        f["s"][100:110] = 3

    with h5py.File(truth, "r+") as h:
        more_edits(h)
    with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table_threshold=THRESHOLD) as f:
        edit(f)
        more_edits(f)
    decided = translate_to_file(truth, str(tmp_path / "truth.lindi.json"), progress=False, options=OPTIONS,
                                chunk_table="auto").binary_tables
    assert decided == {"g/z", "w", "new", "unwritten", "s"}
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(truth, f)
        assert f._rfs.binary_tables == decided


def test_default_threshold_keeps_small_new_arrays_json_and_explicit_binary_makes_all_binary(source, tmp_path):
    out = translated(source, tmp_path, "binary", ".lindi.json")
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        f.create_dataset("new", data=np.arange(400, dtype="<i4"), chunks=(2,))
        f["x"].resize((100,))  # 50 chunks: no threshold (100,000) crossed, the table stays
    assert binary_arrays(out) == set(ARRAYS)
    with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table="binary"):
        pass
    assert binary_arrays(out) == set(ARRAYS) | {"new"}


def test_new_file_in_mode_w_gets_tables_by_auto(tmp_path):
    out = str(tmp_path / "new.lindi.tar")
    data = np.arange(1000, dtype="<i8")
    with LindiH5pyFile.from_lindi_file(out, mode="w", chunk_table_threshold=THRESHOLD) as f:
        f.create_dataset("a", data=data, chunks=(5,))  # 200 chunks
        f.create_dataset("b", data=data[:50], chunks=(5,))  # 10 chunks
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert f._rfs.binary_tables == {"a"}
        assert np.array_equal(f["a"][()], data) and np.array_equal(f["b"][()], data[:50])


def test_from_hdf5_file_saves_as_its_translation_chose(source, tmp_path):
    with LindiH5pyFile.from_hdf5_file(source, mode="r+", options=OPTIONS, chunk_table="binary") as f:
        f.create_dataset("tiny", data=np.arange(4), chunks=(2,))
        f.write_lindi_file(tmp_path / "out.lindi.json")
    assert binary_arrays(tmp_path / "out.lindi.json") == set(ARRAYS) | {"tiny"}


@pytest.mark.parametrize("bad", [dict(chunk_table="parquet"), dict(chunk_table_threshold=0),
                                 dict(chunk_table_threshold="5")])
def test_bad_chunk_table_options_fail_before_opening(source, tmp_path, bad):
    out = translated(source, tmp_path, "json", ".lindi.json")
    with pytest.raises(ValueError, match="chunk_table"):
        LindiH5pyFile.from_lindi_file(out, mode="r+", **bad)
    with LindiH5pyFile.from_lindi_file(out, mode="r+"):  # no lock left behind
        pass
    assert jsonio.load_path(out).binary_tables == set()


@pytest.mark.parametrize("container", CONTAINERS)
def test_moved_arrays_keep_their_form(source, tmp_path, container):
    out = translated(source, tmp_path, "binary", container)
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        f.move("x", "moved/x")
        f.move("s", "s2")
    with LindiH5pyFile.from_lindi_file(out) as f, h5py.File(source, "r") as h:
        assert f._rfs.binary_tables == {"moved/x", "s2", "g/z", "w"}
        assert np.array_equal(f["moved/x"][()], h["x"][()]) and np.array_equal(f["s2"][()], h["s"][()])


def test_an_array_deleted_and_created_again_is_a_new_array(source, tmp_path):
    out = translated(source, tmp_path, "binary", ".lindi.json")
    with LindiH5pyFile.from_lindi_file(out, mode="r+", chunk_table_threshold=THRESHOLD) as f:
        del f["x"]
        f.create_dataset("x", data=np.arange(10), chunks=(2,))  # 5 chunks: auto says JSON
        del f["s"]
        f.create_dataset("s", data=np.arange(8), chunks=(2,))  # the grid it had: still a new array
        del f["w"]
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert f._rfs.binary_tables == {"g/z"}
        assert np.array_equal(f["x"][()], np.arange(10)) and np.array_equal(f["s"][()], np.arange(8))


@pytest.mark.parametrize("form", ["json", "binary"])
def test_a_remote_container_with_tables_read_copied_and_written_locally(source, truth, tmp_path, serve, form):
    served = tmp_path / "served"
    served.mkdir()
    out = translated(source, tmp_path, form, ".lindi.tar")
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        edit(f)  # chunks kept in the container as members
    shutil.copy(out, served / "t.lindi.tar")
    shutil.copy(source, served / "source.h5")
    server = serve(served)
    # The refs into the HDF5 file name its local path: a trusted container may read it.
    with LindiH5pyFile.from_lindi_file(server.url_for("t.lindi.tar"), allow_local=True) as f:
        assert_matches(truth, f)
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]
        local = str(tmp_path / "local.lindi.json")
        with LindiH5pyFile.from_lindi_file(local, mode="w", chunk_table_threshold=THRESHOLD) as g:
            f.copy(f["w"], g, "w")
            f.copy(f["x"], g, "x")
        f.write_lindi_file(tmp_path / "whole.lindi.tar")
    with LindiH5pyFile.from_lindi_file(local, allow_local=True) as g, h5py.File(truth, "r") as h:
        assert np.array_equal(g["w"][()], h["w"][()]) and np.array_equal(g["x"][()], h["x"][()])
        assert g._rfs.binary_tables == {"w", "x"}
    server.stop()  # the self-contained copy needs neither the server nor the original container
    os.remove(out)
    with LindiH5pyFile.from_lindi_file(tmp_path / "whole.lindi.tar") as f:
        assert_matches(truth, f)
        assert f._rfs.binary_tables == EXPECTED_BINARY[form]


@pytest.mark.parametrize("target", CONTAINERS)
def test_a_file_open_for_reading_converts_when_written_elsewhere(source, tmp_path, target):
    out = translated(source, tmp_path, "json", ".lindi.tar")
    converted = str(tmp_path / f"converted{target}")
    with LindiH5pyFile.from_lindi_file(out, chunk_table="binary") as f:
        f.write_lindi_file(converted)
    assert binary_arrays(converted) == set(ARRAYS)
    assert binary_arrays(out) == set()  # the file read is unchanged
    with LindiH5pyFile.from_lindi_file(converted) as f:
        assert_matches(source, f)


def _table_members(path: str) -> dict:
    return {name: m for name, m in _members(path).items() if name.endswith(".lct") and "/" not in name}


def _table_descriptor(path: str, array: str = "big") -> dict:
    refs = jsonio.parse_json_bytes(tar_container.open_local(path).reference_text)["refs"]
    return refs[f"{array}/.zchunktable"]


@pytest.fixture
def big_tar(make_h5, tmp_path, monkeypatch):
    """A .lindi.tar of one 20,000-chunk array kept as a binary table (its chunks of varied
    lengths, as compressed data has), with a table-member threshold low enough that its table
    (a few tens of kB) counts as large, and a small JSON array beside it; and its h5py truth."""
    monkeypatch.setattr(table_files, "TABLE_FILE_THRESHOLD", 1024)
    monkeypatch.setattr(table_files, "CONTAINER_TABLE_THRESHOLD", 1024)
    rng = np.random.default_rng(5)

    def build_big(f: h5py.File) -> None:
        data = rng.integers(0, 4, 20_000 * 32).astype("<i4") * rng.integers(0, 2, 20_000 * 32)
        f.create_dataset("big", data=data, chunks=(32,), compression="gzip")
        f.create_dataset("small", data=np.arange(4096, dtype="<f8"), chunks=(1024,))  # chunks past the inline limit

    source = make_h5(build_big, name="big.h5")
    truth = str(tmp_path / "big-truth.h5")
    shutil.copy(source, truth)
    out = str(tmp_path / "big.lindi.tar")
    translate_to_file(source, out, progress=False, options=ChunkOptions(inline_threshold=0, chunk_table_threshold=1000))
    return out, truth


def test_lindi_tar_keeps_large_tables_as_members(big_tar):
    out, truth = big_tar
    tables = _table_members(out)
    descriptor = _table_descriptor(out)
    assert list(tables) == [descriptor["ref"]] and tables[descriptor["ref"]].size == descriptor["size"] > 1024
    assert "data" not in descriptor  # not inline: the reference file names the member
    # An edit that leaves the table alone (a chunk of the small JSON array, an attribute)
    # appends the chunk, the reference file and the index: never the table again.
    for step in range(2):
        before_bytes, before = open(out, "rb").read(), _members(out)
        with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
            f["small"][0:1024] = step + 100.0
            f["big"].attrs["note"] = f"step {step}"
        with h5py.File(truth, "r+") as h:
            h["small"][0:1024] = step + 100.0
        after_bytes, after = open(out, "rb").read(), _members(out)
        new = {name: m for name, m in after.items() if before.get(name) != m}
        assert set(new) == {"lindi.json", ".tar_index.json", "blobs/small/0" + (f".v{step + 1}" if step else "")}
        assert len(after_bytes) - len(before_bytes) == sum(512 + padded_to_block(m.size) for m in new.values())
        assert _table_members(out) == tables and _table_descriptor(out) == descriptor
        assert after["lindi.json"].size <= 16 << 10  # the table is not in it
    # An edit of the table's array: one new table member (named by its new content), appended
    # after everything else; the old one leaves the index, its bytes untouched (readers that
    # opened the previous commit still read it).
    reader = LindiH5pyFile.from_lindi_file(out)
    with h5py.File(truth, "r") as h:
        previous = h["big"][:200]
    before_bytes, before = open(out, "rb").read(), _members(out)
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        f["big"][64:96] = -7
    with h5py.File(truth, "r+") as h:
        h["big"][64:96] = -7
    after_bytes, after = open(out, "rb").read(), _members(out)
    new = {name: m for name, m in after.items() if before.get(name) != m}
    new_tables = _table_members(out)
    assert len(new_tables) == 1 and set(new_tables) != set(tables) and set(new_tables) <= set(new)
    assert len(after_bytes) - len(before_bytes) == sum(512 + padded_to_block(m.size) for m in new.values())
    old = tables[descriptor["ref"]]
    assert after_bytes[old.data_offset:old.end] == before_bytes[old.data_offset:old.end]
    assert np.array_equal(reader["big"][:200], previous)  # its own commit's table
    reader.close()
    with LindiH5pyFile.from_lindi_file(out) as f, h5py.File(truth, "r") as h:
        assert np.array_equal(f["big"][:4000], h["big"][:4000]) and np.array_equal(f["small"][()], h["small"][()])
        assert np.array_equal(f["big"][-100:], h["big"][-100:])
    # Writing the same table again (an edit undone) finds its member: nothing appended for it.
    size = os.path.getsize(out)
    with LindiH5pyFile.from_lindi_file(out, mode="r+") as f:
        f.flush()
    assert os.path.getsize(out) == size
