"""The ``.lindi.d`` folder form: a reference file ``lindi.json`` and chunk files in a folder.

Read (hand-built folders here; LINDI-written ones in tests/compat/test_lindi_folder_with_lindi04.py),
written new, edited in place (``r+``/``a``) without ever overwriting a chunk file, copied with
``write_lindi_file`` (whose names are LINDI's three), and kept inside itself: relative refs may
not leave the folder."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import AccessDeniedError, FileInUseError, FolderFormatError
from lindi_core.facade.files import LindiH5pyFile as H5
from tests.file_digests import file_digests


def _hand_built(folder, values: np.ndarray, refs: dict | None = None) -> None:
    """A .lindi.d as LINDI lays one out: lindi.json and one raw chunk file per chunk."""
    os.makedirs(folder / "blobs" / "x")
    chunk_refs = {}
    for i in range(len(values) // 1000):
        data = values[i * 1000 : (i + 1) * 1000].tobytes()
        (folder / "blobs" / "x" / str(i)).write_bytes(data)
        chunk_refs[f"x/{i}"] = [f"./blobs/x/{i}", 0, len(data)]
    document = {"refs": {
        ".zgroup": {"zarr_format": 2}, ".zattrs": {"title": "hand"},
        "x/.zarray": {"zarr_format": 2, "shape": [len(values)], "chunks": [1000], "dtype": "<f8", "compressor": None,
                      "filters": None, "fill_value": 0.0, "order": "C"},
        "x/.zattrs": {}, **chunk_refs, **(refs or {})}}
    (folder / "lindi.json").write_text(json.dumps(document))


@pytest.fixture
def values() -> np.ndarray:
    return np.random.default_rng(5).standard_normal(3000)


def test_reads_a_hand_built_folder(tmp_path, values):
    folder = tmp_path / "hand.lindi.d"
    _hand_built(folder, values)
    with H5.from_lindi_file(str(folder)) as f:
        np.testing.assert_array_equal(f["x"][()], values)
        assert f.attrs["title"] == "hand"
    store = lindi_core.ReferenceStore.from_file(folder)  # the store opens it too, zarr reads through it
    try:
        np.testing.assert_array_equal(zarr.open_array(store, path="x", mode="r", zarr_format=2)[:], values)
    finally:
        store.close()


def test_writes_a_new_folder_and_edits_it_in_place(tmp_path, values):
    folder = tmp_path / "new.lindi.d"
    with H5.from_lindi_file(str(folder), mode="w") as f:
        f.create_dataset("x", data=values, chunks=(1000,))
        f.create_dataset("small", data=[1, 2, 3])
    assert sorted(file_digests(folder)) == ["blobs/x/0", "blobs/x/1", "blobs/x/2", "lindi.json"]
    refs = json.loads((folder / "lindi.json").read_text())["refs"]
    text = json.dumps(refs)
    assert "./blobs/x/1" in text and str(tmp_path) not in text  # relative: the folder moves as a whole
    before = file_digests(folder)
    reader = H5.from_lindi_file(str(folder))  # opened before the edit: keeps reading what it was given
    try:
        with H5.from_lindi_file(str(folder), mode="r+") as f:
            f["x"][1000:2000] = -1.0
            f.create_dataset("y", data=values[::-1].copy(), chunks=(1500,))
        after = file_digests(folder)
        for name, digest in before.items():  # no chunk file written again
            if name != "lindi.json":
                assert after[name] == digest
        assert {"blobs/x/1.v2", "blobs/y/0", "blobs/y/1"} <= set(after)
        np.testing.assert_array_equal(reader["x"][()], values)
    finally:
        reader.close()
    expected = values.copy()
    expected[1000:2000] = -1.0
    moved = tmp_path / "moved" / "new.lindi.d"
    shutil.move(str(folder), str(moved))
    with H5.from_lindi_file(str(moved)) as f:
        np.testing.assert_array_equal(f["x"][()], expected)
        np.testing.assert_array_equal(f["y"][()], values[::-1])
        np.testing.assert_array_equal(f["small"][()], [1, 2, 3])


def test_modes_create_and_refuse_as_h5py(tmp_path, values):
    folder = tmp_path / "a.lindi.d"
    with pytest.raises(FileNotFoundError):
        H5.from_lindi_file(str(folder), mode="r+")
    with H5.from_lindi_file(str(folder), mode="a") as f:  # a: created
        f.create_dataset("x", data=values, chunks=(1000,))
    assert folder.is_dir()
    with H5.from_lindi_file(str(folder), mode="a") as f:  # a: opened
        np.testing.assert_array_equal(f["x"][()], values)
        f.attrs["more"] = 1
    for mode in ("w-", "x"):
        with pytest.raises(FileExistsError):
            H5.from_lindi_file(str(folder), mode=mode)
    with H5.from_lindi_file(str(folder)) as f:
        assert f.attrs["more"] == 1
    old_chunks = {k: v for k, v in file_digests(folder).items() if k != "lindi.json"}
    with H5.from_lindi_file(str(folder), mode="w") as f:  # w: a new, empty reference file...
        assert list(f) == []
    assert {k: v for k, v in file_digests(folder).items() if k != "lindi.json"} == old_chunks  # ...the chunks stay
    empty = tmp_path / "empty.lindi.d"
    empty.mkdir()
    with H5.from_lindi_file(str(empty), mode="a") as f:  # an empty folder is a new .lindi.d
        f.attrs["n"] = 2
    assert (empty / "lindi.json").exists()


def test_refuses_to_write_into_a_folder_that_is_not_a_lindi_d(tmp_path):
    other = tmp_path / "photos.lindi.d"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"jpeg")
    with H5.from_lindi_file(str(tmp_path / "src.lindi.json"), mode="w") as f:
        f.attrs["a"] = 1
        for open_as in ("w", "a", "r+"):
            with pytest.raises(FolderFormatError, match="not a .lindi.d"):
                H5.from_lindi_file(str(other), mode=open_as)
        with pytest.raises(FolderFormatError, match="not a .lindi.d"):
            f.write_lindi_file(str(other))
    assert sorted(os.listdir(other)) == ["holiday.jpg"]  # not even a lock file left there
    plain = tmp_path / "plain.lindi.d"
    plain.write_text('{"refs": {".zgroup": {"zarr_format": 2}}}')
    with pytest.raises(FileExistsError, match="not a .lindi.d folder"):
        H5.from_lindi_file(str(plain), mode="w")


def test_one_writer_whether_through_the_folder_or_its_reference_file(tmp_path):
    folder = tmp_path / "w.lindi.d"
    with H5.from_lindi_file(str(folder), mode="w"):
        with pytest.raises(FileInUseError):
            H5.from_lindi_file(str(folder), mode="r+")
        with pytest.raises(FileInUseError):
            H5.from_lindi_file(str(folder / "lindi.json"), mode="r+")


@pytest.mark.parametrize("name", ["out.json", "out.tar", "out.d", "out.lindi", "out.h5", "out.lindi.json.bak"])
def test_write_lindi_file_takes_lindis_three_names_only(tmp_path, name):
    with H5.from_lindi_file(str(tmp_path / "src.lindi.json"), mode="w") as f:
        with pytest.raises(ValueError, match=r"must end with '\.lindi\.json', '\.lindi\.tar', or '\.lindi\.d'"):
            f.write_lindi_file(str(tmp_path / name))
    assert not (tmp_path / name).exists()


def test_write_lindi_file_to_a_folder_is_self_contained(tmp_path, values):
    """From a .lindi.tar with members and from a staging area: the folder holds those chunks
    (and the large inline ones); refs to the HDF5 file stay refs."""
    tar = tmp_path / "src.lindi.tar"
    staging = lindi_core.StagingArea.create(tmp_path / "staging")
    with H5.from_lindi_file(str(tar), mode="w") as f:
        f.create_dataset("in_tar", data=values, chunks=(1000,))
    with H5.from_lindi_file(str(tar), mode="r+", staging_area=staging) as f:
        f.create_dataset("staged", data=values * 2, chunks=(1500,))
        f.write_lindi_file(str(tmp_path / "copy.lindi.d"))
    tar.unlink()
    staging.cleanup()
    copied = tmp_path / "copy.lindi.d"
    assert {"blobs/in_tar/0", "blobs/staged/0", "blobs/staged/1"} <= set(file_digests(copied))
    with H5.from_lindi_file(str(copied)) as f:
        np.testing.assert_array_equal(f["in_tar"][()], values)
        np.testing.assert_array_equal(f["staged"][()], values * 2)
        f.write_lindi_file(str(tmp_path / "again.lindi.d"))  # folder to folder
        f.write_lindi_file(str(tmp_path / "flat.lindi.json"))  # folder files by absolute path
        f.write_lindi_file(str(tmp_path / "packed.lindi.tar"))  # folder files become members
    refs = json.dumps(json.loads((tmp_path / "flat.lindi.json").read_text()))
    assert os.path.realpath(copied / "blobs" / "in_tar" / "0") in refs
    for name in ("again.lindi.d", "flat.lindi.json", "packed.lindi.tar"):
        with H5.from_lindi_file(str(tmp_path / name)) as f:
            np.testing.assert_array_equal(f["in_tar"][()], values)
            np.testing.assert_array_equal(f["staged"][()], values * 2)
    shutil.rmtree(copied)
    for name in ("again.lindi.d", "packed.lindi.tar"):  # these two need nothing of the folder they came from
        with H5.from_lindi_file(str(tmp_path / name)) as f:
            np.testing.assert_array_equal(f["in_tar"][()], values)


def test_write_lindi_file_into_an_existing_folder_keeps_its_chunk_files(tmp_path, values):
    folder = tmp_path / "target.lindi.d"
    with H5.from_lindi_file(str(folder), mode="w") as f:
        f.create_dataset("x", data=values, chunks=(1000,))
    before = {k: v for k, v in file_digests(folder).items() if k != "lindi.json"}
    reader = H5.from_lindi_file(str(folder))
    try:
        with H5.from_lindi_file(str(tmp_path / "other.lindi.d"), mode="w") as other:
            other.create_dataset("x", data=-values, chunks=(1000,))
            other.write_lindi_file(str(folder))
        after = file_digests(folder)
        assert all(after[k] == v for k, v in before.items())
        np.testing.assert_array_equal(reader["x"][()], values)  # the earlier reader's files are intact
    finally:
        reader.close()
    with H5.from_lindi_file(str(folder)) as f:
        np.testing.assert_array_equal(f["x"][()], -values)


def test_write_lindi_file_to_its_own_folder_commits_it(tmp_path, values):
    folder = tmp_path / "self.lindi.d"
    with H5.from_lindi_file(str(folder), mode="w") as f:
        f.create_dataset("x", data=values, chunks=(1000,))
        f.write_lindi_file(str(folder), generation_metadata={"generatedBy": "me"})
        assert json.loads((folder / "lindi.json").read_text())["generationMetadata"] == {"generatedBy": "me"}
    with H5.from_lindi_file(str(folder)) as f:
        np.testing.assert_array_equal(f["x"][()], values)
        before = file_digests(folder)
        f.write_lindi_file(str(folder), generation_metadata={"generatedBy": "read-only copy"})  # opened r
    assert file_digests(folder).keys() == before.keys()  # its chunk files are its own: none copied
    with H5.from_lindi_file(str(folder)) as f:
        np.testing.assert_array_equal(f["x"][()], values)
        assert f.to_reference_file_system()["generationMetadata"] == {"generatedBy": "read-only copy"}


@pytest.mark.parametrize("target", ["./../secret.bin", "./blobs/../../secret.bin", ".//SECRET", "blobs//x",
                                    "./.", "./"])
def test_relative_refs_may_not_leave_the_folder(tmp_path, values, target):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(values[:1000].tobytes())
    target = target.replace("/SECRET", str(secret))
    folder = tmp_path / "hostile.lindi.d"
    _hand_built(folder, values, {"x/0": [target, 0, 8000]})
    with H5.from_lindi_file(str(folder)) as f:
        with pytest.raises(FolderFormatError, match="not the name of a file inside the folder"):
            f["x"][0:10]
        np.testing.assert_array_equal(f["x"][1000:3000], values[1000:3000])


def test_symlinks_may_not_lead_out_of_the_folder(tmp_path, values):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(values[:1000].tobytes())
    folder = tmp_path / "links.lindi.d"
    _hand_built(folder, values, {"x/0": ["./blobs/out", 0, 8000], "x/1": ["./blobs/in", 0, 8000]})
    os.symlink(secret, folder / "blobs" / "out")
    os.symlink(folder / "blobs" / "x" / "1", folder / "blobs" / "in")  # inside: fine
    os.symlink(tmp_path, folder / "up")
    with H5.from_lindi_file(str(folder)) as f:
        with pytest.raises(AccessDeniedError, match="leads out of the folder"):
            f["x"][0:10]
        np.testing.assert_array_equal(f["x"][1000:2000], values[1000:2000])
    _hand_built(tmp_path / "dir.lindi.d", values, {"x/0": ["./up/secret.bin", 0, 8000]})
    os.symlink(tmp_path, tmp_path / "dir.lindi.d" / "up")
    with H5.from_lindi_file(str(tmp_path / "dir.lindi.d")) as f, pytest.raises(AccessDeniedError):
        f["x"][0:10]


def test_absolute_paths_are_trusted_as_in_a_local_lindi_json(tmp_path, values):
    """A .lindi.d is local: its absolute refs (a local HDF5 file's) read as a .lindi.json's do,
    and not with allow_local=False."""
    elsewhere = tmp_path / "data.bin"
    elsewhere.write_bytes(values[:1000].tobytes())
    folder = tmp_path / "abs.lindi.d"
    _hand_built(folder, values, {"x/0": [str(elsewhere), 0, 8000]})
    with H5.from_lindi_file(str(folder)) as f:
        np.testing.assert_array_equal(f["x"][()], values)
    with H5.from_lindi_file(str(folder), allow_local=False) as f:
        np.testing.assert_array_equal(f["x"][1000:3000], values[1000:3000])  # its own files still read
        with pytest.raises(AccessDeniedError):
            f["x"][0:10]


def test_a_folder_without_reference_file_is_named_as_such(tmp_path):
    (tmp_path / "bare.lindi.d").mkdir()
    with pytest.raises(FolderFormatError, match="without lindi.json"):
        H5.from_lindi_file(str(tmp_path / "bare.lindi.d"))
