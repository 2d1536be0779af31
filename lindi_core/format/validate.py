"""Validation of reference files against the JSON Schema of the spec (``lindi.schema.json``, beside this module).

The loader (:mod:`lindi_core.format.jsonio`) already refuses anything it cannot interpret;
the schema check is stricter (it also checks annotation shapes) and is meant for producers
of reference files, the ``lindi-core validate`` command and the test suite.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any

import jsonschema

from lindi_core.errors import ReferenceFormatError
from lindi_core.format.jsonio import parse_json_bytes


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("lindi_core.format").joinpath("lindi.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def validate_json(obj: Any) -> None:
    """Raise :class:`ReferenceFormatError` describing the first few violations, if any."""
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors[:10]]
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ReferenceFormatError("reference file violates the schema:\n  " + "\n  ".join(lines) + more)


def validate_file(path: str | os.PathLike) -> None:
    with open(path, "rb") as f:
        validate_json(parse_json_bytes(f.read()))
