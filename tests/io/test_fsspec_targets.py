"""Chunk references to fsspec URLs (here fsspec's in-memory filesystem)."""

from __future__ import annotations

import asyncio

import fsspec
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import AccessDeniedError, ByteSourceError
from lindi_core.io.sources import FsspecSource


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


class _RefusingFilesystem(fsspec.AbstractFileSystem):
    """A filesystem failing as cloud stores' drivers do, with exceptions of their own kinds."""

    protocol = "lindirefusing"

    def cat_file(self, path, start=None, end=None, **kwargs):
        raise RuntimeError("Unable to locate credentials")  # botocore's NoCredentialsError is no OSError


@pytest.mark.parametrize("url", ["lindirefusing://bucket/x.h5", "lindinosuchdriver://bucket/x.h5"])
def test_a_failing_fsspec_target_is_a_byte_source_error(url):
    fsspec.register_implementation("lindirefusing", _RefusingFilesystem, clobber=True)
    with pytest.raises(ByteSourceError, match="cannot read"):
        asyncio.run(FsspecSource().read(url, 0, 10))


class _StallingFilesystem(fsspec.AbstractFileSystem):
    """A filesystem whose reads never come back in time (a store that stopped answering)."""

    protocol = "lindistalling"

    def cat_file(self, path, start=None, end=None, **kwargs):
        import time

        time.sleep(2.5)
        return b"late"


def test_an_fsspec_read_has_a_total_deadline():
    import time

    fsspec.register_implementation("lindistalling", _StallingFilesystem, clobber=True)

    async def read() -> float:
        started = time.perf_counter()
        with pytest.raises(ByteSourceError, match="timed out after 0.5 s"):
            await FsspecSource(timeout=0.5).read("lindistalling://bucket/x.h5", 0, 4)
        return time.perf_counter() - started

    # (asyncio.run then waits for the stalled worker thread as it shuts its executor down)
    assert asyncio.run(read()) < 2  # the stalled read was given up at the deadline


def test_the_fsspec_deadline_is_the_files_timeout():
    from lindi_core.io.http_source import HttpSource
    from lindi_core.io.sources import ByteSources

    assert ByteSources(HttpSource(timeout=7.5)).fsspec.timeout == 7.5
