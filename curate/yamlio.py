"""Reading YAML files strictly: one error line naming the file for every way a file can be wrong.

    from curate.yamlio import read_yaml
    data = read_yaml(Path("recipes/default.yaml"))

On top of ``yaml.safe_load``: a path that is a folder, bytes that are not UTF-8, a mapping with
the same key twice (YAML would silently keep the last value) and invalid YAML are each one
:class:`~curate.errors.RecipeError` naming the file (and the line where known).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from curate.errors import RecipeError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)  # resolves '<<' merge keys first; those may legitimately repeat
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            line = seen.get(key)
        except TypeError:  # an unhashable key: let SafeLoader report it
            break
        if line is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first on line {line + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: Path, what: str = "recipe") -> Any:
    path = Path(path)
    if path.is_dir():
        raise RecipeError(f"{what} {path} is a folder, not a YAML file", hint="pass the .yaml file inside it")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError(f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
                          hint="save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
