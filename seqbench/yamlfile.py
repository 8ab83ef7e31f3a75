"""YAML as seqbench reads its data files (task specs, suites, accelerator profiles).

``yaml.safe_load`` keeps the last of two equal keys in one mapping without a word, so a
profile that sets ``rows`` twice silently uses the second; here a repeated key is a one-line
error naming the file and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seqbench.errors import SeqbenchError

MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping."""

    path: str = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *anchor` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error names it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise SeqbenchError(
                    f"{self.path}:{line}: key {key!r} appears twice in one mapping (first on "
                    f"line {first})",
                    "keep one of them (YAML would silently use the last)",
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str | bytes, path: Path | str) -> Any:
    """Parse ``text`` (the contents of ``path``) like ``yaml.safe_load``; a duplicate key is
    a :class:`SeqbenchError` naming ``path`` and the line. Syntax errors stay
    ``yaml.YAMLError`` for the caller to word."""
    loader = _UniqueKeyLoader(text)
    loader.path = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
