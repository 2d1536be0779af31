"""The NWB deep comparison must fail on real differences: each test changes one thing in a copy
of a built file with h5py, reads both files with pynwb and checks the difference is reported
where it happened (and that an unchanged copy compares equal)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pynwb
import pytest

from tests.facade.nwb.builders import build_ecephys, build_images
from tests.facade.nwb.compare import assert_same, diff_snapshots, diff_values, normalize, snapshot

ES = "acquisition/ElectricalSeries"


@pytest.fixture(scope="module")
def built_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compare_sources")
    files = {"ecephys": folder / "ecephys.nwb", "images": folder / "images.nwb"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # write-time warnings are not under test here
        build_ecephys(files["ecephys"])
        build_images(files["images"])
    return files


@pytest.fixture
def differences_after(built_files, tmp_path) -> Callable[[str, Callable[[h5py.File], None]], list[str]]:
    """``differences_after(file_name, mutate)`` -> the differences between the built file and a
    copy changed by ``mutate(h5py_file)``, both read by pynwb."""

    def run(file_name: str, mutate: Callable[[h5py.File], None]) -> list[str]:
        original = built_files[file_name]
        mutated = tmp_path / f"mutated-{original.name}"
        shutil.copyfile(original, mutated)
        with h5py.File(mutated, "r+") as f:
            mutate(f)
        with pynwb.NWBHDF5IO(original, "r") as expected_io, pynwb.NWBHDF5IO(mutated, "r") as actual_io:
            return diff_snapshots(snapshot(expected_io.read()), snapshot(actual_io.read()))

    return run


def replace_dataset(f: h5py.File, path: str, data: np.ndarray) -> None:
    """Rewrite the dataset at ``path`` with ``data``, keeping its attributes."""
    attributes = dict(f[path].attrs)
    del f[path]
    f.create_dataset(path, data=data).attrs.update(attributes)


def only_difference(problems: list[str], *fragments: str) -> str:
    """The single reported difference, checked to mention every fragment."""
    assert len(problems) == 1, problems
    assert all(fragment in problems[0] for fragment in fragments), problems[0]
    return problems[0]


def test_unchanged_copy_compares_equal(differences_after):
    assert differences_after("ecephys", lambda f: None) == []


def test_detects_a_changed_array_value(differences_after):
    def bump_one_sample(f):
        f[f"{ES}/data"][10, 3] += 1

    only_difference(differences_after("ecephys", bump_one_sample),
                    "ElectricalSeries at root/ElectricalSeries.fields['data']:", "1 element(s) differ",
                    "(10, 3)")


def test_detects_a_changed_ragged_table_value(differences_after):
    def move_one_spike(f):
        f["units/spike_times"][7] += 0.001

    problems = differences_after("ecephys", move_one_spike)
    assert any("at root/units/spike_times.data" in p and "differ" in p for p in problems), problems
    # the same change, seen in the ragged cell of to_dataframe()
    assert any("at root/units.dataframe" in p for p in problems), problems


def test_detects_a_changed_string(differences_after):
    def rename_channel(f):
        f["general/extracellular_ephys/electrodes/label"][2] = "renamed"

    problems = differences_after("ecephys", rename_channel)
    assert any("at root/electrodes/label.data" in p and "'ch02'" in p and "'renamed'" in p
               for p in problems), problems


def test_detects_a_missing_field(differences_after):
    def drop_filtering(f):
        del f[ES].attrs["filtering"]

    only_difference(differences_after("ecephys", drop_filtering),
                    "ElectricalSeries at root/ElectricalSeries.fields['filtering']: missing")


def test_detects_a_missing_container(differences_after):
    def drop_lfp(f):
        del f["processing/ecephys/LFP"]

    problems = differences_after("ecephys", drop_lfp)
    assert any(p.startswith("LFP at root/ecephys/LFP [") and p.endswith("missing")
               for p in problems), problems


@pytest.mark.parametrize(("path", "new_dtype"),
                         [(f"{ES}/data", np.int32), (f"{ES}/channel_conversion", np.float32)])
def test_detects_a_changed_dtype(differences_after, path, new_dtype):
    def retype(f):
        replace_dataset(f, path, f[path][()].astype(new_dtype))

    problems = differences_after("ecephys", retype)
    assert problems, "a dtype change went unnoticed"
    assert any(np.dtype(new_dtype).str in p and "!=" in p for p in problems), problems


def test_detects_a_changed_reference_target(differences_after):
    def reorder_images(f):
        images = f["stimulus/templates/stimulus_images"]
        images["order_of_images"][0] = images["rgb"].ref  # was rgba

    only_difference(differences_after("images", reorder_images),
                    "ImageReferences at root/stimulus_images/order_of_images.data[0]:", "RGBAImage",
                    "RGBImage")


def test_assert_same_raises_with_the_differences(built_files):
    with pynwb.NWBHDF5IO(built_files["ecephys"], "r") as io:
        expected = snapshot(io.read())
    with pynwb.NWBHDF5IO(built_files["ecephys"], "r") as io:
        actual = snapshot(io.read())
    assert_same(expected, actual)
    (changed,) = [container for container in actual.values()
                  if container.name == container.class_name == "ElectricalSeries"]
    changed.fields.items["rate"] = type(changed.fields.items["rate"])("float64", 29_999.0)
    with pytest.raises(AssertionError, match=r"1 difference\(s\):\n.*\['rate'\].*30000\.0.*29999\.0"):
        assert_same(expected, actual)


def differences(expected, actual) -> list[str]:
    problems: list[str] = []
    diff_values(normalize(expected), normalize(actual), "value", problems)
    return problems


def test_strings_keep_their_python_type():
    assert differences(np.array([b"a"], dtype=object), np.array(["a"], dtype=object))
    assert differences("a", b"a")
    assert differences(np.float32(1.0), np.float64(1.0))


def test_nan_equals_nan_but_not_a_number():
    assert differences(float("nan"), float("nan")) == []
    assert differences(np.array([1.0, np.nan]), np.array([1.0, np.nan])) == []
    assert differences(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_values_of_unknown_kinds_are_refused_not_skipped():
    with pytest.raises(TypeError, match="don't know how to compare"):
        normalize(object())
