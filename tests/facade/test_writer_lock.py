"""One writer per local reference file, as HDF5's file locking allows one writer per HDF5 file.

Two writers of one reference file would each write back their own copy, the last undoing the
other's edits. The reference for the cross-process case is h5py itself: a second process
cannot open an HDF5 file for writing while another holds it open for writing.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import FileInUseError

H5 = lindi_core.LindiH5pyFile


@pytest.fixture(params=["edited.lindi.json", "edited.lindi.tar"])
def reference_file(request, tmp_path) -> str:
    path = str(tmp_path / request.param)
    with H5.from_lindi_file(path, "w") as f:
        f.create_dataset("x", data=np.arange(10))
    return path


def test_a_second_writer_is_refused_and_the_first_keeps_its_edits(reference_file):
    first = H5.from_lindi_file(reference_file, "r+")
    for mode in ("r+", "a", "w"):
        with pytest.raises(FileInUseError, match="open for writing elsewhere"):
            H5.from_lindi_file(reference_file, mode)
    with H5.from_lindi_file(reference_file) as reader:  # readers are not held back
        np.testing.assert_array_equal(reader["x"][()], np.arange(10))
    first.attrs["by"] = "first"
    first.close()

    with H5.from_lindi_file(reference_file, "r+") as second:  # free once the first is closed
        assert second.attrs["by"] == "first"
        second.attrs["then"] = "second"
    with H5.from_lindi_file(reference_file) as f:
        assert dict(f.attrs) == {"by": "first", "then": "second"}


def test_the_lock_is_an_oserror_as_h5pys_is(reference_file):
    with H5.from_lindi_file(reference_file, "r+"):
        with pytest.raises(OSError):
            H5.from_lindi_file(reference_file, "r+")


def test_a_collected_writer_and_a_failed_open_release_the_lock(reference_file, tmp_path):
    writer = H5.from_lindi_file(reference_file, "r+")
    writer.attrs["kept"] = 1
    del writer
    gc.collect()
    with H5.from_lindi_file(reference_file, "r+") as again:
        assert again.attrs["kept"] == 1

    broken = tmp_path / "broken.lindi.json"
    broken.write_text("{ not json")
    for _ in range(2):  # the second attempt fails the same way, not on a lock left behind
        with pytest.raises(lindi_core.errors.ReferenceFormatError):
            H5.from_lindi_file(str(broken), "r+")


def _hold_open_for_writing(code: str) -> subprocess.Popen:
    """A process that opens a file for writing, says so, and waits to be killed."""
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code) + "\nprint('open', flush=True)\n"
                                "import time\ntime.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "open"
    return process


def test_another_process_holding_the_file_blocks_writers_as_h5py_does_until_it_dies(reference_file, make_h5):
    h5 = make_h5(lambda f: f.create_dataset("x", data=np.arange(3)), name="held.h5")
    holders = [_hold_open_for_writing(f"import h5py\nf = h5py.File({h5!r}, 'r+')"),
               _hold_open_for_writing(f"import lindi_core\nf = lindi_core.LindiH5pyFile.from_lindi_file("
                                      f"{reference_file!r}, 'r+')")]
    try:
        with pytest.raises(OSError):  # h5py's own behaviour, the reference
            h5py.File(h5, "r+")
        with pytest.raises(FileInUseError):
            H5.from_lindi_file(reference_file, "r+")
    finally:
        for process in holders:
            os.kill(process.pid, signal.SIGKILL)  # no close: the operating system drops the locks
            process.wait()
    with h5py.File(h5, "r+"), H5.from_lindi_file(reference_file, "r+"):
        pass


def test_a_file_in_a_missing_folder_is_not_created_with_the_folder(tmp_path):
    target = tmp_path / "missing" / "x.lindi.json"
    for mode in ("a", "w"):
        with pytest.raises(FileNotFoundError):
            H5.from_lindi_file(str(target), mode)
    with pytest.raises(FileNotFoundError):
        h5py.File(str(tmp_path / "missing" / "x.h5"), "a")  # h5py's behaviour, the reference
    assert not (tmp_path / "missing").exists()


def _other_name(kind: str, reference_file: str) -> str:
    """Another name of ``reference_file``: a symlink to it, or a hard link in another folder."""
    folder = os.path.join(os.path.dirname(reference_file), "elsewhere")
    os.makedirs(folder, exist_ok=True)
    other = os.path.join(folder, "other-name" + os.path.basename(reference_file).partition(".")[2])
    (os.symlink if kind == "symlink" else os.link)(reference_file, other)
    return other


@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_another_name_of_the_file_is_the_same_file_to_the_lock(reference_file, kind):
    other = _other_name(kind, reference_file)
    for first, second in ((reference_file, other), (other, reference_file)):
        with H5.from_lindi_file(first, "r+") as writer:
            for mode in ("r+", "a", "w"):
                with pytest.raises(FileInUseError, match="open for writing elsewhere"):
                    H5.from_lindi_file(second, mode)
            writer.attrs[f"through {os.path.basename(first)}"] = 1
        with H5.from_lindi_file(second, "r+") as after:  # free again, with the first one's edit
            assert after.attrs[f"through {os.path.basename(first)}"] == 1


@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_another_process_holding_another_name_blocks_writers(reference_file, kind):
    other = _other_name(kind, reference_file)
    holder = _hold_open_for_writing(f"import lindi_core\nf = lindi_core.LindiH5pyFile.from_lindi_file({other!r}, 'r+')")
    try:
        with pytest.raises(FileInUseError):
            H5.from_lindi_file(reference_file, "r+")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with H5.from_lindi_file(reference_file, "r+"):
        pass


def test_edits_through_one_hard_link_are_seen_through_the_other(reference_file):
    other = _other_name("hard link", reference_file)
    for step, (writer_name, reader_name) in enumerate([(other, reference_file), (reference_file, other)] * 2):
        with H5.from_lindi_file(writer_name, "r+") as f:
            f.attrs["step"] = step
            f["x"][step] = 100 + step
        with H5.from_lindi_file(reader_name) as f:
            assert f.attrs["step"] == step
            assert list(f["x"][: step + 1]) == [100 + s for s in range(step + 1)]
    assert os.path.samefile(reference_file, other)  # still one file with two names
    assert os.stat(reference_file).st_nlink == 2


def test_a_file_created_through_a_dangling_symlink_is_locked_under_its_target(tmp_path):
    target = str(tmp_path / "target.lindi.json")
    link = str(tmp_path / "link.lindi.json")
    os.symlink(target, link)
    with H5.from_lindi_file(link, "w") as f:
        with pytest.raises(FileInUseError):
            H5.from_lindi_file(target, "a")
        f.attrs["made"] = "through the link"
    assert os.path.islink(link)
    with H5.from_lindi_file(target) as f:
        assert f.attrs["made"] == "through the link"
