"""Hostile reference files end in data or in a lindi-core error, within bounded memory and time.

The cases come from :mod:`tests.hostile`: a valid reference file of a varied HDF5 file, mutated
as an attacker (or a broken writer) would. Every escape of a built-in exception is a failure;
the message lists each kind once with the seed that reproduces it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import pytest

from tests import hostile

CASES = 400


@pytest.fixture(scope="module")
def seed_doc(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    path = str(folder / "seed.h5")
    hostile.seed_h5(path)
    return hostile.seed_document(path)


@pytest.mark.parametrize("road", ["facade", "zarr"])
def test_every_hostile_document_ends_in_data_or_a_lindi_error(seed_doc, tmp_path, road):
    exercise, acceptable = ((hostile.exercise, hostile.acceptable) if road == "facade" else
                            (hostile.exercise_through_zarr, hostile.acceptable_through_zarr))
    cases = ((seed, hostile.hostile_case(random.Random(seed), seed_doc)) for seed in range(CASES))
    hostile.assert_no_escapes(cases, str(tmp_path), exercise, acceptable)


def test_the_seed_document_itself_reads_without_error(seed_doc, tmp_path):
    hostile.exercise(seed_doc, str(tmp_path))


def test_hostile_documents_stay_within_bounded_memory(tmp_path):
    """No case may take memory out of proportion to its size (each is at most a few hundred
    kilobytes): a fresh process running every case peaks under a fixed bound."""
    program = textwrap.dedent(f"""
        import random, warnings
        from tests import hostile
        warnings.simplefilter("ignore")
        hostile.seed_h5({str(tmp_path / "seed.h5")!r})
        seed_doc = hostile.seed_document({str(tmp_path / "seed.h5")!r})
        for seed in range({CASES}):
            try:
                hostile.exercise(hostile.hostile_case(random.Random(seed), seed_doc), {str(tmp_path)!r})
            except Exception:
                pass
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]) // 1024)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stdout.split()[-1])
    assert peak_mb < 600, f"a process reading {CASES} hostile documents peaked at {peak_mb} MB"
