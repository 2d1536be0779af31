"""The comparison helpers of :mod:`tests.facade.h5py_semantics_harness` themselves, so that a
passing test of the facade means something.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.facade.h5py_semantics_harness import (
    COMPOUND,
    assert_same_outcome,
    assert_same_value,
)

# --------------------------------------------------------------------------------------------
# The comparison helpers themselves (so that a passing test above means something)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("got,expected", [
    (b"x", "x"), ("x", b"x"), (np.bytes_(b"x"), b"x"), (np.int32(1), np.int64(1)), (1, np.int64(1)),
    (np.array([1], dtype="<i4"), np.array([1], dtype=">i4")), (np.array([1, 2]), np.array([1, 3])),
    (np.array([[1]]), np.array([1])), (np.float64(np.nan), np.float64(1.0)), ([1, 2], [1, 2, 3]),
    (np.array([b"a"], dtype=object), np.array(["a"], dtype=object)), (np.array(1.0), np.float64(1.0)),
    (h5py.Empty("<f4"), h5py.Empty("<f8")), (np.float64(1.0), h5py.Empty("<f8")),
], ids=repr)
def test_comparison_helper_detects_differences(got, expected):
    with pytest.raises(AssertionError):
        assert_same_value(None, got, expected)


@pytest.mark.parametrize("value", [b"x", "x", np.float64(np.nan), np.array([np.nan, 1.0]), float("nan"),
                                   np.array([b"a", None], dtype=object), h5py.Empty("<f4"),
                                   np.array((1, 2.5, b"ab"), dtype=COMPOUND)[()], {"A": 1}],
                         ids=repr)
def test_comparison_helper_accepts_equal_values(value):
    assert_same_value(None, value, value)


def test_outcome_helper_requires_the_same_exception_type():
    def raises(exc):
        def fn(_):
            raise exc
        return fn

    assert_same_outcome(None, lambda x: x[5], [], [])  # IndexError on both sides
    with pytest.raises(AssertionError):
        assert_same_outcome(None, lambda x: x["k"], {}, {"k": 1})
    with pytest.raises(AssertionError):
        assert_same_outcome(None, lambda x: x[0], [], {})  # IndexError vs KeyError

