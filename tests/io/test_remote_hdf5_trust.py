"""An HDF5 file at a URL is untrusted, as a reference file fetched from one is: it may not make
the library read files on this machine, and credentials never travel unencrypted over a network.
Also: translating never destroys the file it translates, and writing a reference file back keeps
its permissions and the symlink it was opened through."""

from __future__ import annotations

import os
import stat

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import AccessDeniedError, TranslationError
from lindi_core.io.resolvers import DandiResolver

SECRET = b"the contents of a private local file\n" * 10


@pytest.fixture
def served_folder(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return folder


def test_a_remote_file_cannot_read_local_files_through_external_storage(served_folder, tmp_path, serve):
    with h5py.File(served_folder / "external.h5", "w") as f:
        f.create_dataset("stolen", shape=(len(SECRET),), dtype="u1",
                         external=[(str(tmp_path / "secret.txt"), 0, len(SECRET))])
    server = serve(served_folder)
    for translate in (lambda: lindi_core.translate(server.url_for("external.h5")),
                      lambda: lindi_core.LindiH5pyFile.from_hdf5_file(server.url_for("external.h5"))):
        with pytest.raises(AccessDeniedError, match="stolen"):
            translate()
    local = lindi_core.LindiH5pyFile.from_hdf5_file(str(served_folder / "external.h5"))  # a local file may
    assert bytes(local["stolen"][()]) == SECRET
    local.close()


def test_a_remote_file_cannot_read_local_files_through_external_links(served_folder, tmp_path, serve):
    with h5py.File(tmp_path / "private.h5", "w") as f:
        f["x"] = np.arange(5)
    with h5py.File(served_folder / "linking.h5", "w") as f:
        f["out"] = h5py.ExternalLink(str(tmp_path / "private.h5"), "/x")
    server = serve(served_folder)
    remote = lindi_core.LindiH5pyFile.from_hdf5_file(server.url_for("linking.h5"))
    with pytest.raises(AccessDeniedError):
        remote["out"]
    remote.close()
    allowed = lindi_core.LindiH5pyFile.from_hdf5_file(server.url_for("linking.h5"), allow_local=True)
    assert allowed["out"][()].tolist() == [0, 1, 2, 3, 4]
    allowed.close()


def test_the_archive_token_goes_only_over_https_or_loopback():
    resolver = DandiResolver(api_hosts=("api.example.org", "127.0.0.1:8000"), token="secret")
    assert resolver._matches("https://api.example.org/api/assets/x/download/")
    assert not resolver._matches("http://api.example.org/api/assets/x/download/")
    assert resolver._matches("http://127.0.0.1:8000/api/assets/x/download/")


def test_translating_a_file_onto_itself_is_refused(make_h5):
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(10)))
    before = open(path, "rb").read()
    with pytest.raises(TranslationError, match="being translated"):
        lindi_core.translate_to_file(path, path, progress=False)
    assert open(path, "rb").read() == before


def test_writing_back_keeps_permissions_and_symlinks(tmp_path):
    target = tmp_path / "real.lindi.json"
    with lindi_core.LindiH5pyFile.from_lindi_file(str(target), "w") as f:
        f.attrs["a"] = 1
    os.chmod(target, 0o644)
    link = tmp_path / "link.lindi.json"
    link.symlink_to(target)
    with lindi_core.LindiH5pyFile.from_lindi_file(str(link), "r+") as f:
        f.attrs["b"] = 2
    assert link.is_symlink()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    with lindi_core.LindiH5pyFile.from_lindi_file(str(target)) as f:
        assert dict(f.attrs) == {"a": 1, "b": 2}
