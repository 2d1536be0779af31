"""Walking an HDF5 file with h5py and its translation with the facade, object by object.

Files written by other tools (PyTables, netCDF4, h5netcdf, xarray) use HDF5 features h5py's own
writers rarely reach (committed types, array-typed members, dimension scales, pickled attributes,
odd filters). The comparison here asks of ``LindiH5pyFile`` everything h5py answers about each
object -- links and their kinds and order, object classes, attributes with their exact returned
types, dataset shapes, dtypes (with h5py's string/enum/vlen/reference metadata), storage
properties, values bit for bit (NaN payloads too), dimension scales and object references
(resolved to paths) -- and collects every difference as one readable line, so a failing test
lists all of them rather than the first.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import lindi_core
from lindi_core.format.validate import validate_file
from lindi_core.translate.chunks import ChunkOptions

# The root group's attributes and link names, without its members (each tested on its own).
ROOT_ONLY = "/ (attributes and names)"

# h5py's per-dataset storage questions, answered from the translation's metadata.
_STORAGE_PROPERTIES = ("maxshape", "chunks", "compression", "compression_opts", "shuffle", "fletcher32",
                       "scaleoffset")
_DTYPE_CHECKS = {
    "string": lambda dt: _string_info(h5py.check_string_dtype(dt)),
    "enum": lambda dt: h5py.check_enum_dtype(dt),
    "vlen": lambda dt: _dtype_text(h5py.check_vlen_dtype(dt)),
    "ref": lambda dt: h5py.check_ref_dtype(dt),
}


def _string_info(info: Any) -> Any:
    return None if info is None else (info.encoding, info.length)


def _dtype_text(dt: np.dtype | None) -> str | None:
    return None if dt is None else str(dt)


def _dtype_facts(dt: np.dtype, prefix: str = "") -> dict:
    """What distinguishes two dtypes for h5py users, flat (``fields.a.enum`` ...) so that a
    difference names only what differs: numpy's own description (byte order, field names,
    offsets, item size) and h5py's metadata, also of every compound member and subarray base."""
    facts = {f"{prefix}descr": str(dt), f"{prefix}itemsize": dt.itemsize,
             f"{prefix}byteorder": dt.byteorder if dt.byteorder != "=" else "<"}
    for name, check in _DTYPE_CHECKS.items():
        facts[prefix + name] = check(dt)
    if dt.names:
        facts[f"{prefix}names"] = dt.names
        for name in dt.names:
            facts[f"{prefix}fields.{name}.offset"] = dt.fields[name][1]
            facts.update(_dtype_facts(dt.fields[name][0], f"{prefix}fields.{name}."))
    if dt.subdtype is not None:
        facts[f"{prefix}subshape"] = dt.subdtype[1]
        facts.update(_dtype_facts(dt.subdtype[0], f"{prefix}subdtype."))
    return facts


class Walk:
    """One comparison of an h5py file (``expected``) with a facade file (``got``)."""

    def __init__(self, expected: h5py.File, got: h5py.File, label: str = ""):
        self.expected = expected
        self.got = got
        self.label = label
        self.differences: list[str] = []
        self._seen: set[str] = set()
        self._seen_at: dict[str, str] = {}

    def report(self, where: str, what: str, expected: Any, got: Any) -> None:
        prefix = f"[{self.label}] " if self.label else ""
        self.differences.append(f"{prefix}{where}: {what}: h5py {expected!r} != lindi {got!r}")

    def _guarded(self, where: str, what: str, fetch_expected, fetch_got) -> tuple[bool, Any, Any]:
        """Both answers (or both failures) to one question; a difference when only one fails."""
        try:
            expected = ("ok", fetch_expected())
        except Exception as exc:  # noqa: BLE001 - h5py's failure is an answer to compare too
            expected = ("error", type(exc).__name__)
        try:
            got = ("ok", fetch_got())
        except Exception as exc:  # noqa: BLE001
            got = ("error", f"{type(exc).__name__}: {exc}")
        if expected[0] != got[0]:
            self.report(where, what, expected[1] if expected[0] == "ok" else expected,
                        got[1] if got[0] == "ok" else got)
            return False, None, None
        if expected[0] == "error":
            return False, None, None
        return True, expected[1], got[1]

    # ---- the tree -------------------------------------------------------------------------

    def object(self, path: str) -> None:
        ok, h_obj, l_obj = self._guarded(path, "open", lambda: self.expected[path], lambda: self.got[path])
        if not ok:
            return
        h_class, l_class = _object_class(h_obj), _object_class(l_obj)
        if h_class != l_class:
            self.report(path, "object class", h_class, l_class)
            return
        self.attributes(path, h_obj, l_obj)
        if h_class == "Group":
            self.group(path, h_obj, l_obj)
        elif h_class == "Dataset":
            self.dataset(path, h_obj, l_obj)
        elif h_class == "Datatype":
            self.same_dtype(path, "dtype", h_obj.dtype, l_obj.dtype)

    def group(self, path: str, h_group: h5py.Group, l_group: h5py.Group) -> None:
        ok, h_names, l_names = self._guarded(path, "keys", lambda: list(h_group.keys()), lambda: list(l_group.keys()))
        if not ok:
            return
        if h_names != l_names:
            self.report(path, "link names (in order)", h_names, l_names)
        for name in (n for n in h_names if n in l_names):
            child = posixpath.join(path, name)
            ok, h_link, l_link = self._guarded(child, "link", lambda n=name: h_group.get(n, getlink=True),
                                               lambda n=name: l_group.get(n, getlink=True))
            if not ok:
                continue
            h_kind, l_kind = _link_kind(h_link), _link_kind(l_link)
            if h_kind != l_kind:
                self.report(child, "link kind", h_kind, l_kind)
                continue
            if h_kind == "SoftLink":
                if h_link.path != l_link.path:
                    self.report(child, "soft link target", h_link.path, l_link.path)
                continue
            if h_kind == "ExternalLink":
                if (h_link.filename, h_link.path) != (l_link.filename, l_link.path):
                    self.report(child, "external link", (h_link.filename, h_link.path), (l_link.filename, l_link.path))
                continue
            # A hard link: walk each object once (hard links elsewhere lead to the same one),
            # but check that the facade sees the second link as the same object too.
            address = _address(h_group, name)
            if address in self._seen:
                first = self._seen_at[address]
                ok, h_same, l_same = self._guarded(child, "hard link identity", lambda: True,
                                                   lambda n=name, f=first: l_group[n] == self.got[f])
                if ok and not l_same:
                    self.report(child, "same object as " + first, True, l_same)
                continue
            self._seen.add(address)
            self._seen_at[address] = child
            self.object(child)

    def attributes(self, path: str, h_obj: Any, l_obj: Any) -> None:
        ok, h_names, l_names = self._guarded(path, "attribute names", lambda: list(h_obj.attrs.keys()),
                                             lambda: list(l_obj.attrs.keys()))
        if not ok:
            return
        if h_names != l_names:
            self.report(path, "attribute names (in order)", h_names, l_names)
        for name in (n for n in h_names if n in l_names):
            where = f"{path}@{name}"
            ok, h_value, l_value = self._guarded(where, "value", lambda n=name: h_obj.attrs[n],
                                                 lambda n=name: l_obj.attrs[n])
            if ok:
                self.same_value(where, h_value, l_value)

    def dataset(self, path: str, h_ds: h5py.Dataset, l_ds: h5py.Dataset) -> None:
        self.same_properties(path, h_ds, l_ds, ("shape", "ndim", "size"))
        # h5py has no dtype for some HDF5 types (time, 128-bit integers): then the facade must
        # refuse too, and reads are compared as failures below.
        typed, h_dtype, l_dtype = self._guarded(path, "dtype", lambda: h_ds.dtype, lambda: l_ds.dtype)
        if typed:
            self.same_dtype(path, "dtype", h_dtype, l_dtype)
        self.same_properties(path, h_ds, l_ds, _STORAGE_PROPERTIES)
        ok, h_fill, l_fill = self._guarded(path, "fillvalue", lambda: h_ds.fillvalue, lambda: l_ds.fillvalue)
        if ok:
            self.same_value(f"{path} fillvalue", h_fill, l_fill)
        for selection in _selections(h_ds.shape):
            where = f"{path}[{_selection_text(selection)}]"
            ok, h_value, l_value = self._guarded(where, "read", lambda s=selection: h_ds[s], lambda s=selection: l_ds[s])
            if ok:
                self.same_value(where, h_value, l_value)
        if typed and h_dtype.names and h_ds.shape:
            for field in h_ds.dtype.names:
                where = f"{path}[{field!r}]"
                ok, h_value, l_value = self._guarded(where, "read field", lambda f=field: h_ds[f],
                                                     lambda f=field: l_ds[f])
                if ok:
                    self.same_value(where, h_value, l_value)
        self.dimension_scales(path, h_ds, l_ds)

    def same_properties(self, path: str, h_ds: h5py.Dataset, l_ds: h5py.Dataset, names) -> None:
        for what in names:
            ok, h_value, l_value = self._guarded(path, what, lambda w=what: getattr(h_ds, w),
                                                 lambda w=what: getattr(l_ds, w))
            if ok and h_value != l_value:
                self.report(path, what, h_value, l_value)

    def dimension_scales(self, path: str, h_ds: h5py.Dataset, l_ds: h5py.Dataset) -> None:
        ok, h_scale, l_scale = self._guarded(path, "is_scale", lambda: h_ds.is_scale, lambda: l_ds.is_scale)
        if ok and h_scale != l_scale:
            self.report(path, "is_scale", h_scale, l_scale)
        for axis in range(len(h_ds.shape or ())):
            where = f"{path} dims[{axis}]"
            ok, h_dim, l_dim = self._guarded(where, "describe", lambda a=axis: _describe_dim(h_ds.dims[a]),
                                             lambda a=axis: _describe_dim(l_ds.dims[a]))
            if ok and h_dim != l_dim:
                self.report(where, "label and attached scales", h_dim, l_dim)

    # ---- values ---------------------------------------------------------------------------

    def same_dtype(self, where: str, what: str, h_dt: np.dtype, l_dt: np.dtype) -> None:
        h_facts, l_facts = _dtype_facts(h_dt), _dtype_facts(l_dt)
        if h_facts != l_facts:
            changed = {k: (h_facts.get(k), l_facts.get(k)) for k in h_facts.keys() | l_facts.keys()
                       if h_facts.get(k) != l_facts.get(k)}
            self.report(where, what, {k: v[0] for k, v in changed.items()}, {k: v[1] for k, v in changed.items()})

    def same_value(self, where: str, h_value: Any, l_value: Any) -> None:
        if type(h_value) is not type(l_value) and not (_is_reference(h_value) and _is_reference(l_value)):
            self.report(where, "value type", type(h_value).__name__, type(l_value).__name__)
            return
        if isinstance(h_value, h5py.Reference):
            self.same_reference(where, h_value, l_value)
            return
        if isinstance(h_value, (np.ndarray, np.generic)):
            if h_value.dtype != l_value.dtype or _dtype_facts(h_value.dtype) != _dtype_facts(l_value.dtype):
                self.same_dtype(where, "value dtype", h_value.dtype, l_value.dtype)
                return
            if np.shape(h_value) != np.shape(l_value):
                self.report(where, "value shape", np.shape(h_value), np.shape(l_value))
                return
            self.same_array(where, np.asarray(h_value), np.asarray(l_value))
            return
        if h_value != l_value:
            self.report(where, "value", h_value, l_value)

    def same_array(self, where: str, h_arr: np.ndarray, l_arr: np.ndarray) -> None:
        dt = h_arr.dtype
        if dt.names:
            for name in dt.names:
                self.same_array(f"{where}.{name}", h_arr[name], l_arr[name])
            return
        if dt.subdtype is not None or not dt.hasobject:
            if dt.subdtype is not None and dt.subdtype[0].hasobject:
                for index in np.ndindex(h_arr.shape):
                    self.same_array(f"{where}{list(index)}", h_arr[index], l_arr[index])
                return
            if _significant_bytes(h_arr) != _significant_bytes(l_arr):
                self.report(where, "values (bit for bit)", _short(h_arr), _short(l_arr))
            return
        mismatches = 0
        for index in np.ndindex(h_arr.shape):
            before = len(self.differences)
            self.same_value(f"{where}{list(index)}", h_arr[index], l_arr[index])
            mismatches += len(self.differences) > before
            if mismatches >= 5:  # enough to see the pattern; the rest would only bury it
                self.differences.append(f"{where}: further element differences not listed")
                return

    def same_reference(self, where: str, h_ref: h5py.Reference, l_ref: h5py.Reference) -> None:
        if not _is_reference(l_ref):
            self.report(where, "reference type", type(h_ref).__name__, type(l_ref).__name__)
            return
        if isinstance(h_ref, h5py.RegionReference) != isinstance(l_ref, h5py.RegionReference):
            self.report(where, "region reference", isinstance(h_ref, h5py.RegionReference),
                        isinstance(l_ref, h5py.RegionReference))
            return
        if not h_ref:
            if bool(l_ref):
                self.report(where, "null reference", False, True)
            return
        ok, h_name, l_name = self._guarded(where, "reference target", lambda: self.expected[h_ref].name,
                                           lambda: self.got[l_ref].name)
        if ok and h_name != l_name:
            self.report(where, "reference target", h_name, l_name)
        if ok and isinstance(h_ref, h5py.RegionReference):
            ok, h_sel, l_sel = self._guarded(where, "region", lambda: self.expected[h_ref][h_ref],
                                             lambda: self.got[l_ref][l_ref])
            if ok:
                self.same_value(f"{where} region", h_sel, l_sel)


def _significant_bytes(array: np.ndarray) -> bytes:
    """The bytes that hold the values: all of them, but for x87 long doubles (float128 on
    x86-64), whose last 6 bytes of each element are padding of no defined content."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind in "fc" and array.dtype.itemsize in (16, 32) and np.finfo(np.longdouble).nmant == 63 \
            and array.dtype.char in "gG":
        return array.view(np.uint8).reshape(-1, 16)[:, :10].tobytes()
    return array.tobytes()


def _address(group: h5py.Group, name: str) -> str:
    return str(h5py.h5o.get_info(group[name].id).addr)


def _object_class(obj: Any) -> str:
    for cls in (h5py.Group, h5py.Dataset, h5py.Datatype):
        if isinstance(obj, cls):
            return cls.__name__
    return type(obj).__name__


def _link_kind(link: Any) -> str:
    for cls in (h5py.SoftLink, h5py.ExternalLink, h5py.HardLink):
        if isinstance(link, cls):
            return cls.__name__
    return type(link).__name__


def _is_reference(value: Any) -> bool:
    return isinstance(value, h5py.Reference)


def _describe_dim(dim: Any) -> tuple:
    return dim.label, list(dim.keys()), [scale.name for scale in dim.values()]


def _selections(shape: tuple | None) -> list:
    """The whole value, then a few slices: first and last element along axis 0, a strided and a
    middle range, an index list, and a multi-axis corner where there are several axes."""
    if shape is None:
        return [()]
    selections: list = [()]
    if len(shape) == 0 or shape[0] == 0:
        return selections
    n = shape[0]
    selections += [0, n - 1, slice(None, None, 2), slice(n // 3, max(n // 3 + 1, 2 * n // 3))]
    if n > 2:
        selections.append([0, n // 2, n - 1])  # an index list (h5py's fancy indexing: increasing)
    if len(shape) > 1 and all(shape):
        selections.append(tuple(slice(0, max(1, extent // 2)) for extent in shape))
    return selections


def _selection_text(selection: Any) -> str:
    if selection == ():
        return "()"
    return str(selection).replace("slice", "")


def _short(array: np.ndarray) -> str:
    flat = array.ravel()
    return f"{array.dtype} {array.shape} {flat[:6]!r}{'...' if flat.size > 6 else ''}"


def walk_differences(expected: h5py.File, got: h5py.File, path: str = "/", label: str = "") -> list[str]:
    """Every difference between the object at ``path`` (and all it holds) in both files."""
    walk = Walk(expected, got, label)
    if path in ("/", ROOT_ONLY):
        walk.attributes("/", expected, got)
        if path == "/":
            walk.group("/", expected, got)
        else:
            ok, h_names, l_names = walk._guarded("/", "keys", lambda: list(expected.keys()), lambda: list(got.keys()))
            if ok and h_names != l_names:
                walk.report("/", "link names (in order)", h_names, l_names)
    else:
        walk.object(path)
    return walk.differences


class TranslatedFile:
    """One HDF5 file opened with h5py and translated once, in memory and reopened from disk, so
    that per-object tests share the translation."""

    def __init__(self, h5_path: str | Path, lindi_dir: str | Path):
        self.h5_path = Path(h5_path)
        self.expected = h5py.File(self.h5_path, "r")
        self.failure: str | None = None
        self.views: dict[str, h5py.File] = {}
        try:
            memory = lindi_core.LindiH5pyFile.from_hdf5_file(str(self.h5_path))
        except Exception as exc:  # noqa: BLE001 - a failed translation is the difference to show
            self.failure = f"translation failed: {type(exc).__name__}: {exc}"
            return
        self.views["memory"] = memory
        lindi_path = Path(lindi_dir) / (self.h5_path.name + ".lindi.json")
        try:
            memory.write_lindi_file(lindi_path)
            validate_file(lindi_path)
            self.views["reopened"] = lindi_core.LindiH5pyFile.from_lindi_file(lindi_path)
        except Exception as exc:  # noqa: BLE001
            self.failure = f"writing, validating or reopening the reference file failed: {type(exc).__name__}: {exc}"

        # A third road: nothing inlined that can be referenced, contiguous data cut into tiny
        # virtual chunks, compounds referenced in place rather than as JSON rows.
        try:
            self.views["referenced"] = lindi_core.LindiH5pyFile.from_hdf5_file(
                str(self.h5_path), options=ChunkOptions(inline_threshold=0, contiguous_chunk_target=64,
                                                        compound_rows_limit=0))
        except Exception as exc:  # noqa: BLE001
            self.failure = f"translation with tiny chunks failed: {type(exc).__name__}: {exc}"

    def differences(self, path: str = "/") -> list[str]:
        differences = [self.failure] if self.failure else []
        for label, view in self.views.items():
            differences += walk_differences(self.expected, view, path, label)
        return differences

    def assert_matches(self, path: str = "/") -> None:
        differences = self.differences(path)
        assert not differences, (f"{len(differences)} difference(s) in {self.h5_path.name}:{path}\n"
                                 + "\n".join(differences))

    def close(self) -> None:
        for view in self.views.values():
            view.close()
        self.expected.close()


def object_paths(h5_path: str | Path) -> list[str]:
    """The root itself (its attributes and link names, ``ROOT_ONLY``) and the paths of its
    members, one test per object."""
    with h5py.File(h5_path, "r") as f:
        return [ROOT_ONLY] + ["/" + name for name in f.keys()]
