"""Chunk references to fsspec URLs (here fsspec's in-memory filesystem)."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import AccessDeniedError


def test_fsspec_targets_are_read_and_untrusted_files_may_not_use_them(make_h5, tmp_path):
    data = np.arange(5000, dtype="<i8")
    path = make_h5(lambda f: f.create_dataset("x", data=data, chunks=(1000,)))
    memory = fsspec.filesystem("memory")
    memory.pipe("/lindi-core-test/x.h5", open(path, "rb").read())
    rfs = lindi_core.translate(path, ref_url="memory://lindi-core-test/x.h5")
    root = zarr.open_group(lindi_core.ReferenceStore(rfs), mode="r")
    np.testing.assert_array_equal(root["x"][...], data)
    from lindi_core.io.locations import LocationPolicy

    untrusted = lindi_core.ReferenceStore(rfs, policy=LocationPolicy(allow_local=False))
    with pytest.raises(AccessDeniedError, match="memory://"):
        zarr.open_group(untrusted, mode="r")["x"][...]
    memory.rm("/lindi-core-test", recursive=True)
