"""Command line arguments and config loading, as PySlowFast's tools expect them."""

import argparse
import os
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import yaml
from fvcore.common.config import CfgNode

from slowfast_atfr.config.checks import closest_keys
from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.config.pyslowfast import drop_pyslowfast_only, pyslowfast_only_defaults, refusal


def parse_args(argv: Optional[Sequence[str]] = None,
               description: Optional[str] = None) -> argparse.Namespace:
    """Parse `--cfg FILE [FILE ...]`, distributed flags and trailing KEY VALUE overrides.

    Args:
        argv: the arguments (default: sys.argv[1:]).
        description: the tool's `--help` text (its module docstring).
    """
    parser = argparse.ArgumentParser(
        description=description or "Train, test and run the demo of a slowfast_atfr video "
                                   "model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shard_id", default=0, type=int, help="Index of this machine.")
    parser.add_argument("--num_shards", default=1, type=int, help="Number of machines.")
    parser.add_argument(
        "--init_method",
        default="tcp://localhost:9999",
        help="Address of the rank-0 machine (tcp://host:port), or env:// under torchrun.",
    )
    parser.add_argument(
        "--cfg", dest="cfg_files", nargs="+", default=["configs/Demo/RESNET3D18_ATFR.yaml"],
        help="One or more config files; as in PySlowFast, each is a separate run (its own "
             "train/test jobs), one after the other, with the same KEY VALUE overrides "
             "(default: %(default)s).",
    )
    parser.add_argument(
        "opts", default=None, nargs=argparse.REMAINDER,
        help="KEY VALUE pairs that override the config, e.g. SOLVER.BASE_LR 0.1",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _move_overrides_out_of_cfg_files(args)
    return args


# A config key on the command line: upper-case names joined by dots (SOLVER.BASE_LR).
_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$")


def _move_overrides_out_of_cfg_files(args: argparse.Namespace) -> None:
    """Give `--cfg a.yaml KEY VALUE` its overrides back.

    `--cfg` takes one or more values, so argparse also swallows the KEY VALUE pairs that
    follow it; they start at the first value that looks like a config key.
    """
    for i, value in enumerate(args.cfg_files):
        if _KEY_PATTERN.match(value):
            args.opts = args.cfg_files[i:] + list(args.opts or [])
            args.cfg_files = args.cfg_files[:i]
            if not args.cfg_files:
                raise ValueError(f"--cfg got no config file before the overrides {args.opts}.")
            return


# Key of the file(s) a YAML config inherits from (fvcore's convention).
_BASE_KEY = "_BASE_"


def _unknown_key_error(key: str, node: CfgNode, prefix: str, source: str) -> KeyError:
    full = prefix + key
    candidates = [prefix + k for k in node.keys()]
    hint = closest_keys(full, candidates)
    msg = f"Unknown config key {full!r} in {source}."
    if hint:
        msg += f" Did you mean: {', '.join(hint)}?"
    return KeyError(msg)


def check_keys(node: CfgNode, values: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Raise KeyError naming the first key of `values` that `node` does not declare."""
    for key, value in values.items():
        if key not in node:
            raise _unknown_key_error(key, node, prefix, source)
        if isinstance(node[key], CfgNode):
            if not isinstance(value, Mapping):
                raise ValueError(f"Config key {prefix + key!r} in {source} is a group; "
                                 f"got the value {value!r}.")
            check_keys(node[key], value, source, prefix + key + ".")


def _deep_update(target: Dict[str, Any], values: Mapping[str, Any]) -> None:
    """Merge nested `values` into `target` (a file's keys over its bases' keys)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


def _read_file(cfg: CfgNode, path: str) -> Tuple[Dict[str, Any], Set[str]]:
    """The checked values of `path` over those of the files it inherits from (`_BASE_`).

    Base paths are resolved as fvcore does: relative to the including file. PySlowFast keys
    of features we lack are dropped at their PySlowFast default and refused otherwise
    (config/pyslowfast.py).

    Returns:
        (the merged nested values, the top-level keys that `path` and its bases set).
    """
    try:
        with open(path, "r") as f:
            loaded = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"Config file not found: {path}") from None
    if not isinstance(loaded, Mapping):
        raise ValueError(f"Config file {path} must hold a mapping of keys; got {loaded!r}.")
    bases = loaded.get(_BASE_KEY, [])
    merged: Dict[str, Any] = {}
    keys: Set[str] = set()
    for base in [bases] if isinstance(bases, str) else bases:
        base = os.path.expanduser(base)
        base = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base):
            raise FileNotFoundError(f"Config file not found: {base} (the {_BASE_KEY} of {path})")
        base_values, base_keys = _read_file(cfg, base)
        _deep_update(merged, base_values)
        keys |= base_keys
    own = drop_pyslowfast_only({k: v for k, v in loaded.items() if k != _BASE_KEY}, path)
    check_keys(cfg, own, path)
    _deep_update(merged, own)
    return merged, keys | set(own)


def merge_file(cfg: CfgNode, path: str) -> Set[str]:
    """Merge a YAML file (and its `_BASE_` files) into `cfg`.

    Returns:
        The top-level keys the file and its bases set (`_BASE_` excluded).
    Raises:
        KeyError: naming an unknown key, its file and the closest valid keys.
        FileNotFoundError: naming a missing file.
    """
    values, keys = _read_file(cfg, path)
    cfg.merge_from_other_cfg(CfgNode(values))
    return keys


# Folder, relative to the working directory, of the runs whose config leaves OUTPUT_DIR unset.
OUTPUT_ROOT = "output"
# A config's name is its path below the nearest folder of this name (configs/Kinetics/X.yaml
# -> Kinetics/X), else its folder's name and its stem.
_CONFIGS_FOLDER = "configs"


def config_name(path: str) -> str:
    """The name of the config file `path`, for its default OUTPUT_DIR.

    Its path below the nearest enclosing `configs/` folder, without the extension
    (`configs/Kinetics/X3D_XL_ATFR.yaml` -> `Kinetics/X3D_XL_ATFR`); outside any `configs/`
    folder, its folder's name and its stem (`/home/me/exp/a.yaml` -> `exp/a`). The folder
    keeps configs of the same stem apart (`Kinetics/X3D_M`, `Kinetics600/X3D_M`).
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    folders = os.path.dirname(os.path.abspath(path)).split(os.sep)
    if _CONFIGS_FOLDER in folders:
        below = len(folders) - folders[::-1].index(_CONFIGS_FOLDER)
        return "/".join(folders[below:] + [stem])
    return "/".join([f for f in folders[-1:] if f] + [stem])


def default_output_dir(path: str) -> str:
    """`output/<config name>` (see `config_name`), relative to the working directory."""
    return f"{OUTPUT_ROOT}/{config_name(path)}"


def _odd_overrides_error(opts: List[str]) -> ValueError:
    """Name the first key whose value seems missing (the next item looks like a key)."""
    for key, value in zip(opts[0::2], opts[1::2]):
        if "." in value and _KEY_PATTERN.match(value):
            return ValueError(f"Override {key!r} has no value: it is followed by the key "
                              f"{value!r}. Overrides must be KEY VALUE pairs.")
    return ValueError(f"Override {opts[-1]!r} has no value. Overrides must be KEY VALUE "
                      f"pairs; got {opts}.")


def merge_opts(cfg: CfgNode, opts: List[str]) -> None:
    """Merge trailing `KEY VALUE` pairs, naming any unknown key and the closest valid ones.

    PySlowFast keys of features we lack pass at their PySlowFast default and are refused
    otherwise (config/pyslowfast.py).
    """
    if len(opts) % 2 != 0:
        raise _odd_overrides_error(opts)
    pairs = []
    for key, value in zip(opts[0::2], opts[1::2]):
        if key not in pyslowfast_only_defaults():
            pairs.append((key, value))
            continue
        problem = refusal(key, CfgNode._decode_cfg_value(value), "the command line overrides")
        if problem:
            raise ValueError(problem)
    for key, value in pairs:
        node, prefix = cfg, ""
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], CfgNode):
                raise _unknown_key_error(part, node, prefix, "the command line overrides")
            node, prefix = node[part], prefix + part + "."
        if parts[-1] not in node:
            raise _unknown_key_error(parts[-1], node, prefix, "the command line overrides")
        if isinstance(node[parts[-1]], str):
            # A text key takes the text as typed: a sha256 or a name made of digits would
            # otherwise be read as a number.
            node[parts[-1]] = value
        else:
            cfg.merge_from_list([key, value])


def load_config(args: argparse.Namespace, path_to_config: Optional[str] = None) -> CfgNode:
    """Build the config: defaults, then the YAML file, then the overrides, then the CLI flags.

    When neither the YAML file (with its `_BASE_` files) nor the overrides set OUTPUT_DIR, it
    becomes `output/<config name>` (`default_output_dir`): a relative path, so it lies under
    the working directory, as PySlowFast's relative paths do. Running from the repository
    root puts every run under its ignored `output/` folder, one folder per config
    (`output/Kinetics/X3D_XL_ATFR`). An OUTPUT_DIR set anywhere is kept as given.

    Args:
        args: the namespace of `parse_args` (uses `cfg_files`, `opts`, `num_shards` and
            `shard_id` when present).
        path_to_config: the YAML file; defaults to the first of `args.cfg_files`.
    """
    cfg = get_cfg()
    if path_to_config is None and getattr(args, "cfg_files", None):
        path_to_config = args.cfg_files[0]
    keys_set: Set[str] = set()
    if path_to_config:
        keys_set = merge_file(cfg, path_to_config)
    opts = getattr(args, "opts", None)
    if opts:
        merge_opts(cfg, opts)
        keys_set |= set(opts[0::2])
    if path_to_config and "OUTPUT_DIR" not in keys_set:
        cfg.OUTPUT_DIR = default_output_dir(path_to_config)
    if hasattr(args, "num_shards") and hasattr(args, "shard_id"):
        cfg.NUM_SHARDS = args.num_shards
        cfg.SHARD_ID = args.shard_id
    return cfg
