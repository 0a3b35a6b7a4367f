"""projects/atfr/reproduce.py: which runs start from the trained baseline, the seeds and the
factor runs, the Kinetics-like miniature's B' per motion level and where the results go."""

import argparse
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def reproduce():
    path = os.path.join(ROOT, "projects", "atfr", "reproduce.py")
    spec = importlib.util.spec_from_file_location("atfr_reproduce", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(tmp_path, finetune_epochs):
    return argparse.Namespace(work_dir=str(tmp_path), epochs=12, opts=[],
                              finetune_epochs=finetune_epochs, dataset="motion", factors=None,
                              earlier_code=None, data_dir=str(tmp_path / "demo_data_test50"))


def _done(tmp_path):
    """Finished main runs; the initial baseline's folder has two checkpoints."""
    out = tmp_path / "baseline_initial"
    (out / "checkpoints").mkdir(parents=True)
    for epoch in (11, 12):
        (out / "checkpoints" / f"checkpoint_epoch_{epoch:05d}.pyth").touch()
    return {name: {"output_dir": str(out)} for name in ("baseline_initial", "baseline", "atfr")}


def _value(opts, key):
    """The last value given to `key` (later pairs override earlier ones)."""
    return [opts[i + 1] for i in range(0, len(opts), 2) if opts[i] == key][-1]


def test_finetuning_starts_every_other_training_from_the_initial_baseline(tmp_path, reproduce):
    args, done = _args(tmp_path, 30), _done(tmp_path)
    runs = {run.name: run for run in reproduce.main_runs(finetune=True)}
    assert list(runs) == ["baseline_initial", "baseline", "atfr"]
    last = os.path.join(done["baseline_initial"]["output_dir"], "checkpoints",
                        "checkpoint_epoch_00012.pyth")
    # The baseline compared with ATFR is trained on as long as the ATFR models.
    for run in (runs["baseline"], runs["atfr"],
                reproduce.Run("kernel_kronecker", ["ATFR.KERNEL", "kronecker"])):
        opts = reproduce.run_opts(run, args, done)
        assert _value(opts, "TRAIN.CHECKPOINT_FILE_PATH") == last
        assert _value(opts, "TRAIN.CHECKPOINT_EPOCH_RESET") == "True"
        assert _value(opts, "SOLVER.MAX_EPOCH") == "30"
    # The initial baseline and test-only runs are untouched.
    for run in (runs["baseline_initial"],
                reproduce.Run("bins_test_4", ["ATFR.NUM_BINS_TEST", "[4]"], weights_of="atfr")):
        opts = reproduce.run_opts(run, args, done)
        assert "TRAIN.CHECKPOINT_EPOCH_RESET" not in opts
        assert _value(opts, "SOLVER.MAX_EPOCH") == "12"


def test_without_finetuning_everything_trains_from_scratch(tmp_path, reproduce):
    runs = reproduce.main_runs(finetune=False)
    assert [run.name for run in runs] == ["baseline", "atfr"]
    opts = reproduce.run_opts(runs[1], _args(tmp_path, None), _done(tmp_path))
    assert "TRAIN.CHECKPOINT_FILE_PATH" not in opts
    assert _value(opts, "OUTPUT_DIR") == os.path.join(str(tmp_path), "atfr")


def test_every_run_saves_predictions_and_the_gap_gets_a_paired_interval(tmp_path, reproduce):
    import torch

    args, done = _args(tmp_path, None), _done(tmp_path)
    for run in reproduce.main_runs(finetune=False):
        opts = reproduce.run_opts(run, args, done)
        assert _value(opts, "TEST.SAVE_RESULTS_PATH") == reproduce.PREDICTIONS
        assert _value(opts, "DATA.PATH_TO_DATA_DIR") == args.data_dir
        assert opts[-2] == "OUTPUT_DIR"
    labels, ids = torch.tensor([0, 1, 1, 0]), torch.arange(4)
    runs = {}
    for name, predicted in (("baseline", [0, 1, 0, 1]), ("atfr", [0, 1, 1, 1])):
        out = tmp_path / name
        out.mkdir()
        probs = torch.nn.functional.one_hot(torch.tensor(predicted), 2).float()
        torch.save({"probs": probs, "labels": labels, "ids": ids},
                   out / reproduce.PREDICTIONS)
        runs[name] = {"output_dir": str(out)}
    interval = reproduce.top1_gap_interval(runs["baseline"], runs["atfr"])
    assert interval["gap"] == 25.0 and interval["low"] <= 25.0 <= interval["high"]
    assert reproduce.top1_gap_interval(runs["baseline"], {"output_dir": str(tmp_path)}) is None
    torch.save({"probs": probs, "labels": labels, "ids": ids + 1},
               tmp_path / "atfr" / reproduce.PREDICTIONS)
    with pytest.raises(ValueError, match="different"):
        reproduce.top1_gap_interval(runs["baseline"], runs["atfr"])


def test_config_snapshot_follows_the_base_chain(tmp_path, reproduce):
    config = os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR_BLOCK4.yaml")
    copy = reproduce.snapshot_config(config, str(tmp_path / "configs"))
    assert sorted(os.listdir(tmp_path / "configs")) == [
        "RESNET3D18.yaml", "RESNET3D18_ATFR.yaml", "RESNET3D18_ATFR_BLOCK4.yaml"]
    from slowfast_atfr.config.parser import load_config

    cfg = load_config(argparse.Namespace(opts=[]), copy)
    assert list(cfg.ATFR.BLOCK_LENGTH) == [4] and cfg.ATFR.ENABLED


def test_extra_seeds_get_their_own_runs_on_the_same_data(tmp_path, reproduce):
    args = _args(tmp_path, 30)
    args.test_videos_per_class = 50
    assert reproduce.data_dir(args) == args.data_dir
    repeat = reproduce.seed_args(args, 3)
    assert repeat.work_dir == str(tmp_path / "seed3") and repeat.data_dir == args.data_dir
    assert args.opts == [] and _value(repeat.opts, "RNG_SEED") == "3"
    opts = reproduce.run_opts(reproduce.main_runs(finetune=True)[0], repeat, {})
    assert _value(opts, "OUTPUT_DIR") == str(tmp_path / "seed3" / "baseline_initial")
    assert _value(opts, "DATA.PATH_TO_DATA_DIR") == args.data_dir


def test_seed_summary_averages_the_per_seed_checks(reproduce):
    def runs(base_top1, atfr_top1, static, fast):
        out = "/nonexistent"  # no saved predictions: no interval
        return {"baseline": {"top1": base_top1, "gflops": 2.0, "output_dir": out},
                "atfr": {"top1": atfr_top1, "gflops": 1.0, "output_dir": out,
                         "mean_bprime_by_class": {"static": [static], "fast_motion": [fast]}}}

    summary = reproduce.seed_summary({"main": runs(60.0, 62.0, 4.0, 5.0),
                                      "1": runs(70.0, 66.0, 6.0, 5.0)}, "motion")
    assert summary["per_seed"]["main"]["top1_gap_points"] == 2.0
    assert summary["per_seed"]["1"]["static_below_fast_motion"] is False
    assert (summary["per_seed"]["1"]["baseline_top1"], summary["per_seed"]["1"]["atfr_top1"]) \
        == (70.0, 66.0)
    assert summary["mean"] == {"top1_gap_points": -1.0, "gflops_reduction_pct": 50.0,
                               "static_mean_bprime": 5.0, "fast_motion_mean_bprime": 5.0,
                               "baseline_top1": 65.0, "atfr_top1": 64.0,
                               "top1_gap_ci95": None, "top1_within_1_point": True}
    tables = reproduce.summary_tables({
        "atfr_init": "from scratch", "baseline": {**runs(60.0, 62.0, 4.0, 5.0)["baseline"],
                                                  "top5": 90.0, "clips_per_s": 1.0,
                                                  "train_iter_s": 1.0, "params": 1,
                                                  "wall_s": 1.0},
        "atfr": {**runs(60.0, 62.0, 4.0, 5.0)["atfr"], "top5": 90.0, "clips_per_s": 1.0,
                 "train_iter_s": 1.0, "params": 1, "wall_s": 1.0},
        "targets": summary["per_seed"]["main"], "seeds": summary})
    assert "| 1 | 70.00 | 66.00 | -4.00 | 50.0% | 6.00 / 5.00 |" in tables
    assert "| mean | 65.00 | 64.00 | -1.00 | 50.0% | 5.00 / 5.00 |" in tables


def test_run_digest_ignores_the_atfr_group_of_a_baseline_only(reproduce):
    block4 = os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR_BLOCK4.yaml")
    default = os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR.yaml")
    baseline = ["ATFR.ENABLED", "False", "OUTPUT_DIR", "/tmp/x/baseline"]
    assert reproduce.run_digest(block4, baseline) == reproduce.run_digest(default, baseline)
    assert reproduce.run_digest(block4, []) != reproduce.run_digest(default, [])
    assert reproduce.run_digest(default, baseline) != reproduce.run_digest(
        default, baseline + ["RNG_SEED", "1"])


def test_a_finished_job_is_reused_only_with_the_same_digest(tmp_path, reproduce):
    out = str(tmp_path)
    assert reproduce.finished_result(out, "abc") is None
    reproduce.record_result(out, "abc", ["RNG_SEED", "1"], {"top1": 50.0})
    assert reproduce.finished_result(out, "abc") == {"top1": 50.0}
    assert reproduce.finished_result(out, "abd") is None


@pytest.mark.parametrize("ablation", ["measure", "kernel", "embed_dim", "placement",
                                      "bins_train", "bins_test", "frames"])
def test_every_ablation_setting_has_a_paper_row_and_a_valid_config(ablation, reproduce):
    from slowfast_atfr.config.defaults import assert_and_infer_cfg
    from slowfast_atfr.config.parser import load_config

    assert set(reproduce.ABLATIONS) == set(reproduce.PAPER)
    config = os.path.join(reproduce.ROOT, "configs", "Demo", "RESNET3D18_ATFR.yaml")
    settings = reproduce.ablation_settings(ablation, 16, 2)
    # Each faces the paper's table (the frames ablation's baseline rows have no paper row).
    assert {key for _, _, key in settings} >= set(reproduce.PAPER[ablation])
    for _, run, _ in settings:
        if isinstance(run, reproduce.Run):
            assert_and_infer_cfg(load_config(argparse.Namespace(opts=run.overrides), config))


def _parse(reproduce, monkeypatch, *argv):
    import sys

    monkeypatch.setattr(sys, "argv", ["reproduce.py", *argv])
    return reproduce.parse_args()


def test_results_go_to_the_work_dir_unless_asked_to_update_the_repository(tmp_path, reproduce,
                                                                          monkeypatch):
    repo_results = os.path.join(ROOT, "projects", "atfr", "results")
    work = str(tmp_path / "work")
    args = _parse(reproduce, monkeypatch, "--work-dir", work)
    assert args.results == os.path.join(work, "results")
    # The copied config, the data set and every run folder lie in the work dir too.
    assert args.config.startswith(work) and args.data_dir.startswith(work)
    args = _parse(reproduce, monkeypatch, "--work-dir", work, "--update-results")
    assert os.path.samefile(args.results, repo_results)
    mine = str(tmp_path / "mine")
    assert _parse(reproduce, monkeypatch, "--work-dir", work, "--results", mine).results == mine
    with pytest.raises(SystemExit):
        _parse(reproduce, monkeypatch, "--work-dir", work, "--results", mine,
               "--update-results")


def test_write_outputs_fills_the_work_dir_and_leaves_the_repository_alone(tmp_path, reproduce,
                                                                          monkeypatch):
    repo_results = os.path.join(ROOT, "projects", "atfr", "results")
    before = {p: os.path.getmtime(os.path.join(d, p)) for d, _, files in os.walk(repo_results)
              for p in files}
    args = _parse(reproduce, monkeypatch, "--work-dir", str(tmp_path / "work"))
    # Checked first: should it fail, nothing below overwrites the repository's results.
    assert args.results.startswith(str(tmp_path))
    run = {"top1": 50.0, "top5": 90.0, "gflops": 1.0, "clips_per_s": 1.0, "train_iter_s": 1.0,
           "params": 1, "wall_s": 1.0, "output_dir": "/nonexistent"}
    summary = {"command": "reproduce.py", "atfr_init": "from scratch", "baseline": dict(run),
               "atfr": dict(run)}
    reproduce.write_outputs(summary, args, start=0.0)
    assert {"summary.json", "tables.md"} <= set(os.listdir(tmp_path / "work" / "results"))
    after = {p: os.path.getmtime(os.path.join(d, p)) for d, _, files in os.walk(repo_results)
             for p in files}
    assert after == before


def test_the_runs_planned_give_the_progress_its_total(tmp_path, reproduce):
    args = _args(tmp_path, finetune_epochs=0)
    args.extra_seeds, args.config = [1, 2], reproduce.CONFIG
    main_only = reproduce.planned_runs(args, False, [])
    assert main_only == 2 * 3  # baseline and atfr, for the main seed and two more
    args.factors = ["input_grad", "before_relu"]
    assert reproduce.planned_runs(args, False, []) == main_only + 2 * 3
    args.factors = None
    ablations = reproduce.planned_runs(args, False, ["measure"])
    settings = reproduce.ablation_settings("measure", *reproduce.clip_geometry(args))
    assert ablations - main_only == sum(isinstance(r, reproduce.Run) for _, r, _ in settings) > 0


def _save_predictions(folder, correct, bprime=None):
    """A run folder whose saved predictions are right on the videos where `correct` is True."""
    import torch

    os.makedirs(folder, exist_ok=True)
    labels = torch.zeros(len(correct), dtype=torch.long)
    probs = torch.tensor([[0.9, 0.1] if ok else [0.1, 0.9] for ok in correct])
    preds = {"probs": probs, "labels": labels, "ids": torch.arange(len(correct))}
    if bprime is not None:
        preds["bprime"] = torch.tensor(bprime, dtype=torch.float32).unsqueeze(1)
    torch.save(preds, os.path.join(folder, "video_predictions.pyth"))
    return {"output_dir": str(folder), "top1": 100.0 * sum(correct) / len(correct),
            "gflops": 1.0, "atfr": bprime is not None}


def test_the_mean_over_seeds_gets_one_paired_interval_over_every_seed_and_video(tmp_path,
                                                                                reproduce):
    from slowfast_atfr.evaluation.metrics import paired_top1_gap

    seeds = {"main": ([1, 1, 0, 1], [1, 0, 0, 1]), "1": ([1, 1, 1, 0], [1, 1, 1, 1])}
    pairs = [(_save_predictions(tmp_path / s / "b", base), _save_predictions(tmp_path / s / "a",
                                                                            atfr))
             for s, (base, atfr) in seeds.items()]
    pooled = reproduce.pooled_top1_gap_interval(pairs)
    gaps = [reproduce.top1_gap_interval(b, a)["gap"] for b, a in pairs]
    assert gaps == [-25.0, 25.0] and pooled["gap"] == sum(gaps) / 2 == 0.0
    assert pooled["videos"] == 4 and pooled["pairs"] == 2 and pooled["resolution"] == 12.5
    # Per video, the mean over the seeds: 0, -50, +50, 0 points.
    assert pooled["low"] < 0 < pooled["high"]
    import torch

    probs = [torch.stack([torch.tensor([[0.9, 0.1] if ok else [0.1, 0.9] for ok in runs])
                          for runs in side]) for side in zip(*seeds.values())]
    assert pooled == paired_top1_gap(probs[0], probs[1], torch.zeros(4, dtype=torch.long))
    assert reproduce.pooled_top1_gap_interval(pairs + [({"output_dir": "/none"}, pairs[0][1])]
                                              ) is None


def _kinetics_like_folder(tmp_path):
    """A Kinetics-like data folder's lists and motion levels: 5 test videos, one per level."""
    folder = tmp_path / "data"
    folder.mkdir()
    levels = ["static", "slow", "fast", "shaky", "cut"]
    paths = [f"videos/test/a/a_{i:03d}.mp4" for i in range(5)] + ["videos/test/b/b_000.mp4"]
    (folder / "test.csv").write_text("".join(f"{p} 0\n" for p in paths))
    (folder / "motion_levels.json").write_text(json.dumps(
        {p: level for p, level in zip(paths, levels + ["static"])}))
    return folder


def test_kinetics_like_runs_report_bprime_per_motion_level_and_its_order(tmp_path, reproduce):
    folder = _kinetics_like_folder(tmp_path)
    atfr = _save_predictions(tmp_path / "atfr", [1, 1, 0, 1, 1, 1], [2, 3, 6, 5, 7, 4])
    by_level = reproduce.by_motion_level(atfr, str(folder))
    by_motion = by_level["mean_bprime_by_motion"]
    assert by_motion == {"static": [3.0], "slow": [3.0], "fast": [6.0], "shaky": [5.0],
                         "cut": [7.0]}
    assert by_level["top1_by_motion"] == {"static": 100.0, "slow": 100.0, "fast": 0.0,
                                          "shaky": 100.0, "cut": 100.0}
    # A baseline (no ATFR) has a top-1 per level but no B'; a run without predictions nothing.
    base = _save_predictions(tmp_path / "base", [1, 1, 1, 1, 1, 0])
    assert reproduce.by_motion_level(base, str(folder)) == {"top1_by_motion": {
        "static": 50.0, "slow": 100.0, "fast": 100.0, "shaky": 100.0, "cut": 100.0}}
    assert reproduce.by_motion_level({"output_dir": str(tmp_path)}, str(folder)) == {}
    checks = reproduce.targets({"baseline": {**base, "gflops": 2.0},
                                "atfr": {**atfr, "mean_bprime_by_motion": by_motion}},
                               "kinetics_like")
    assert checks["static_mean_bprime"] == 3.0 and checks["fast_motion_mean_bprime"] == 6.0
    assert checks["bprime_order"] == ["static", "slow", "fast"]
    assert checks["bprime_ordered"] is False  # static 3.0 is not below slow 3.0
    assert checks["gflops_reduction_pct"] == 50.0
    # The motion demo has no ordered levels: its checks keep their keys.
    assert "bprime_ordered" not in reproduce.targets(
        {"baseline": {**base, "gflops": 2.0}, "atfr": atfr}, "motion")


def test_kinetics_like_results_are_an_entry_of_the_same_summary(tmp_path, reproduce,
                                                                 monkeypatch):
    work = str(tmp_path / "work")
    args = _parse(reproduce, monkeypatch, "--work-dir", work, "--dataset", "kinetics_like")
    assert os.path.basename(args.config) == "KINETICS_LIKE_RESNET3D18_ATFR.yaml"
    assert args.data_dir == os.path.join(work, "kinetics_like_data_test30")
    run = {"top1": 50.0, "top5": 90.0, "gflops": 1.0, "clips_per_s": 1.0, "train_iter_s": 1.0,
           "params": 1, "wall_s": 1.0, "output_dir": "/nonexistent"}
    summary = {"command": "reproduce.py", "atfr_init": "from scratch", "baseline": dict(run),
               "atfr": {**run, "mean_bprime_by_motion": {"static": [2.0], "fast": [5.0]}},
               "dataset": "kinetics_like"}
    reproduce.write_outputs(summary, args, start=0.0)
    results = os.path.join(work, "results")
    assert os.path.isfile(os.path.join(results, "tables_kinetics_like.md"))
    tables = open(os.path.join(results, "tables_kinetics_like.md")).read()
    assert "| static | 2.00 | - | - |" in tables and "static 2.00 vs. fast 5.00" in tables
    # With seeds, the per-level table adds their means.
    seeds = {"per_seed": {}, "mean": {"top1_gap_points": -1.0, "gflops_reduction_pct": 50.0,
                                      "static_mean_bprime": 3.0, "fast_motion_mean_bprime": 6.0,
                                      "mean_bprime_by_motion": {"static": [3.0], "fast": [6.0]},
                                      "top1_by_motion": {"baseline": {"static": 80.0},
                                                         "atfr": {"static": 70.0}}}}
    tables = reproduce.summary_tables({**summary, "targets": reproduce.targets(
        summary, "kinetics_like"), "seeds": seeds})
    assert "| static | 2.00 | - | - | 3.00 | 80.00 | 70.00 |" in tables
    assert "| fast | 5.00 | - | - | 6.00 | - | - |" in tables
    # The motion data set's summary is written next, and keeps the kinetics_like entry.
    motion = _parse(reproduce, monkeypatch, "--work-dir", work)
    reproduce.write_outputs({**summary, "dataset": "motion"}, motion, start=0.0)
    with open(os.path.join(results, "summary.json")) as f:
        written = json.load(f)
    assert written["dataset"] == "motion" and written["kinetics_like"]["dataset"] == (
        "kinetics_like")
    assert written["kinetics_like"]["targets"]["fast_motion_mean_bprime"] == 5.0
    assert os.path.isfile(os.path.join(results, "plots", "kinetics_like",
                                       "atfr_bprime_by_motion.png"))


def test_every_factor_is_one_valid_change_of_the_reference_run(tmp_path, reproduce, monkeypatch):
    from slowfast_atfr.config.defaults import assert_and_infer_cfg
    from slowfast_atfr.config.parser import load_config

    settings = reproduce.factor_settings(16, None)
    assert settings[0][1] == "atfr"
    for _, run in settings[1:]:
        cfg = assert_and_infer_cfg(load_config(argparse.Namespace(opts=run.overrides),
                                               reproduce.CONFIG))
        assert cfg.ATFR.ENABLED and len(run.overrides) in (2, 4)
    assert len(settings) == 1 + len(reproduce.FACTORS)
    # A chosen few, in the table's order; an earlier checkout adds the reference run trained
    # by its code.
    chosen = reproduce.factor_settings(16, ROOT, ["bins_train", "input_grad"])
    assert [r.name for _, r in chosen[1:3]] == ["factor_input_grad", "factor_bins_train_8"]
    earlier = chosen[-1][1]
    assert len(chosen) == 4 and earlier.code == ROOT and earlier.overrides == []
    with pytest.raises(SystemExit):  # --earlier-code belongs to the factor table
        _parse(reproduce, monkeypatch, "--work-dir", str(tmp_path), "--earlier-code", ROOT)
    with pytest.raises(SystemExit):  # not a checkout
        _parse(reproduce, monkeypatch, "--work-dir", str(tmp_path), "--factors",
               "--earlier-code", str(tmp_path))


def test_factor_runs_are_compared_with_their_own_seed_baseline_and_reference(tmp_path, reproduce,
                                                                             monkeypatch):
    # Every factor run is right on the first 3 of 4 videos; each seed's baseline and reference
    # on other videos, so each seed's differences are known.
    runs_by_seed = {}
    for seed, base, ref in (("main", [1, 1, 1, 1], [1, 1, 0, 0]), ("1", [0, 0, 0, 0],
                                                                    [1, 1, 1, 1])):
        runs_by_seed[seed] = {"baseline": _save_predictions(tmp_path / seed / "b", base),
                              "atfr": _save_predictions(tmp_path / seed / "a", ref, [4] * 4)}
    executed = []

    def fake_execute(run, args, done):
        executed.append((run.name, args.work_dir))
        run = _save_predictions(os.path.join(args.work_dir, run.name), [1, 1, 1, 0], [3] * 4)
        return {**run, "mean_bprime": [3.0]}

    monkeypatch.setattr(reproduce, "execute", fake_execute)
    args = _args(tmp_path, None)
    args.config, args.factors = reproduce.CONFIG, []  # --factors alone: all of them
    entry = reproduce.run_factors(args, runs_by_seed)
    names = [r.name for _, r in reproduce.factor_settings(16, None)[1:]]
    assert executed == [(n, w) for n in names for w in (str(tmp_path), str(tmp_path / "seed1"))]
    rows = list(entry["settings"].values())
    reference, factor = rows[0], rows[1]
    assert reference["mean"]["gap_vs_reference"]["gap"] == 0.0
    assert reference["per_seed"]["main"]["gap_vs_baseline"]["gap"] == -50.0
    assert factor["per_seed"]["main"]["gap_vs_baseline"]["gap"] == -25.0
    assert factor["per_seed"]["1"]["gap_vs_baseline"]["gap"] == 75.0
    assert factor["per_seed"]["1"]["gap_vs_reference"]["gap"] == -25.0
    assert factor["mean"]["gap_vs_baseline"]["gap"] == 25.0
    assert factor["mean"]["top1"] == 75.0 and factor["mean"]["mean_bprime"] == 3.0
    tables = "\n".join(reproduce.factor_tables(entry))
    assert "| 75.00 | 25.00 [" in tables and "main: -25.00, 1: 75.00 |" in tables
