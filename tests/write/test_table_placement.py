"""Where the binary chunk tables of a reference file go when it is written (spec §13): a large
table is a content-named member of a ``.lindi.tar``, a file beside a ``.lindi.json`` or in a
``.lindi.d``, and inline in a reference file handed over as a dict. Every writer that puts a
reference file in a new place carries its tables along: the copy reads back as h5py reads the
HDF5 file after the place it was read from is gone. Low thresholds (``TABLE_FILE_THRESHOLD``,
``CONTAINER_TABLE_THRESHOLD``) make tables of a few kB count as large."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from lindi_core import LindiH5pyFile, StagingArea
from lindi_core.format import jsonio, table_files
from lindi_core.io import tar_container
from lindi_core.lindi_compat import LindiH5ZarrStore
from lindi_core.translate import ChunkOptions, translate_to_file
from lindi_core.write.uploaders import DirectoryUploader
from tests.compat.lindi04 import needs_lindi04, run_lindi04

OPTIONS = ChunkOptions(inline_threshold=0, chunk_table_threshold=1000)
PLACES = (".lindi.json", ".lindi.tar", ".lindi.d")


def build(f: h5py.File) -> None:
    # 2,000 chunks of varied (compressed) lengths: a table of some kB; and a small JSON array.
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4, 2000 * 16).astype("<i4") * rng.integers(0, 2, 2000 * 16)
    f.create_dataset("big", data=data, chunks=(16,), compression="gzip")
    f.create_dataset("small", data=np.arange(4096, dtype="<f8"), chunks=(1024,))


@pytest.fixture(autouse=True)
def low_threshold(monkeypatch):
    monkeypatch.setattr(table_files, "TABLE_FILE_THRESHOLD", 512)
    monkeypatch.setattr(table_files, "CONTAINER_TABLE_THRESHOLD", 512)


@pytest.fixture
def source(make_h5) -> str:
    return make_h5(build, name="source.h5")


def assert_matches(h5_path: str, f: LindiH5pyFile) -> None:
    with h5py.File(h5_path, "r") as h:
        for name in ("big", "small"):
            assert np.array_equal(f[name][()], h[name][()]), name
    assert f._rfs.binary_tables == {"big"}


def table_descriptor(text: bytes) -> dict:
    return jsonio.parse_json_bytes(text)["refs"]["big/.zchunktable"]


def reference_text(path: str) -> bytes:
    if path.endswith(".lindi.tar"):
        return tar_container.open_local(path).reference_text
    with open(os.path.join(path, "lindi.json") if path.endswith(".lindi.d") else path, "rb") as f:
        return f.read()


def placed_in(tmp_path, source: str, place: str) -> str:
    """``source`` translated into a new folder, as a reference file of kind ``place``."""
    folder = tmp_path / f"from{place}"
    folder.mkdir()
    out = str(folder / f"t{place}")
    translate_to_file(source, out, progress=False, options=OPTIONS)
    assert "ref" in table_descriptor(reference_text(out))  # the table is not inline
    return out


@pytest.mark.parametrize("place", PLACES)
def test_new_reference_files_keep_large_tables_outside_the_json(source, tmp_path, place):
    out = placed_in(tmp_path, source, place)
    descriptor = table_descriptor(reference_text(out))
    name = descriptor["ref"]
    assert name.startswith("lindi.json." if place != ".lindi.json" else "t.lindi.json.") and name.endswith(".lct")
    if place == ".lindi.tar":
        assert tar_container.open_local(out).container.members[name].size == descriptor["size"]
    else:
        folder = out if place == ".lindi.d" else os.path.dirname(out)
        assert os.path.getsize(os.path.join(folder, name)) == descriptor["size"]
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(source, f)


def test_a_lindi_tar_with_a_table_member_reads_over_http(source, tmp_path, serve):
    out = placed_in(tmp_path, source, ".lindi.tar")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(out, served / "t.lindi.tar")
    server = serve(served)
    with LindiH5pyFile.from_lindi_file(server.url_for("t.lindi.tar"), allow_local=True) as f:
        assert_matches(source, f)
    # Every byte, the table's included, came from the archive (no file beside it was asked for).
    assert server.stats.paths and all(p.endswith("/t.lindi.tar") for p in server.stats.paths)


@pytest.mark.parametrize("target", PLACES)
@pytest.mark.parametrize("place", PLACES)
def test_write_lindi_file_elsewhere_carries_the_tables(source, tmp_path, place, target):
    out = placed_in(tmp_path, source, place)
    copied = str(tmp_path / f"copy{target}")
    with LindiH5pyFile.from_lindi_file(out) as f:
        f.write_lindi_file(copied)
    shutil.rmtree(os.path.dirname(out))  # the place read from is gone
    with LindiH5pyFile.from_lindi_file(copied) as f:
        assert_matches(source, f)


@pytest.mark.parametrize("place", PLACES)
def test_a_dict_holds_its_tables(source, tmp_path, place):
    out = placed_in(tmp_path, source, place)
    with LindiH5pyFile.from_lindi_file(out) as f:
        obj = f.to_reference_file_system()
    shutil.rmtree(os.path.dirname(out))
    assert "data" in obj["refs"]["big/.zchunktable"]
    with LindiH5pyFile.from_reference_file_system(obj) as f:
        assert_matches(source, f)


def test_lindi_compat_writers_carry_the_tables(source, tmp_path):
    store = LindiH5ZarrStore.from_file(source, opts=None)
    store.rfs.binary_tables = {"big"}
    folder = tmp_path / "out"
    folder.mkdir()
    store.write_reference_file_system(str(folder / "a.lindi.json"))
    store.to_file(str(folder / "b.zarr.json"))
    assert "ref" in table_descriptor(reference_text(str(folder / "a.lindi.json")))
    obj = store.to_reference_file_system()
    assert "data" in obj["refs"]["big/.zchunktable"]
    for path in ("a.lindi.json", "b.zarr.json"):
        with LindiH5pyFile.from_lindi_file(str(folder / path)) as f:
            assert_matches(source, f)
    with LindiH5pyFile.from_reference_file_system(obj) as f:
        assert_matches(source, f)


@pytest.mark.parametrize("place", PLACES)
def test_upload_then_copy_carries_the_new_table(source, tmp_path, place):
    out = placed_in(tmp_path, source, place)
    truth = str(tmp_path / "truth.h5")
    shutil.copy(source, truth)
    with h5py.File(truth, "r+") as h:
        h["big"][0:16] = -3
    staging = StagingArea(str(tmp_path / "staging"))
    with LindiH5pyFile.from_lindi_file(out, mode="r+", staging_area=staging) as f:
        f["big"][0:16] = -3
        f.upload(DirectoryUploader(str(tmp_path / "blobs")))
    # Written back where it was read, the changed table is again outside the JSON.
    assert "ref" in table_descriptor(reference_text(out))
    with LindiH5pyFile.from_lindi_file(out) as f:
        assert_matches(truth, f)
        f.write_lindi_file(str(tmp_path / "copy.lindi.json"))
    shutil.rmtree(os.path.dirname(out))
    with LindiH5pyFile.from_lindi_file(str(tmp_path / "copy.lindi.json")) as f:
        assert_matches(truth, f)


@pytest.mark.slow  # starts LINDI 0.4's interpreter (some 2 s)
@needs_lindi04
def test_lindi04_refuses_a_table_member_loudly(source, tmp_path):
    out = placed_in(tmp_path, source, ".lindi.tar")
    result = run_lindi04(f"""
import json, lindi
f = lindi.LindiH5pyFile.from_lindi_file({out!r})
out = {{"small": f["small"][:3].tolist()}}
try:
    out["big"] = f["big"][:3].tolist()
except Exception as exc:
    out["big_error"] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps(out))
""", cwd=tmp_path)
    assert result["small"] == [0.0, 1.0, 2.0]
    assert "big" not in result and "lindi.chunk_table" in result["big_error"]
