"""HDF5 types described from libhdf5's own type ids, for what NumPy type strings cannot say.

h5py maps each HDF5 type to a NumPy dtype, but that mapping is not one to one: it picks the
*smallest NumPy float that can hold* a float type (a 10-byte extended float or a bfloat16 come
back as float128 and float32, libhdf5 converting every value), an integer type by its byte size
alone (a 12-bit integer at bit offset 4 comes back as int16, shifted), and it has no dtype at
all for 128-bit integers, HDF5 time types or floats wider than the platform's long double.
Referencing chunks in place is only right when the bytes in the file *are* the bytes of the
dtype h5py reports, so:

* :func:`stored_as` tells whether a type h5py maps to a dtype is that dtype bit for bit;
* :func:`exact_description` describes the type itself (spec section 10), so that a reference
  file keeps it whole: for types h5py cannot read (whose objects are translated with their
  bytes in place and raise when read), and for the platform's long double, which Zarr has no
  type for.
"""

from __future__ import annotations

import functools

import h5py
import numpy as np

from lindi_core.format.dtype_descriptions import is_standard_bitfield


def stored_as(type_id: h5py.h5t.TypeID, dtype: np.dtype) -> bool:
    """Whether values of HDF5 type ``type_id`` are stored as exactly the bytes of ``dtype``
    (the dtype h5py reports for it), so that they can be referenced in place.

    Only numbers can differ (h5py's strings, opaque types and references map one to one);
    enums are checked by their base type, bitfields as the unsigned integers h5py makes of them,
    compounds and array types member by member. Byte order and signedness need no check: h5py
    takes them from the type itself.
    """
    kind = type_id.get_class()
    if kind == h5py.h5t.INTEGER:  # the common case first: a few calls per dataset of a large file
        return (dtype.kind not in "iu" or type_id.get_size() == dtype.itemsize
                and type_id.get_precision() == 8 * dtype.itemsize and type_id.get_offset() == 0)
    if kind == h5py.h5t.FLOAT:
        return dtype.kind != "f" or _float_layout(type_id) == _native_float_layout(dtype.newbyteorder("<"))
    if kind == h5py.h5t.ENUM:
        return stored_as(type_id.get_super(), dtype)
    if kind == h5py.h5t.BITFIELD:  # h5py reads one as the unsigned integer of its size
        return is_standard_bitfield(type_id) and dtype.kind == "u" and dtype.itemsize == type_id.get_size()
    if kind == h5py.h5t.ARRAY and dtype.subdtype is not None:
        return stored_as(type_id.get_super(), dtype.subdtype[0])
    if kind == h5py.h5t.COMPOUND and dtype.names is not None:
        return all(stored_as(type_id.get_member_type(i), dtype.fields[name][0])
                   for i, name in enumerate(dtype.names))
    return True


def _float_layout(type_id: h5py.h5t.TypeFloatID) -> tuple:
    """Everything that places a float's bits, byte order aside."""
    return (type_id.get_size(), type_id.get_precision(), type_id.get_offset(), type_id.get_fields(),
            type_id.get_ebias(), type_id.get_norm())


@functools.lru_cache(maxsize=16)
def _native_float_layout(dtype: np.dtype) -> tuple:
    return _float_layout(h5py.h5t.py_create(dtype))
