"""Reading experiment files: TOML with ``extends``, ``--set KEY=VALUE`` overrides, and TOML output.

An experiment file may start from another one with a top-level ``extends``
key: ``extends = "builtin:digits"`` names a file shipped in
``cnnsvm/experiments/configs/``; any other value is a path, relative to the
file that contains it. The including file's tables are merged over the base
(tables merge key by key; arrays and values replace).
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import tomli_w

from cnnsvm.exceptions import ConfigError

BUILTIN_PREFIX = "builtin:"
_MAX_EXTENDS_DEPTH = 8


def builtin_config_path(name):
    """Path of the experiment file ``name`` shipped with the package (``"digits"``).

    Raises
    ------
    ConfigError
        If no such file is shipped.
    """
    folder = resources.files("cnnsvm.experiments").joinpath("configs")
    candidate = folder.joinpath(f"{name}.toml")
    if not candidate.is_file():
        shipped = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
        raise ConfigError(f"no built-in experiment {name!r}; shipped: {', '.join(shipped)}")
    return Path(str(candidate))


def read_toml(path):
    """Parse one TOML file into a dict, with a one-line :class:`ConfigError` on failure."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} not found; check the path (relative to {Path.cwd()})")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text ({exc})") from exc


def merge_tables(base, overlay):
    """Return ``base`` updated with ``overlay``: tables merge recursively, other values replace."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def config_stem(path):
    """Default name of a configuration: ``NAME`` for ``"builtin:NAME"``, else the file's stem."""
    text = str(path)
    return text.split(":", 1)[1] if text.startswith("builtin:") else Path(path).stem


def read_config_file(path, _depth=0):
    """Read an experiment file, following its ``extends`` chain.

    Parameters
    ----------
    path : str or Path
        A TOML file, or ``"builtin:NAME"`` for a file shipped with the package.

    Returns
    -------
    dict
        The merged tables, without the ``extends`` key.
    """
    if _depth > _MAX_EXTENDS_DEPTH:
        raise ConfigError(f"'extends' nests deeper than {_MAX_EXTENDS_DEPTH} files; is there a cycle?")
    text = str(path)
    path = builtin_config_path(text[len(BUILTIN_PREFIX) :]) if text.startswith(BUILTIN_PREFIX) else Path(path)
    data = read_toml(path)
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data
    if not isinstance(base_ref, str) or not base_ref:
        raise ConfigError(f"{path}: 'extends' must be a file path or 'builtin:NAME'; got {base_ref!r}")
    if not base_ref.startswith(BUILTIN_PREFIX):
        base_ref = path.parent / Path(base_ref).expanduser()
    return merge_tables(read_config_file(base_ref, _depth + 1), data)


def parse_value(text):
    """Read an override's value as TOML, else JSON, else keep it as a string.

    ``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"true"`` -> True, ``"[32, 64]"`` -> [32, 64],
    ``"npz:data/x.npz"`` -> ``"npz:data/x.npz"``.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_overrides(config, overrides):
    """Apply ``KEY=VALUE`` overrides with dotted keys to a nested config.

    Parameters
    ----------
    config : dict
        Not modified.
    overrides : iterable of str
        ``"training.epochs=2"``, ``"datasets.0.spec=npz:other.npz"``,
        ``"method.cnn-article.augmentation=0"``. Integer parts index arrays;
        missing tables are created. Values are parsed by :func:`parse_value`.

    Returns
    -------
    dict
    """
    config = json.loads(json.dumps(config))  # deep copy of plain data
    for item in overrides or ():
        key, eq, raw = str(item).partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"override {item!r} must look like KEY=VALUE, e.g. training.epochs=2")
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"override key {key!r} has an empty part; write dotted keys like generic.epochs")
        node = config
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"override {key!r}: {'.'.join(parts[:i]) or 'the value'} is an array of {len(node)} "
                        f"entries; index it with 0..{len(node) - 1}"
                    )
                index = int(part)
                if last:
                    node[index] = parse_value(raw.strip())
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = parse_value(raw.strip())
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"override {key!r}: {where.rsplit('.', 1)[0]} is a value, not a table")
    return config


# ------------------------------------------------------------------ writing
def _plain(value):
    """``value`` as tomli-w writes it: ``None`` left out, numpy scalars as Python ones, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def dump_toml(data):
    """Write a nested dict of plain values as TOML text (``None`` values are left out).

    Uses :func:`tomli_w.dumps`; :func:`tomllib.loads` reads the result back to the
    same dict.

    Parameters
    ----------
    data : dict
        Strings, numbers, booleans, lists, dicts and numpy scalars.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        If a value has no TOML form.
    """
    try:
        return tomli_w.dumps(_plain(data))
    except TypeError as exc:
        raise ConfigError(f"cannot write the configuration as TOML: {exc}") from exc
