"""Hostile reference files holding binary chunk tables (spec §13): the document mutations of
:mod:`tests.hostile` and byte flips, truncations and splices of the tables themselves end in data
or in a lindi-core error, never a built-in exception."""

from __future__ import annotations

import base64
import copy
import random

import pytest

from tests import hostile

CASES = 60


@pytest.fixture(scope="module")
def seed_doc(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile_tables")
    path = str(folder / "seed.h5")
    hostile.seed_h5(path)
    doc = hostile.seed_document(path, chunk_table="binary")
    assert any(key.endswith("/.zchunktable") for key in doc["refs"])
    return doc


def _mutate_table(rng: random.Random, doc: dict) -> None:
    keys = [k for k, v in doc["refs"].items() if k.endswith(".zchunktable") and isinstance(v, dict)
            and isinstance(v.get("data"), str)]
    if not keys:
        return
    key = rng.choice(keys)
    data = bytearray(base64.b64decode(doc["refs"][key]["data"][len("base64:"):]))
    kind = rng.randrange(5)
    if kind == 0 and data:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short
        del data[rng.randrange(len(data) + 1):]
    elif kind == 2:  # another array's table
        other = doc["refs"][rng.choice(keys)]["data"]
        data = bytearray(base64.b64decode(other[len("base64:"):]))
    elif kind == 3:  # a field of the prelude or the first block set to an extreme
        position = rng.randrange(min(len(data), 64) or 1)
        data[position:position + 8] = rng.choice([b"\xff" * 8, b"\0" * 8, b"\x7f" * 8])
    else:  # a field of the header, the block index or the trailer (at the end, version 2) set to one
        position = max(len(data) - 1 - rng.randrange(min(len(data), 160) or 1), 0)
        data[position:position + 4] = rng.choice([b"\xff" * 4, b"\0" * 4, b"\x7f" * 4, b"\x01\0\0\0"])
    doc["refs"][key]["data"] = "base64:" + base64.b64encode(bytes(data)).decode()


def test_hostile_documents_with_tables_end_in_data_or_a_lindi_error(seed_doc, tmp_path):
    def cases():
        for seed in range(CASES):
            rng = random.Random(seed)
            if seed % 2:
                case = copy.deepcopy(seed_doc)
                _mutate_table(rng, case)
            else:
                case = hostile.hostile_case(rng, seed_doc)
            yield seed, case

    hostile.assert_no_escapes(cases(), str(tmp_path))


def test_the_seed_document_reads(seed_doc, tmp_path):
    hostile.exercise(seed_doc, str(tmp_path))
