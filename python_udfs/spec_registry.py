"""`spec/` as the warehouse sees it: every YAML file loaded into one canonical tree, validated,
and hashed (`ontology_spec_hash`).

dbt reaches the spec through the SQL function `spec_json(section)` (registered by the plugin), so a
macro can read it at build time with `run_query`: `dbt build` alone picks up a spec change, with no
code-generation step to forget. Each section may have a validator that fails with the file, the key
and the reason.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR_ENV = "BACKTEST_SPEC_DIR"
PROJECT_DIR = Path(__file__).resolve().parents[1]

Validator = Callable[[dict[str, Any], Path], None]
VALIDATORS: dict[str, Validator] = {}
"""Top-level spec section -> validator; sections register themselves (see `register_validator`)."""


class SpecError(ValueError):
    """A spec file is invalid; the message names the file, the key and the reason."""


def register_validator(section: str) -> Callable[[Validator], Validator]:
    def decorate(fn: Validator) -> Validator:
        VALIDATORS[section] = fn
        return fn

    return decorate


def spec_dir() -> Path:
    """`$BACKTEST_SPEC_DIR` if set (tests point it at a temporary copy), else the project's spec/."""
    return Path(os.environ.get(SPEC_DIR_ENV) or PROJECT_DIR / "spec")


_SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it (about 10x faster: every dbt model that reads the
spec at compile time parses it), else the pure-Python one; both construct only safe types."""


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[misc, valid-type]
    """Safe loader that refuses a mapping with the same key twice (plain YAML keeps the last one
    silently, which would hide a duplicated event, feature or parameter)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (line {key_node.start_mark.line + 1})", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


@functools.lru_cache(maxsize=1024)
def _parse_yaml(text: str) -> Any:
    """Parsed YAML of one file's text, memoised by the text itself: a build asks for the spec many
    times (every model that reads it at compile time) and the text is the whole cache key, so an
    edited file is parsed again and the spec is still read fresh on every call."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader subclass


def read_yaml(path: Path) -> Any:
    """One spec file, refusing duplicate keys; errors name the file."""
    try:
        return copy.deepcopy(_parse_yaml(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({exc})") from exc


def load_tree(root: Path) -> dict[str, Any]:
    """Every `*.yaml` under `root` as a nested dict: `features/returns.yaml` -> tree['features']['returns']."""
    tree: dict[str, Any] = {}
    for path in sorted(root.rglob("*.yaml")):
        relative = path.relative_to(root).with_suffix("")
        content = read_yaml(path)
        node = tree
        for part in relative.parts[:-1]:
            node = node.setdefault(part, {})
        node[relative.parts[-1]] = {} if content is None else content
    return tree


def load_spec(root: Path | None = None) -> dict[str, Any]:
    """The validated spec tree."""
    root = root or spec_dir()
    if not root.is_dir():
        raise SpecError(f"spec folder {root} does not exist (set {SPEC_DIR_ENV} or run from the project)")
    tree = load_tree(root)
    _import_validators()
    for section, validate in VALIDATORS.items():
        validate(tree.get(section, {}), root / section)
    return tree


def _import_validators() -> None:
    """Validators live next to the code that uses each section; importing them registers them."""
    import importlib

    for module in ("python_udfs.feature_spec", "python_udfs.event_spec", "python_udfs.cost_model",
                   "python_udfs.gate_spec", "python_udfs.backtest_config"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def ontology_spec_hash(root: Path | None = None) -> str:
    """sha256 of the canonicalised spec tree: formatting and comments do not change it."""
    return hashlib.sha256(canonical_json(load_spec(root)).encode()).hexdigest()


def section(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"spec has no section '{dotted}' (missing '{part}')")
        node = node[part]
    return node


def spec_json(dotted: str) -> str:
    """SQL entry point: one section of the validated spec, as JSON."""
    return canonical_json(section(load_spec(), dotted))
