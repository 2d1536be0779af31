"""The translation's progress bar moves while one large dataset's chunk index is walked: it
counts the chunks found and the bytes they store every few thousand chunks, in plain digits
(tqdm's own formatting would print 100000 as "1e+5")."""

from __future__ import annotations

import re

import h5py
import numpy as np

import lindi_core

CHUNKS = 100_000


def _one_dataset_of_many_chunks(f: h5py.File) -> None:
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    plist.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # every chunk allocated at once: a fast write
    f.create_dataset("d", shape=(CHUNKS,), dtype=np.uint8, chunks=(1,), dcpl=plist)


def test_the_bar_counts_chunks_and_bytes_while_one_dataset_is_walked(make_h5, capsys):
    path = make_h5(_one_dataset_of_many_chunks)
    with h5py.File(path, "r") as f:
        chunks, stored = f["d"].id.get_num_chunks(), f["d"].id.get_storage_size()
    assert (chunks, stored) == (CHUNKS, CHUNKS)
    rfs = lindi_core.translate(path, progress=True)
    assert len(rfs.tables["d"].present()) == CHUNKS
    err = capsys.readouterr().err
    counts = [int(c.replace(",", "")) for c in re.findall(r"chunks=([\d,]+)", err)]
    during = [c for c in counts if 0 < c < CHUNKS]
    assert len(set(during)) >= 10, err[-500:]  # it moved while the only dataset was walked
    assert counts == sorted(counts) and counts[-1] == CHUNKS
    assert "1/2" in err and "chunks=100,000, 97.7 KiB" in err  # 100,000 bytes
    assert not re.search(r"\de[+-]?\d", err), err[-500:]  # no scientific notation

