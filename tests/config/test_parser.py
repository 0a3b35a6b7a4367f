"""Tests of the command line parser and of config loading (files, _BASE_, overrides)."""

import pytest

from slowfast_atfr.config.parser import load_config, parse_args


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


def test_output_dir_defaults_to_output_slash_the_config_name(tmp_path):
    folder = tmp_path / "configs" / "Kinetics"
    folder.mkdir(parents=True)
    path = _write(folder / "X3D_XL_ATFR.yaml", "{}\n")
    assert load_config(parse_args(["--cfg", path]), path).OUTPUT_DIR == (
        "output/Kinetics/X3D_XL_ATFR")
    # Nested folders below configs/ stay in the name; outside configs/: folder and stem.
    (tmp_path / "configs" / "a" / "b").mkdir(parents=True)
    nested = _write(tmp_path / "configs" / "a" / "b" / "c.yaml", "{}\n")
    assert load_config(parse_args(["--cfg", nested]), nested).OUTPUT_DIR == "output/a/b/c"
    (tmp_path / "exp").mkdir()
    loose = _write(tmp_path / "exp" / "mine.yml", "{}\n")
    assert load_config(parse_args(["--cfg", loose]), loose).OUTPUT_DIR == "output/exp/mine"


def test_configs_of_the_same_stem_get_different_output_dirs(tmp_path):
    dirs = set()
    for folder in ("Kinetics", "Kinetics600"):
        (tmp_path / "configs" / folder).mkdir(parents=True)
        path = _write(tmp_path / "configs" / folder / "X3D_M.yaml", "{}\n")
        dirs.add(load_config(parse_args(["--cfg", path]), path).OUTPUT_DIR)
    assert dirs == {"output/Kinetics/X3D_M", "output/Kinetics600/X3D_M"}


def test_an_output_dir_set_in_the_yaml_its_base_or_the_command_line_is_kept(tmp_path):
    base = _write(tmp_path / "base.yaml", "OUTPUT_DIR: runs/base\n")
    child = _write(tmp_path / "child.yaml", "_BASE_: base.yaml\n")
    own = _write(tmp_path / "own.yaml", "OUTPUT_DIR: runs/own\n")
    plain = _write(tmp_path / "plain.yaml", "{}\n")
    assert load_config(parse_args(["--cfg", own]), own).OUTPUT_DIR == "runs/own"
    assert load_config(parse_args(["--cfg", child]), child).OUTPUT_DIR == "runs/base"
    assert load_config(parse_args(["--cfg", base, "OUTPUT_DIR", "x"]), base).OUTPUT_DIR == "x"
    # Set, even to the value of defaults.py: kept (what counts is that it is set).
    from slowfast_atfr.config.defaults import get_cfg

    default = get_cfg().OUTPUT_DIR
    assert load_config(parse_args(["--cfg", plain, "OUTPUT_DIR", default]),
                       plain).OUTPUT_DIR == default
