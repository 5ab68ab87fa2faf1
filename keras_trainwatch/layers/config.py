"""Reading block configs from dicts, JSON or YAML, so experiments can sweep
them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from keras_trainwatch.layers.block import BlockConfig


def load_block_config(source) -> BlockConfig:
    """Reads a `BlockConfig` from a dict, a JSON or YAML string, or a
    `.json`/`.yaml`/`.yml` file.

    YAML needs PyYAML (`pip install keras_trainwatch[yaml]`).

    Args:
        source: A mapping, a string of JSON or YAML, or a path.

    Returns:
        The validated `BlockConfig`.

    Raises:
        ValueError: If the text cannot be parsed or the values are invalid.

    Example:

    ```python
    config = load_block_config('{"units": 32, "dropout": {"rate": 0.2}}')
    config = load_block_config("units: 32\\nbatch_norm: {position: after}\\n")
    ```
    """
    if isinstance(source, Mapping):
        return BlockConfig.from_dict(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str)
        and source.endswith((".json", ".yaml", ".yml"))
        and os.path.exists(source)
    ):
        with open(source) as file:
            return load_block_config(file.read())
    if not isinstance(source, str):
        raise TypeError(
            "Argument `source` must be a dict, a JSON/YAML string or a path. "
            f"Received: source of type {type(source).__name__}"
        )
    try:
        parsed = json.loads(source)
    except json.JSONDecodeError:
        parsed = _parse_yaml(source)
    if not isinstance(parsed, Mapping):
        raise ValueError(
            "A block config must be a mapping of field names to values. "
            f"Received: {parsed!r}"
        )
    return BlockConfig.from_dict(parsed)


def _parse_yaml(text):
    try:
        import yaml
    except ImportError as error:
        raise ValueError(
            "The block config is not valid JSON, and reading YAML needs "
            "PyYAML: pip install 'keras_trainwatch[yaml]'"
        ) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(
            f"The block config is neither JSON nor YAML: {error}"
        ) from error
