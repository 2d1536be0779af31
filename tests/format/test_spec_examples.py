"""The spec's example files load and validate against the schema."""

from __future__ import annotations

import glob
import os

import pytest

from lindi_core.format import jsonio
from lindi_core.format.validate import validate_file

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "spec", "examples", "*.json")))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_is_valid(path):
    validate_file(path)
    rfs = jsonio.load_path(path)
    assert rfs.get(".zgroup") == {"zarr_format": 2}
