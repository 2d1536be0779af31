"""Deep comparison of two ``NWBFile`` objects read by pynwb, for "same file, different reader" checks.

``snapshot(nwbfile)`` reads everything pynwb exposes into plain, comparable values: one
``ContainerSnapshot`` per container (``nwbfile.objects``, keyed by object id) holding its
neurodata type, class, name, parent, every set field, its ``data`` (for ``Data`` objects) and its
``to_dataframe()`` (for dynamic tables). Datasets are read in full, references to other
containers become ``Link(type, object_id)``, raw HDF5 references become ``Ref``, numeric arrays
keep their dtype and strings keep their Python type (``str`` vs ``bytes``), so a reader that
decodes differently, loses a field, changes a dtype or points a link elsewhere shows up. The
Python class of a dataset object itself (``h5py.Dataset`` vs the facade's) is deliberately not
compared, only what reading it gives; hdmf's wrapper classes (reference-resolving datasets) are.

``diff_snapshots(expected, actual)`` lists every difference as a readable path; ``assert_same``
raises ``AssertionError`` with those lines. Values of a kind this module does not know raise
``TypeError`` instead of being skipped, so nothing is silently left out of the comparison.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np
import pandas as pd
from hdmf.common import DynamicTable
from hdmf.common.alignedtable import AlignedDynamicTable
from hdmf.container import AbstractContainer, Data
from hdmf.query import HDMFDataset

MAX_REPORTED_DIFFERENCES = 40

# -- normalized values ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A scalar: its Python / numpy type name and its value (NaN equals NaN)."""

    type_name: str
    value: Any


@dataclasses.dataclass(frozen=True)
class Link:
    """A reference to another container, by neurodata type (or class) and object id."""

    type_name: str
    object_id: str | None


@dataclasses.dataclass(frozen=True)
class Ref:
    """A raw HDF5 object reference, by the referenced object's ``object_id`` attribute and path."""

    object_id: str | None
    path: str | None


@dataclasses.dataclass
class Array:
    """An array or dataset read in full. ``values`` is an ``ndarray`` for plain numeric dtypes and
    a nested list of normalized elements otherwise; ``kind`` names hdmf's reference-resolving
    wrapper class, if any (plain datasets and numpy arrays are both "array")."""

    kind: str
    dtype: str
    shape: tuple | None
    values: Any


@dataclasses.dataclass
class Sequence_:
    """A list or tuple (``type_name`` tells which) of normalized items."""

    type_name: str
    items: list


@dataclasses.dataclass
class Dict:
    """A mapping of string keys to normalized values (``LabelledDict`` of children, dicts)."""

    type_name: str
    items: dict


@dataclasses.dataclass
class Frame:
    """A pandas DataFrame: column labels in order, index, and per column (by label) its dtype and
    every cell (nested frames too)."""

    columns: list
    index_name: Any
    index: Any
    dtypes: dict
    cells: dict


@dataclasses.dataclass
class ContainerSnapshot:
    """Everything pynwb exposes about one container."""

    label: str
    class_name: str
    neurodata_type: str | None
    namespace: str | None
    name: str
    parent: Link | None
    fields: Dict
    data: Any = None
    dataframe: Any = None


# -- reading a file into snapshots -----------------------------------------------------------


def snapshot(nwbfile: AbstractContainer) -> dict[str, ContainerSnapshot]:
    """Read every container reachable from ``nwbfile`` into a ``ContainerSnapshot``, by object id."""
    containers = dict(nwbfile.objects)
    containers.setdefault(nwbfile.object_id, nwbfile)
    return {object_id: snapshot_container(container) for object_id, container in containers.items()}


def snapshot_container(container: AbstractContainer) -> ContainerSnapshot:
    """Read one container: identity, parent link, fields, data and dataframe."""
    result = ContainerSnapshot(
        label=container_label(container),
        class_name=type(container).__name__,
        neurodata_type=getattr(container, "neurodata_type", None),
        namespace=getattr(container, "namespace", None),
        name=container.name,
        parent=None if container.parent is None else link_to(container.parent),
        fields=Dict("fields", {key: normalize(value) for key, value in container.fields.items()}),
    )
    if isinstance(container, Data):
        result.data = normalize(container.data)
    if isinstance(container, (DynamicTable, AlignedDynamicTable)):
        result.dataframe = normalize(container.to_dataframe())
    return result


def container_label(container: AbstractContainer) -> str:
    """``TypeName at root/parent/name`` (container names from the root down) for messages."""
    names = []
    node = container
    while node is not None:
        names.append(node.name)
        node = node.parent
    return f"{type(container).__name__} at {'/'.join(reversed(names))}"


def link_to(container: AbstractContainer) -> Link:
    return Link(getattr(container, "neurodata_type", None) or type(container).__name__,
                getattr(container, "object_id", None))


def normalize(value: Any) -> Any:
    """Turn a value pynwb returns into the comparable values above (reading datasets in full)."""
    if isinstance(value, np.generic):  # before the Python types: numpy.float64 is a float
        return Leaf(f"numpy.{value.dtype.str}", value.item())
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return Leaf(type(value).__name__, value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return Leaf(type(value).__name__, value.isoformat())
    if isinstance(value, AbstractContainer):
        return link_to(value)
    if isinstance(value, pd.DataFrame):
        return normalize_frame(value)
    if isinstance(value, pd.Index):
        return normalize(value.to_numpy())
    if isinstance(value, HDMFDataset) or is_dataset_like(value):
        return normalize_dataset(value)
    if isinstance(value, np.ndarray):
        return normalize_array(value, kind="array")
    if isinstance(value, Mapping):
        return Dict(type(value).__name__, {str(key): normalize(item) for key, item in value.items()})
    if isinstance(value, Sequence):  # list, tuple, namedtuple (e.g. TimeSeriesReference)
        return Sequence_(type(value).__name__, [normalize(item) for item in value])
    raise TypeError(f"compare: don't know how to compare a {type(value).__module__}.{type(value).__name__}: "
                    f"{value!r:.200}")


def is_dataset_like(value: Any) -> bool:
    """An h5py dataset or anything that behaves like one (shape, dtype, indexing), but not numpy."""
    return (isinstance(value, h5py.Dataset)
            or (not isinstance(value, np.ndarray) and hasattr(value, "shape") and hasattr(value, "dtype")
                and hasattr(value, "__getitem__") and hasattr(value, "attrs")))


def normalize_dataset(dataset: Any) -> Array:
    """Read a dataset (or one of hdmf's reference-resolving wrappers) in full."""
    shape = None if dataset.shape is None else tuple(dataset.shape)
    if isinstance(dataset, HDMFDataset) and type(dataset).__module__.startswith("hdmf.backends"):
        # ContainerH5TableDataset, ContainerH5ReferenceDataset: rows/elements come back with
        # references resolved to containers; the dtype is hdmf's description of the columns.
        kind = type(dataset).__name__
        values = [] if shape == (0,) else (dataset[()] if shape == () else dataset[:])
        return Array(kind, repr(dataset.dtype), shape, normalize_elements(values, dataset))
    if shape is None:  # HDF5 null dataspace
        return Array("array", describe_dtype(dataset.dtype), None, None)
    values = dataset[()]
    if not isinstance(values, np.ndarray):  # a scalar read: keep the type of the scalar it returns
        return Array("array", describe_dtype(dataset.dtype), shape, normalize_elements(values, dataset))
    return normalize_array(values, kind="array", source=dataset,
                           dtype_description=describe_dtype(dataset.dtype))


def normalize_array(array: np.ndarray, *, kind: str, source: Any = None,
                    dtype_description: str | None = None) -> Array:
    """A numpy array: numeric ones are kept as arrays, others become nested element lists.
    ``source`` is the dataset it was read from, to resolve raw HDF5 references against."""
    description = dtype_description or describe_dtype(array.dtype)
    if array.dtype.kind in "biufcmM" and array.dtype.fields is None:
        return Array(kind, description, array.shape, array)
    return Array(kind, description, array.shape, normalize_elements(array, source))


def normalize_elements(values: Any, source: Any) -> Any:
    """Normalize the elements of a read result: nested lists for arrays, one element otherwise."""
    if isinstance(values, np.ndarray) and values.dtype.fields is None:
        if values.ndim == 0:
            return normalize_elements(values[()], source)
        if values.dtype.kind in "biufc":  # e.g. one ragged (vlen) element
            return normalize_array(values, kind="array")
        return [normalize_elements(item, source) for item in values]
    if isinstance(values, (np.void, np.ndarray)) and values.dtype.fields is not None:
        rows = values if isinstance(values, np.ndarray) else [values]
        names = values.dtype.names
        normalized = [Dict("row", {name: normalize_elements(row[name], source) for name in names})
                      for row in rows]
        return normalized if isinstance(values, np.ndarray) else normalized[0]
    if isinstance(values, list):
        return [normalize_elements(item, source) for item in values]
    if isinstance(values, h5py.Reference):
        return resolve_reference(values, source)
    return normalize(values)


def resolve_reference(reference: h5py.Reference, source: Any) -> Ref:
    """A raw object reference read from dataset ``source``, as the referenced object's object id
    and path (the file is looked up only here, so unreferenced datasets never need ``.file``)."""
    if not reference:
        return Ref(None, None)
    if source is None:
        raise TypeError("compare: cannot resolve an HDF5 reference without the dataset it was read from")
    target = source.file[reference]
    object_id = target.attrs.get("object_id")
    return Ref(object_id.decode() if isinstance(object_id, bytes) else object_id, target.name)


def describe_dtype(dtype: Any) -> str:
    """A dtype as text, including h5py's string / vlen / reference / enum annotations."""
    if isinstance(dtype, (str, list)):
        return repr(dtype)
    dtype = np.dtype(dtype)
    if dtype.fields is not None:
        return "compound(" + ", ".join(f"{name}: {describe_dtype(dtype.fields[name][0])}"
                                       for name in dtype.names) + ")"
    string_info = h5py.check_string_dtype(dtype)
    if string_info is not None:
        return f"string({string_info.encoding}, length={string_info.length}, numpy={dtype.str})"
    vlen = h5py.check_vlen_dtype(dtype)
    if vlen is not None:
        return f"vlen({describe_dtype(vlen)})"
    reference = h5py.check_ref_dtype(dtype)
    if reference is not None:
        return f"reference({reference.__name__})"
    enum = h5py.check_enum_dtype(dtype)
    if enum is not None:
        return f"enum({dtype.str}, {sorted(enum.items())})"
    return dtype.str


def normalize_frame(frame: pd.DataFrame) -> Frame:
    """A DataFrame with every cell normalized (ragged cells, nested frames, containers)."""
    keys = [str(label) if list(frame.columns).count(label) == 1 else f"{label}#{position}"
            for position, label in enumerate(frame.columns)]
    return Frame(
        columns=[normalize(label) for label in frame.columns],
        index_name=normalize(list(frame.index.names)),
        index=normalize(list(frame.index)),
        dtypes={key: str(dtype) for key, dtype in zip(keys, frame.dtypes)},
        cells={key: [normalize(cell) for cell in frame.iloc[:, position]]
               for position, key in enumerate(keys)},
    )


# -- comparing snapshots ---------------------------------------------------------------------


def diff_snapshots(expected: dict[str, ContainerSnapshot], actual: dict[str, ContainerSnapshot]) -> list[str]:
    """Every difference between two snapshots, as ``where: what`` lines."""
    problems: list[str] = []
    for object_id in expected.keys() - actual.keys():
        problems.append(f"{expected[object_id].label} [{object_id}]: missing")
    for object_id in actual.keys() - expected.keys():
        problems.append(f"{actual[object_id].label} [{object_id}]: unexpected extra container")
    for object_id in sorted(expected.keys() & actual.keys(), key=lambda oid: expected[oid].label):
        diff_values(expected[object_id], actual[object_id], expected[object_id].label, problems)
    return problems


def diff_values(expected: Any, actual: Any, where: str, problems: list[str]) -> None:
    """Append to ``problems`` every difference between two normalized values."""
    if type(expected) is not type(actual):
        problems.append(f"{where}: {describe(expected)} != {describe(actual)}")
    elif isinstance(expected, (Dict, Sequence_)):  # the items are addressed by key / position
        diff_values(expected.type_name, actual.type_name, f"{where}.type", problems)
        diff_values(expected.items, actual.items, where, problems)
    elif isinstance(expected, Array):
        for attribute in ("kind", "dtype", "shape"):
            diff_values(getattr(expected, attribute), getattr(actual, attribute), f"{where}.{attribute}",
                        problems)
        if expected.dtype == actual.dtype and expected.shape == actual.shape:
            diff_values(expected.values, actual.values, where, problems)
    elif isinstance(expected, (Frame, ContainerSnapshot)):
        for field in dataclasses.fields(expected):
            diff_values(getattr(expected, field.name), getattr(actual, field.name), f"{where}.{field.name}",
                        problems)
    elif isinstance(expected, dict):
        for key in expected.keys() - actual.keys():
            problems.append(f"{where}[{key!r}]: missing (expected {describe(expected[key])})")
        for key in actual.keys() - expected.keys():
            problems.append(f"{where}[{key!r}]: unexpected {describe(actual[key])}")
        for key in sorted(expected.keys() & actual.keys(), key=str):
            diff_values(expected[key], actual[key], f"{where}[{key!r}]", problems)
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            problems.append(f"{where}: length {len(expected)} != {len(actual)}")
        else:
            for position, (expected_item, actual_item) in enumerate(zip(expected, actual)):
                diff_values(expected_item, actual_item, f"{where}[{position}]", problems)
    elif isinstance(expected, np.ndarray):
        diff_arrays(expected, actual, where, problems)
    elif isinstance(expected, Leaf):
        if expected.type_name != actual.type_name or not same_scalar(expected.value, actual.value):
            problems.append(f"{where}: {describe(expected)} != {describe(actual)}")
    elif expected != actual:
        problems.append(f"{where}: {describe(expected)} != {describe(actual)}")


def diff_arrays(expected: np.ndarray, actual: np.ndarray, where: str, problems: list[str]) -> None:
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        problems.append(f"{where}: array {expected.dtype}{expected.shape} != {actual.dtype}{actual.shape}")
        return
    equal_nan = expected.dtype.kind in "fc"
    if not np.array_equal(expected, actual, equal_nan=equal_nan):
        differing = np.argwhere(~((expected == actual) | (equal_nan & np.isnan(expected) & np.isnan(actual))))
        first = tuple(int(i) for i in differing[0])
        problems.append(f"{where}: {len(differing)} element(s) differ, first at {first}: "
                        f"{expected[first]!r} != {actual[first]!r}")


def same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        if math.isnan(expected) and math.isnan(actual):
            return True
    if isinstance(expected, complex) and isinstance(actual, complex):
        return same_scalar(expected.real, actual.real) and same_scalar(expected.imag, actual.imag)
    return type(expected) is type(actual) and expected == actual


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def assert_same(expected: dict[str, ContainerSnapshot], actual: dict[str, ContainerSnapshot]) -> None:
    """Raise ``AssertionError`` listing the differences, if there are any."""
    problems = diff_snapshots(expected, actual)
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED_DIFFERENCES])
        more = len(problems) - MAX_REPORTED_DIFFERENCES
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise AssertionError(f"{len(problems)} difference(s):\n  {shown}{tail}")


def assert_nwbfiles_equal(expected: AbstractContainer, actual: AbstractContainer) -> None:
    """Snapshot both files (reading everything) and assert they are the same."""
    assert_same(snapshot(expected), snapshot(actual))
