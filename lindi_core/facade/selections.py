"""h5py's indexing rules, applied to a translated dataset.

h5py accepts a narrower set of selections than NumPy and raises its own errors: steps must be
positive, at most one axis may take a list, lists must be strictly increasing, and a boolean
array of the dataset's full shape selects elements in C order. :func:`parse` checks an index
against those rules and turns it into a Zarr *orthogonal* selection (or a mask selection),
so that reads through the facade succeed and fail exactly where h5py's do.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Selection:
    """What to read: per-axis Zarr orthogonal selection or a full-shape mask, plus fields."""

    axes: tuple = ()  # one entry per dataset axis: int, slice or int array
    mask: np.ndarray | None = None
    fields: list[str] = field(default_factory=list)

    @property
    def shape_drops(self) -> list[int]:
        return [i for i, a in enumerate(self.axes) if isinstance(a, numbers.Integral)]


def with_element_axes(selection: Selection, element_shape: tuple[int, ...]) -> Selection:
    """A selection of a dataset of an HDF5 array type, extended to its Zarr array, whose last
    axes are the element's (spec section 4): those are selected whole."""
    if selection.mask is not None:
        mask = selection.mask.reshape(selection.mask.shape + (1,) * len(element_shape))
        return Selection(mask=np.broadcast_to(mask, selection.mask.shape + element_shape), fields=selection.fields)
    return Selection(axes=selection.axes + tuple(slice(0, n, 1) for n in element_shape), fields=selection.fields)


def split_fields(args: Any) -> tuple[tuple, list[str]]:
    """Separate recarray-style field names from the index proper."""
    if not isinstance(args, tuple):
        args = (args,)
    names = [a for a in args if isinstance(a, str)]
    rest = tuple(a for a in args if not isinstance(a, str))
    return rest, names


def parse(args: Any, shape: tuple[int, ...], dtype: np.dtype) -> Selection:
    """Check an h5py-style index against a dataset of ``shape`` and ``dtype``."""
    args, names = split_fields(args)
    if names and dtype.names is None:
        raise ValueError("Field names only allowed for compound types")
    for name in names:
        if name not in (dtype.names or ()):
            raise ValueError(f"Field {name} does not appear in this type.")
    if len(shape) == 0:
        if len(args) == 0 or (len(args) == 1 and args[0] is Ellipsis):
            return Selection(axes=(), fields=names)
        raise ValueError("Illegal slicing argument for scalar dataspace")
    if len(args) == 1 and isinstance(args[0], np.ndarray) and args[0].dtype == bool \
            and args[0].shape == tuple(shape) and len(shape) > 1:
        return Selection(mask=args[0], fields=names)
    if len(args) == 1 and isinstance(args[0], np.ndarray) and args[0].dtype == bool and len(shape) == 1 \
            and args[0].shape != tuple(shape):
        raise TypeError(f"Boolean indexing array has incompatible shape {args[0].shape} for {shape}")
    ellipses = [i for i, a in enumerate(args) if a is Ellipsis]
    if len(ellipses) > 1:
        raise ValueError("Only one ellipsis may be used.")
    if ellipses:
        at = ellipses[0]
        fill = len(shape) - (len(args) - 1)
        args = args[:at] + (slice(None),) * max(fill, 0) + args[at + 1 :]
    if len(args) > len(shape):
        raise ValueError(f"{len(args)} indexing arguments for {len(shape)} dimensions")
    args = args + (slice(None),) * (len(shape) - len(args))
    axes = []
    fancy = 0
    for arg, extent in zip(args, shape):
        if isinstance(arg, range | tuple):  # index sequences as h5py takes them
            arg = list(arg)
        if isinstance(arg, (list, np.ndarray)) and not (isinstance(arg, np.ndarray) and arg.ndim == 0):
            fancy += 1
            if fancy > 1:
                raise TypeError("Only one indexing vector or array is currently allowed for fancy indexing")
            axes.append(_vector(arg, extent))
        elif isinstance(arg, np.ndarray):  # 0-d array
            axes.append(_integer(arg[()], extent))
        else:
            axes.append(_single(arg, extent))
    return Selection(axes=tuple(axes), fields=names)


def _single(arg: Any, extent: int) -> Any:
    if isinstance(arg, slice):
        step = 1 if arg.step is None else arg.step
        if not isinstance(step, numbers.Integral) or step < 1:
            raise ValueError(f"Step must be >= 1 (got {step})")
        start, stop, _ = slice(arg.start, arg.stop, step).indices(extent)
        return slice(start, max(start, stop), step)
    if isinstance(arg, (bool, np.bool_)):
        raise TypeError(f"Selection can't process {arg!r}")
    if isinstance(arg, numbers.Integral):
        return _integer(arg, extent)
    raise TypeError(f"Selection can't process {arg!r}")


def _integer(arg: Any, extent: int) -> int:
    if not isinstance(arg, numbers.Integral) or isinstance(arg, (bool, np.bool_)):
        raise TypeError(f"Selection can't process {arg!r}")
    index = int(arg)
    if extent == 0:
        raise IndexError(f"Index ({index}) out of range for empty dimension")
    if index < 0:
        index += extent
    if not 0 <= index < extent:
        raise IndexError(f"Index ({int(arg)}) out of range for (0-{extent - 1})")
    return index


def _vector(arg: Any, extent: int) -> np.ndarray:
    values = np.asarray(arg)
    if values.dtype == bool:
        if values.shape != (extent,):
            raise TypeError(f"Boolean indexing array has incompatible shape {values.shape} for ({extent},)")
        return np.flatnonzero(values)
    if values.size == 0:
        return np.zeros(0, dtype=np.intp)
    if values.dtype.kind not in "iu":
        raise TypeError(f"Selection can't process {arg!r}")
    values = values.astype(np.int64).reshape(-1)
    values = np.where(values < 0, values + extent, values)
    if (values < 0).any() or (values >= extent).any():
        raise IndexError(f"Fancy indexing out of range for (0-{extent - 1})")
    if (np.diff(values) <= 0).any():
        raise TypeError("Indexing elements must be in increasing order")
    return values


def broadcast_for_write(value: np.ndarray, selection: Selection, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` shaped as the array the selection reads, by h5py's broadcasting rule for
    writes: the value's axes are matched to the selection's from the last, skipping axes
    selected by a single index; each must be 1 or equal. h5py's TypeError otherwise (a
    write of the wrong size is refused, never truncated)."""
    if selection.mask is not None:
        count = int(np.count_nonzero(selection.mask))
        try:
            return np.broadcast_to(value, (count,))
        except ValueError:
            raise TypeError(f"Can't broadcast {value.shape} -> ({count},)") from None
    if not shape:
        if value.size != 1:
            raise TypeError(f"Can't broadcast {value.shape} to scalar")
        return value.reshape(())
    counts, single = [], []
    for axis in selection.axes:
        if isinstance(axis, slice):
            counts.append(len(range(axis.start, axis.stop, axis.step)))
        elif isinstance(axis, np.ndarray):
            counts.append(len(axis))
        else:
            counts.append(1)
        single.append(not isinstance(axis, (slice, np.ndarray)))
    target = tuple(n for n, s in zip(counts, single) if not s)
    remaining = list(value.shape)
    expanded = []
    for count, is_single in zip(reversed(counts), reversed(single)):
        if not remaining or is_single:
            expanded.append(1)
            continue
        n = remaining.pop()
        if n != 1 and n != count:
            raise TypeError(f"Can't broadcast {value.shape} -> {target}")
        expanded.append(n)
    if any(n > 1 for n in remaining):
        raise TypeError(f"Can't broadcast {value.shape} -> {target}")
    return np.broadcast_to(value.reshape(expanded[::-1]), counts).reshape(target)
