"""LINDI 0.4's ``LindiH5pyFile`` constructors and keywords through ``import lindi_core as
lindi`` (``from_hdf5_file(url=, zarr_store_opts=)``, ``write_lindi_file(generation_metadata=)``),
values compared to h5py reading the same file; and h5py's exceptions where LINDI raises others."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import lindi_core as lindi
from lindi_core.format import jsonio
from tests.h5walk import walk_differences


def _build(f: h5py.File) -> None:
    f.create_dataset("chunked", data=np.random.default_rng(1).standard_normal((60, 100)), chunks=(6, 50),
                     compression="gzip")  # 20 chunks, referenced (too large to inline)
    f.create_dataset("names", data=["a", "bb", "ccc"])
    f.create_group("group").attrs["x"] = 3


@pytest.fixture
def h5_path(make_h5) -> str:
    return make_h5(_build)


def test_from_hdf5_file_url_names_the_chunks(h5_path, serve, tmp_path):
    server = serve(tmp_path)
    url = server.url_for("data.h5")
    client = lindi.LindiH5pyFile.from_hdf5_file(h5_path, url=url)
    rfs = client.to_reference_file_system()
    assert jsonio.from_json_dict(rfs).used_urls() == [url]
    client.close()
    reopened = lindi.LindiH5pyFile.from_reference_file_system(rfs)
    with h5py.File(h5_path, "r") as expected:
        assert walk_differences(expected, reopened) == []
    reopened.close()


def test_from_hdf5_file_over_a_url(h5_path, serve, tmp_path):
    url = serve(tmp_path).url_for("data.h5")
    with lindi.LindiH5pyFile.from_hdf5_file(url) as client, h5py.File(h5_path, "r") as expected:
        assert walk_differences(expected, client) == []


def test_from_hdf5_file_zarr_store_opts(h5_path):
    opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=5)  # "chunked" has 20
    with lindi.LindiH5pyFile.from_hdf5_file(h5_path, zarr_store_opts=opts) as client:
        refs = client.to_reference_file_system()["refs"]
        with h5py.File(h5_path, "r") as expected:
            assert walk_differences(expected, client) == []
    zattrs = refs["chunked/.zattrs"]
    assert (json.loads(zattrs) if isinstance(zattrs, str) else zattrs)["_EXTERNAL_ARRAY_LINK"]["name"] == "chunked"


def test_write_lindi_file_generation_metadata(h5_path, tmp_path):
    out = tmp_path / "x.lindi.json"
    with lindi.LindiH5pyFile.from_hdf5_file(h5_path) as client:
        own = client.to_reference_file_system()["generationMetadata"]
        client.write_lindi_file(str(out), generation_metadata={"generatedBy": "my-script", "n": 1})
        assert client.to_reference_file_system()["generationMetadata"] == own  # the file keeps its own
    written = json.loads(out.read_text())
    assert written["generationMetadata"] == {"generatedBy": "my-script", "n": 1}
    with lindi.LindiH5pyFile.from_lindi_file(str(out)) as reopened, h5py.File(h5_path, "r") as expected:
        assert walk_differences(expected, reopened) == []


def _error_type(action) -> type[BaseException] | None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc)
    return None


@pytest.mark.parametrize("write", [
    lambda f: f.create_group("new"),
    lambda f: f.create_dataset("new", data=[1, 2]),
    lambda f: f["chunked"].__setitem__((0, 0), 5.0),
    lambda f: f.attrs.__setitem__("new", 1),
])
def test_writes_in_mode_r_raise_what_h5py_raises(h5_path, write):
    """LINDI 0.4 raises ValueError for writes to a file open as ``r``; h5py code (pynwb's
    included) expects h5py's exception types, which lindi-core keeps."""
    with h5py.File(h5_path, "r") as expected:
        h5py_error = _error_type(lambda: write(expected))
    assert h5py_error is not None
    with lindi.LindiH5pyFile.from_hdf5_file(h5_path) as client:
        ours = _error_type(lambda: write(client))
    assert ours is not None and issubclass(ours, h5py_error), (ours, h5py_error)


def test_generation_metadata_does_not_reach_the_files_own_container(h5_path, tmp_path):
    """Writing a copy with other generation metadata from a ``.lindi.tar`` open for writing
    commits the container first (the copy may name its members): with its own metadata."""
    own = tmp_path / "own.lindi.tar"
    with lindi.LindiH5pyFile.from_hdf5_file(h5_path) as client:
        client.write_lindi_file(str(own))
    with lindi.LindiH5pyFile.from_lindi_file(str(own)) as before:
        kept = before.to_reference_file_system()["generationMetadata"]
    with lindi.LindiH5pyFile.from_lindi_file(str(own), mode="r+") as edited:
        edited.attrs["edited"] = 1
        edited.write_lindi_file(str(tmp_path / "copy.lindi.json"), generation_metadata={"by": "copy"})
        with lindi.LindiH5pyFile.from_lindi_file(str(own)) as meanwhile:  # what the commit made
            assert meanwhile.to_reference_file_system()["generationMetadata"] == kept
            assert meanwhile.attrs["edited"] == 1
    assert json.loads((tmp_path / "copy.lindi.json").read_text())["generationMetadata"] == {"by": "copy"}
    with lindi.LindiH5pyFile.from_lindi_file(str(own)) as after:
        assert after.to_reference_file_system()["generationMetadata"] == kept
        assert after.attrs["edited"] == 1
