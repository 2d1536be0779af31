"""A bulk read of a large box sends its first requests before it has looked up all its refs.

Looking up a million refs and planning their spans takes tens of milliseconds; done all before
the first request, that time adds to the read's. A window is therefore read in stages
(``bulk_reads.STAGE_BYTES``): each stage's spans are sent once its refs are looked up, and the
next stage's look-ups take place while those bytes travel; the running stages hold at most a
window's bytes. Spans of plain copies are placed without a hop to a worker thread. Checked
against h5py and by recording the order of look-ups and span reads.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.io import workers
from lindi_core.store import bulk_reads, read_engine
from lindi_core.store.reference_store import ReferenceStore

CHUNKS = 4000  # of 8 int64: 64 bytes each


@pytest.fixture
def served(tmp_path, serve):
    values = np.arange(CHUNKS * 8 + 3, dtype="<i8") * 5 - 11  # a short edge chunk
    with h5py.File(tmp_path / "many.h5", "w") as h:
        h.create_dataset("x", data=values, chunks=(8,))
        h.create_dataset("grid", data=values[: 200 * 160].reshape(200, 160), chunks=(5, 8))
    server = serve(tmp_path)
    rfs = lindi_core.translate(server.url_for("many.h5"), progress=False)
    return server, rfs, tmp_path / "many.h5"


@pytest.fixture
def events(monkeypatch, span_reads):
    """The look-ups and span reads of the test, in order, with the bytes of the spans read at once."""
    columns = ReferenceStore.chunk_ref_columns

    async def look_up(store, array_path, linear):
        if len(linear):
            span_reads["log"].append(("look-up", len(linear)))
        return await columns(store, array_path, linear)

    monkeypatch.setattr(ReferenceStore, "chunk_ref_columns", look_up)
    return span_reads["log"], span_reads


def test_the_first_spans_leave_before_the_last_look_up(served, events, monkeypatch):
    server, rfs, path = served
    log, _ = events
    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 1000)  # stages of 1,000 chunks
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, h5py.File(path) as h:
        server.stats.reset()
        np.testing.assert_array_equal(f["x"][:], h["x"][:])
        requests = server.stats.requests
    look_ups = [i for i, (what, _) in enumerate(log) if what == "look-up"]
    spans = [i for i, (what, _) in enumerate(log) if what == "span"]
    # stages growing from a sixteenth of 1,000 chunks to 1,000; the last one ends with the edge chunk
    assert len(look_ups) == len(bulk_reads.stage_bounds(0, CHUNKS + 1, 1000)) - 1 == 8
    assert spans and spans[0] < look_ups[-1]  # the first stage's bytes asked for before the last look-up
    assert requests <= len(spans)  # each span one request at most (stages do not split requests further)


def test_stages_read_what_h5py_reads(served, monkeypatch):
    server, rfs, path = served
    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 37)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, h5py.File(path) as h:
        for name, selection in [("x", np.s_[:]), ("x", np.s_[5:31_000:3]), ("x", np.s_[100:]),
                                ("grid", np.s_[:]), ("grid", np.s_[3:197, 5:150]), ("grid", np.s_[::3, 7])]:
            np.testing.assert_array_equal(f[name][selection], h[name][selection], err_msg=f"{name}{selection}")


def test_running_stages_hold_at_most_a_window(served, events, monkeypatch):
    server, rfs, path = served
    _, reading = events
    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 100)
    monkeypatch.setattr(read_engine, "WINDOW_BYTES", 64 * 1000)  # windows of 1,000 chunks: 10 stages each
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, h5py.File(path) as h:
        f._store.sources.http.max_merged = 64 * 350
        np.testing.assert_array_equal(f["x"][:], h["x"][:])
    assert 0 < reading["most"] <= 64 * 1000


def test_a_failed_stage_fails_the_read(served, monkeypatch):
    server, rfs, path = served
    monkeypatch.setattr(bulk_reads, "STAGE_BYTES", 64 * 500)
    read_span = ReferenceStore.read_span
    calls = [0]

    async def failing(store, url, location, start, length, into=None):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError("the third span fails")
        return await read_span(store, url, location, start, length, into=into)

    monkeypatch.setattr(ReferenceStore, "read_span", failing)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        with pytest.raises(OSError, match="third span"):
            f["x"][:]


def test_plain_copies_take_no_hop_to_a_worker(served, monkeypatch):
    server, rfs, path = served
    hops = []
    in_worker = workers.in_worker

    def counted(executor, func, *args, **kwargs):
        hops.append(getattr(func, "__name__", func))
        return in_worker(executor, func, *args, **kwargs)

    monkeypatch.setattr(workers, "in_worker", counted)
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f, h5py.File(path) as h:
        np.testing.assert_array_equal(f["x"][: CHUNKS * 8], h["x"][: CHUNKS * 8])  # whole chunks only
        assert "_place_raw" not in hops
        np.testing.assert_array_equal(f["grid"][2:198, ::3], h["grid"][2:198, ::3])  # cut chunks: a worker's
        assert "_place_raw" in hops
