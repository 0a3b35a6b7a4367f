"""Tests of the command line parser and of config loading (files, _BASE_, overrides)."""

import pytest

from slowfast_atfr.utils.parser import load_config, parse_args


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_parse_args_defaults():
    args = parse_args([])
    assert (args.shard_id, args.num_shards, args.opts) == (0, 1, [])
    assert len(args.cfg_files) == 1 and args.cfg_files[0].endswith(".yaml")


def test_parse_args_accepts_several_cfg_files_and_overrides():
    args = parse_args(["--cfg", "a.yaml", "b.yml", "SOLVER.BASE_LR", "0.5", "NUM_GPUS", "0"])
    assert args.cfg_files == ["a.yaml", "b.yml"]
    assert args.opts == ["SOLVER.BASE_LR", "0.5", "NUM_GPUS", "0"]
    args = parse_args(["--num_shards", "2", "--shard_id", "1", "--cfg", "a.yaml"])
    assert (args.num_shards, args.shard_id, args.cfg_files, args.opts) == (2, 1, ["a.yaml"], [])


def test_overrides_right_after_cfg_need_a_file():
    with pytest.raises(ValueError, match="no config file"):
        parse_args(["--cfg", "SOLVER.BASE_LR", "0.5"])


def test_load_config_one_file_per_call(tmp_path):
    a = _write(tmp_path / "a.yaml", "SOLVER:\n  BASE_LR: 0.25\n")
    b = _write(tmp_path / "b.yaml", "TRAIN:\n  BATCH_SIZE: 4\n")
    args = parse_args(["--cfg", a, b, "NUM_GPUS", "0"])
    cfgs = [load_config(args, path) for path in args.cfg_files]  # as PySlowFast's run_net
    assert cfgs[0].SOLVER.BASE_LR == 0.25 and cfgs[0].TRAIN.BATCH_SIZE == 64
    assert cfgs[1].TRAIN.BATCH_SIZE == 4 and cfgs[1].SOLVER.BASE_LR == 0.1
    assert all(cfg.NUM_GPUS == 0 for cfg in cfgs)
    assert load_config(args).SOLVER.BASE_LR == 0.25  # default: the first file


def test_overrides_win_over_the_file_and_keep_types(tmp_path):
    path = _write(tmp_path / "a.yaml", "SOLVER:\n  BASE_LR: 0.25\nATFR:\n  ENABLED: True\n")
    args = parse_args(
        ["--cfg", path, "SOLVER.BASE_LR", "0.5", "ATFR.NUM_BINS_TRAIN", "[16, 8]",
         "ATFR.KERNEL", "kronecker"]
    )
    cfg = load_config(args, path)
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.ATFR.ENABLED
    assert list(cfg.ATFR.NUM_BINS_TRAIN) == [16, 8] and cfg.ATFR.KERNEL == "kronecker"


def test_shard_flags_reach_the_config(tmp_path):
    path = _write(tmp_path / "a.yaml", "{}\n")
    cfg = load_config(parse_args(["--cfg", path, "--num_shards", "4", "--shard_id", "2"]), path)
    assert (cfg.NUM_SHARDS, cfg.SHARD_ID) == (4, 2)


def test_unknown_key_in_yaml_names_key_file_and_closest(tmp_path):
    path = _write(tmp_path / "bad.yaml", "SOLVER:\n  BASE_RL: 0.1\n")
    with pytest.raises(KeyError) as info:
        load_config(parse_args(["--cfg", path]), path)
    message = str(info.value)
    assert "'SOLVER.BASE_RL'" in message and path in message and "SOLVER.BASE_LR" in message


def test_unknown_group_in_yaml(tmp_path):
    path = _write(tmp_path / "bad.yaml", "ATFRR:\n  ENABLED: True\n")
    with pytest.raises(KeyError, match="'ATFRR'.*Did you mean: ATFR"):
        load_config(parse_args(["--cfg", path]), path)


def test_unknown_key_in_override_names_key_and_closest(tmp_path):
    path = _write(tmp_path / "a.yaml", "{}\n")
    with pytest.raises(KeyError) as info:
        load_config(parse_args(["--cfg", path, "SOLVER.BASE_RL", "0.1"]), path)
    message = str(info.value)
    assert "'SOLVER.BASE_RL'" in message and "SOLVER.BASE_LR" in message
    assert "command line" in message
    with pytest.raises(KeyError, match="'SOLVR'.*SOLVER"):
        load_config(parse_args(["--cfg", path, "SOLVR.BASE_LR", "0.1"]), path)
    with pytest.raises(KeyError, match="'ATFR.KERNELS'.*ATFR.KERNEL"):
        load_config(parse_args(["--cfg", path, "ATFR.KERNELS", "linear"]), path)


def test_odd_override_list_names_the_key_without_value(tmp_path):
    path = _write(tmp_path / "a.yaml", "{}\n")
    with pytest.raises(ValueError, match="'SOLVER.BASE_LR' has no value.*KEY VALUE pairs"):
        load_config(parse_args(["--cfg", path, "SOLVER.BASE_LR"]), path)
    odd = ["SOLVER.MAX_EPOCH", "TRAIN.BATCH_SIZE", "2"]  # the epoch count was forgotten
    with pytest.raises(ValueError, match="'SOLVER.MAX_EPOCH' has no value.*'TRAIN.BATCH_SIZE'"):
        load_config(parse_args(["--cfg", path, *odd]), path)


def test_group_given_a_value(tmp_path):
    path = _write(tmp_path / "a.yaml", "SOLVER: 0.1\n")
    with pytest.raises(ValueError, match="'SOLVER'.*is a group"):
        load_config(parse_args(["--cfg", path]), path)


def test_missing_file_is_named(tmp_path):
    path = str(tmp_path / "missing.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(parse_args(["--cfg", path]), path)


def test_base_inheritance(tmp_path):
    (tmp_path / "sub").mkdir()
    base = "SOLVER:\n  BASE_LR: 0.3\n  MAX_EPOCH: 7\nATFR:\n  EMBED_DIM: 4\n"
    _write(tmp_path / "base.yaml", base)
    child = _write(
        tmp_path / "sub" / "child.yaml", "_BASE_: ../base.yaml\nSOLVER:\n  BASE_LR: 0.2\n"
    )
    cfg = load_config(parse_args(["--cfg", child]), child)
    assert cfg.SOLVER.BASE_LR == 0.2  # the child wins
    assert cfg.SOLVER.MAX_EPOCH == 7 and cfg.ATFR.EMBED_DIM == 4  # inherited


def test_missing_base_file_names_the_file_that_refers_to_it(tmp_path):
    child = _write(tmp_path / "child.yaml", "_BASE_: nothere.yaml\n")
    with pytest.raises(FileNotFoundError, match=r"nothere\.yaml \(the _BASE_ of .*child\.yaml\)"):
        load_config(parse_args(["--cfg", child]), child)


def test_unknown_key_in_a_base_file_names_the_base(tmp_path):
    base = _write(tmp_path / "base.yaml", "TRAIN:\n  BATCH_SIZ: 4\n")
    child = _write(tmp_path / "child.yaml", "_BASE_: base.yaml\n")
    with pytest.raises(KeyError) as info:
        load_config(parse_args(["--cfg", child]), child)
    message = str(info.value)
    assert "'TRAIN.BATCH_SIZ'" in message and base in message and "TRAIN.BATCH_SIZE" in message
