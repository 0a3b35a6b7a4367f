"""Reading a run folder: json_stats lines, atfr_stats json and config.yaml."""

import json

import pytest

from slowfast_atfr.visualization import run_outputs


def _write_run(folder, atfr=True, with_test=True):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"_type": "train_epoch", "epoch": "1/2", "top1_acc": 40.0},
             {"_type": "val_epoch", "epoch": "1/2", "top1_acc": 55.0, "top5_acc": 90.0}]
    if with_test:
        lines.append({"split": "test_final", "top1_acc": 62.5, "top5_acc": 100.0})
    (folder / "json_stats.log").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "config.yaml").write_text(f"ATFR:\n  ENABLED: {atfr}\nOUTPUT_DIR: x\n")
    if atfr:
        stats = {"mean_gflops": 1.0, "baseline_gflops": 2.0, "mean_bprime": [3.0],
                 "bprime_histogram": {"pathway0": {"3": 4}},
                 "mean_bprime_by_class": {"static": [2.0], "fast_motion": [4.0]}}
        (folder / "atfr_stats_test.json").write_text(json.dumps(stats))
    return folder


def test_read_json_stats_from_plain_and_text_logs(tmp_path):
    plain = tmp_path / "json_stats.log"
    plain.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    assert run_outputs.read_json_stats(str(plain)) == [{"a": 1}, {"b": 2}]
    text = tmp_path / "stdout.log"
    text.write_text('[11/25 08:00:00][INFO] x:1: json_stats: {"split": "test_final", '
                    '"top1_acc": 12.5}\n[INFO] other line\n')
    records = run_outputs.read_json_stats(str(text))
    assert records == [{"split": "test_final", "top1_acc": 12.5}]
    with pytest.raises(FileNotFoundError, match="nothere"):
        run_outputs.read_json_stats(str(tmp_path / "nothere.log"))


def test_load_run_atfr(tmp_path):
    run = run_outputs.load_run(str(_write_run(tmp_path / "atfr_run")))
    assert run["name"] == "atfr_run" and run["atfr"] is True
    assert run["top1"] == 62.5 and run["top5"] == 100.0
    assert run["gflops"] == 1.0 and run["baseline_gflops"] == 2.0
    assert run["mean_bprime_by_class"]["static"] == [2.0]


def test_load_run_baseline_reads_gflops_from_the_final_record(tmp_path):
    folder = _write_run(tmp_path / "base", atfr=False, with_test=False)
    with open(folder / "json_stats.log", "a") as f:
        f.write(json.dumps({"split": "test_final", "top1_acc": 50.0, "gflops": 2.5}) + "\n")
    run = run_outputs.load_run(str(folder))
    assert run["atfr"] is False and run["top1"] == 50.0 and run["gflops"] == 2.5


def test_load_run_baseline_falls_back_to_val(tmp_path):
    run = run_outputs.load_run(str(_write_run(tmp_path / "b", atfr=False, with_test=False)),
                               name="R18")
    assert run["name"] == "R18" and run["atfr"] is False
    assert run["top1"] == 55.0 and run["gflops"] is None and run["bprime_histogram"] is None


def test_load_run_takes_gflops_from_the_test_record(tmp_path):
    folder = _write_run(tmp_path / "b", atfr=False)
    with open(folder / "json_stats.log", "a") as f:
        f.write(json.dumps({"split": "test_final", "top1_acc": 70.0, "gflops": 2.5}) + "\n")
    run = run_outputs.load_run(str(folder))
    assert run["top1"] == 70.0 and run["gflops"] == 2.5


def test_load_run_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        run_outputs.load_run(str(tmp_path / "missing"))


def test_load_run_of_a_folder_without_results_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no run results.*OUTPUT_DIR"):
        run_outputs.load_run(str(tmp_path / "empty"))
