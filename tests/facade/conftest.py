"""Fixtures of the ``test_h5py_semantics_*`` modules, from their shared harness: ``open_pair``
(a file built by a test, opened by h5py and by the facade) and ``zoo`` (the dataset zoo, built
once per module and opener). Defined here so that the modules use them without importing them."""

from tests.facade.h5py_semantics_harness import open_pair, zoo  # noqa: F401
