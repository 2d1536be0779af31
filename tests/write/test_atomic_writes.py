"""Every file the library writes goes through one atomic writer: the destination is the old
file or the complete new one, and a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import resource
import signal

import pytest

from lindi_core.format import temporaries
from lindi_core.write.uploaders import DirectoryUploader


@contextlib.contextmanager
def files_limited_to(size: int):
    """Writes past ``size`` bytes of any file fail (EFBIG), as on a full disk."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_an_upload_to_a_folder_that_fails_leaves_the_old_blob_and_no_partial_copy(tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20))
    destination = tmp_path / "uploaded"
    destination.mkdir()
    (destination / "blob.bin").write_bytes(b"the old blob")
    with files_limited_to(64 * 1024), pytest.raises(OSError):
        DirectoryUploader(destination).upload(str(blob), "blob.bin")
    assert os.listdir(destination) == ["blob.bin"]
    assert (destination / "blob.bin").read_bytes() == b"the old blob"
    assert DirectoryUploader(destination).upload(str(blob), "blob.bin") == str(destination / "blob.bin")
    assert (destination / "blob.bin").read_bytes() == blob.read_bytes()


def test_a_uniquely_named_file_is_private_and_replaced_whole(tmp_path):
    path = tmp_path / "chunk"
    temporaries.write_bytes(path, b"new bytes", unique_name=True)
    assert path.read_bytes() == b"new bytes"
    assert (path.stat().st_mode & 0o777) == 0o600  # staged chunks, as mkstemp makes them
    assert os.listdir(tmp_path) == ["chunk"]
