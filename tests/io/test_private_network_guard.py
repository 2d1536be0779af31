"""A reference file may not make the library connect to addresses more private than the one it
came from (public < private < link-local < loopback), directly, through a name, a literal form
or a redirect, unless the user allows it.

Every test server listens on 127.0.0.1; a server "at a public address" is one whose port the
guard is told to count as public (``spaces``). Nothing ever connects anywhere but 127.0.0.1:
``no_connect_outside_loopback`` fails any attempt, and the tests check that forbidden addresses
are refused before a socket connects to them."""

from __future__ import annotations

import json
import socket

import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core.errors import AccessDeniedError
from lindi_core.io.address_guard import AddressGuard, AddressSpace, address_space
from lindi_core.io.sync_http import SyncHttp
from lindi_core.testing.range_server import RangeServer
from tests.io.redirects import RedirectingServer

DATA = np.arange(1000, dtype="<i4")
PAYLOAD = DATA.tobytes()


class Connects:
    """The addresses sockets tried to connect to: ``outside`` 127.0.0.1 (none is let through),
    and the ports of 127.0.0.1 connected to."""

    def __init__(self):
        self.outside: list = []
        self.ports: list[int] = []


@pytest.fixture
def connects(monkeypatch):
    attempts = Connects()
    real = socket.socket.connect

    def connect(self, address):
        if isinstance(address, tuple):
            if address[0] != "127.0.0.1":
                attempts.outside.append(address)
                raise OSError(101, "the test forbids connecting outside 127.0.0.1")
            attempts.ports.append(address[1])
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture
def servers(tmp_path):
    """(the server of the reference files, the server of the data), both on loopback."""
    refs_dir, data_dir = tmp_path / "refs", tmp_path / "data"
    refs_dir.mkdir()
    data_dir.mkdir()
    (data_dir / "data.bin").write_bytes(PAYLOAD)
    (refs_dir / "data.bin").write_bytes(PAYLOAD)
    data_server = RangeServer(data_dir)
    data_server.start()
    redirects: dict[str, str] = {}
    refs_server = RedirectingServer(refs_dir, redirects)
    refs_server.start()
    yield refs_server, data_server
    refs_server.stop()
    data_server.stop()


def publish(server: RangeServer, target: str, name: str = "x.lindi.json") -> str:
    """Serve a reference file whose one array's one chunk is the bytes at ``target``."""
    rfs = {"version": 1, "refs": {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "x/.zarray": json.dumps({"zarr_format": 2, "shape": [len(DATA)], "chunks": [len(DATA)], "dtype": "<i4",
                                 "compressor": None, "filters": None, "fill_value": 0, "order": "C"}),
        "x/0": [target, 0, len(PAYLOAD)],
    }}
    with open(f"{server.root}/{name}", "w") as f:
        json.dump(rfs, f)
    return server.url_for(name)


def read_x(url: str, **options) -> np.ndarray:
    store = lindi_core.ReferenceStore.from_file(url, **options)
    try:
        return zarr.open_group(store, mode="r", zarr_format=2)["x"][...]
    finally:
        store.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.1", "017700000001",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])
def test_a_public_reference_file_cannot_reach_loopback(servers, spaces, connects, host):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    url = publish(refs_server, f"http://{host}:{data_server.port}/data.bin")
    with pytest.raises(AccessDeniedError, match="loopback address.*public address.*allow_private_network=True"):
        read_x(url)
    assert data_server.stats.requests == 0
    assert connects.outside == [] and data_server.port not in connects.ports
    # Allowed by the user, or trusted as a local file, it reads the bytes (where reachable).
    if host in ("127.0.0.1", "localhost"):  # aiohttp itself refuses the legacy numeric forms
        np.testing.assert_array_equal(read_x(url, allow_private_network=True), DATA)
        np.testing.assert_array_equal(read_x(url, allow_local=True), DATA)


def test_a_reference_file_from_loopback_reaches_loopback(servers, connects):
    refs_server, data_server = servers
    for host in ("127.0.0.1", "localhost"):
        np.testing.assert_array_equal(read_x(publish(refs_server, f"http://{host}:{data_server.port}/data.bin")),
                                      DATA)
    assert connects.outside == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/",
                                    "http://10.0.0.1/data.bin", "http://192.168.1.1/data.bin",
                                    "http://172.16.5.4/data.bin", "http://100.64.0.1/data.bin",
                                    "http://[fe80::1]/data.bin", "http://[fc00::1]/data.bin", "http://0.0.0.0/x",
                                    "http://[::]/x", "http://[::1]/x", "http://[64:ff9b::a9fe:a9fe]/x"])
def test_a_public_reference_file_cannot_reach_private_or_link_local_addresses(servers, spaces, connects, target):
    refs_server, _ = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    with pytest.raises(AccessDeniedError, match=r"(private|link-local|loopback) address"):
        read_x(publish(refs_server, target))
    assert connects.outside == []  # refused before any socket tried


@pytest.mark.parametrize("to", ["loopback", "metadata"])
def test_a_redirect_does_not_lead_a_public_reference_file_somewhere_more_private(servers, spaces, connects, to):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    target = data_server.url_for("data.bin") if to == "loopback" else "http://169.254.169.254/latest/meta-data/"
    refs_server.redirects["/go"] = target
    url = publish(refs_server, refs_server.url_for("go"))
    with pytest.raises(AccessDeniedError, match="(loopback|link-local) address"):
        read_x(url)
    assert data_server.stats.requests == 0
    assert connects.outside == []  # the metadata address was refused after the redirect, before connecting
    assert data_server.port not in connects.ports
    # The redirect to the same public server is followed.
    refs_server.redirects["/go"] = refs_server.url_for("data.bin")
    np.testing.assert_array_equal(read_x(url), DATA)


def test_a_reference_file_from_a_private_address_reaches_private_but_not_loopback_or_metadata(servers, spaces,
                                                                                               connects):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PRIVATE
    spaces[data_server.port] = AddressSpace.PRIVATE
    np.testing.assert_array_equal(read_x(publish(refs_server, data_server.url_for("data.bin"))), DATA)
    del spaces[data_server.port]  # now a loopback server
    with pytest.raises(AccessDeniedError, match="loopback address.*private address"):
        read_x(publish(refs_server, data_server.url_for("data.bin")))
    with pytest.raises(AccessDeniedError, match="link-local address"):
        read_x(publish(refs_server, "http://169.254.169.254/latest/meta-data/"))
    assert connects.outside == []


def test_the_reference_file_url_named_may_not_redirect_somewhere_more_private(servers, spaces, connects):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    hostile = publish(data_server, data_server.url_for("data.bin"))  # on loopback, pointing at loopback
    refs_server.redirects["/moved.lindi.json"] = hostile
    with pytest.raises(AccessDeniedError, match="loopback address.*redirect"):
        read_x(refs_server.url_for("moved.lindi.json"))
    np.testing.assert_array_equal(read_x(refs_server.url_for("moved.lindi.json"), allow_private_network=True), DATA)


def test_external_links_of_a_public_reference_file_stay_public(servers, spaces, connects):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    publish(data_server, data_server.url_for("data.bin"), name="inner.lindi.json")
    for host in ("127.0.0.1", "localhost"):
        rfs = {"version": 1, "refs": {
            ".zgroup": json.dumps({"zarr_format": 2}),
            "link/.zgroup": json.dumps({"zarr_format": 2}),
            "link/.zattrs": json.dumps({"_EXTERNAL_LINK": {
                "file": f"http://{host}:{data_server.port}/inner.lindi.json", "path": "/x"}}),
        }}
        with open(f"{refs_server.root}/outer.lindi.json", "w") as f:
            json.dump(rfs, f)
        with lindi_core.LindiH5pyFile.from_lindi_file(refs_server.url_for("outer.lindi.json")) as outer:
            # Refused as the link is followed (a literal address) or as its file is fetched (a name).
            with pytest.raises((AccessDeniedError, KeyError), match="loopback address"):
                outer["link"]
    assert data_server.stats.requests == 0
    assert connects.outside == [] and data_server.port not in connects.ports


def test_blocking_reads_are_guarded_too(servers, spaces, connects):
    refs_server, data_server = servers
    spaces[refs_server.port] = AddressSpace.PUBLIC
    guard = AddressGuard.for_reference_file(AddressSpace.PUBLIC)
    http = SyncHttp(guard=guard, retries=0)
    try:
        assert http.read(refs_server.url_for("data.bin"), 0, 16)[0] == PAYLOAD[:16]
        for url in (f"http://localhost:{data_server.port}/data.bin", data_server.url_for("data.bin"),
                    "http://169.254.169.254/latest/meta-data/"):
            with pytest.raises(AccessDeniedError, match="not reading"):
                http.read(url, 0, 16)
        refs_server.redirects["/go"] = data_server.url_for("data.bin")
        with pytest.raises(AccessDeniedError, match="loopback address"):
            http.read(refs_server.url_for("go"), 0, 16)
    finally:
        http.close()
    assert data_server.stats.requests == 0
    assert connects.outside == [] and data_server.port not in connects.ports


@pytest.mark.parametrize("address, space", [
    ("8.8.8.8", AddressSpace.PUBLIC), ("2606:4700::1111", AddressSpace.PUBLIC),
    ("10.1.2.3", AddressSpace.PRIVATE), ("172.31.0.1", AddressSpace.PRIVATE), ("192.168.0.1", AddressSpace.PRIVATE),
    ("100.64.0.1", AddressSpace.PRIVATE), ("fc00::1", AddressSpace.PRIVATE), ("224.0.0.1", AddressSpace.PRIVATE),
    ("::ffff:10.0.0.1", AddressSpace.PRIVATE),
    ("169.254.169.254", AddressSpace.LINK_LOCAL), ("fe80::1%1", AddressSpace.LINK_LOCAL),
    ("fd00:ec2::254", AddressSpace.LINK_LOCAL), ("::ffff:169.254.169.254", AddressSpace.LINK_LOCAL),
    ("127.0.0.1", AddressSpace.LOOPBACK), ("127.9.9.9", AddressSpace.LOOPBACK), ("::1", AddressSpace.LOOPBACK),
    ("0.0.0.0", AddressSpace.LOOPBACK), ("::", AddressSpace.LOOPBACK), ("::ffff:127.0.0.1", AddressSpace.LOOPBACK),
    ("64:ff9b::7f00:1", AddressSpace.LOOPBACK), ("2002:7f00:1::", AddressSpace.LOOPBACK),
    ("::7f00:1", AddressSpace.LOOPBACK),
])
def test_address_spaces(address, space):
    assert address_space(address) == space


def test_hdf5_files_a_public_reference_file_links_to_stay_public(servers, spaces, connects):
    refs_server, data_server = servers
    with h5py.File(f"{data_server.root}/inner.h5", "w") as f:
        f.create_dataset("x", data=DATA, chunks=(100,))
    inner = f"http://localhost:{data_server.port}/inner.h5"
    zarray = {"zarr_format": 2, "shape": [len(DATA)], "chunks": [100], "dtype": "<i4", "compressor": None,
              "filters": None, "fill_value": 0, "order": "C"}
    rfs = {"version": 1, "refs": {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "link/.zgroup": json.dumps({"zarr_format": 2}),
        "link/.zattrs": json.dumps({"_EXTERNAL_LINK": {"file": inner, "path": "/x"}}),
        "x/.zarray": json.dumps(zarray),
        "x/.zattrs": json.dumps({"_EXTERNAL_ARRAY_LINK": {"link_type": "hdf5_dataset", "url": inner, "name": "x"}}),
    }}
    with open(f"{refs_server.root}/outer.lindi.json", "w") as f:
        json.dump(rfs, f)
    url = refs_server.url_for("outer.lindi.json")
    with lindi_core.LindiH5pyFile.from_lindi_file(url) as trusted:  # from loopback: it may
        np.testing.assert_array_equal(trusted["link"][()], DATA)
        np.testing.assert_array_equal(trusted["x"][()], DATA)
    data_server.stats.reset()
    connects.ports.clear()
    spaces[refs_server.port] = AddressSpace.PUBLIC
    with lindi_core.LindiH5pyFile.from_lindi_file(url) as outer:
        with pytest.raises(KeyError, match="loopback address"):
            outer["link"]
        with pytest.raises(AccessDeniedError, match="loopback address"):
            outer["x"][()]
    assert data_server.stats.requests == 0
    assert connects.outside == [] and data_server.port not in connects.ports


def test_a_public_container_cannot_reach_loopback(servers, spaces, connects, tmp_path):
    refs_server, data_server = servers
    publish(refs_server, data_server.url_for("data.bin"), name="plain.lindi.json")
    with open(f"{refs_server.root}/plain.lindi.json") as f:
        rfs = json.load(f)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        f.write_lindi_file(f"{refs_server.root}/x.lindi.tar")  # the ref to the data server stays a ref
    url = refs_server.url_for("x.lindi.tar")
    np.testing.assert_array_equal(read_x(url), DATA)  # from loopback: it may
    data_server.stats.reset()
    connects.ports.clear()
    spaces[refs_server.port] = AddressSpace.PUBLIC
    with pytest.raises(AccessDeniedError, match="loopback address.*public address"):
        read_x(url)
    assert data_server.stats.requests == 0
    assert connects.outside == [] and data_server.port not in connects.ports


def test_bytes_cached_by_a_trusted_read_are_not_handed_to_a_public_reference_file(servers, spaces, connects,
                                                                                   tmp_path):
    refs_server, data_server = servers
    cache = lindi_core.LocalCache(tmp_path / "cache")
    url = publish(refs_server, f"http://localhost:{data_server.port}/data.bin")
    np.testing.assert_array_equal(read_x(url, local_cache=cache), DATA)  # from loopback: read, and cached
    np.testing.assert_array_equal(read_x(url, local_cache=cache), DATA)
    assert data_server.stats.requests == 1  # the second read came from the cache
    spaces[refs_server.port] = AddressSpace.PUBLIC
    with pytest.raises(AccessDeniedError, match="localhost .*loopback address"):
        read_x(url, local_cache=cache)
    assert data_server.stats.requests == 1
    assert connects.outside == []
