"""Figures of run folders and of a reproduce summary land in one folder."""

import json
import os

import pytest

from slowfast_atfr.visualization import report


def _run(folder, atfr, top1, gflops=None):
    folder.mkdir(parents=True)
    (folder / "json_stats.log").write_text(json.dumps({"split": "test_final",
                                                       "top1_acc": top1}) + "\n")
    (folder / "config.yaml").write_text(f"ATFR:\n  ENABLED: {atfr}\n")
    if atfr:
        (folder / "atfr_stats_test.json").write_text(json.dumps({
            "mean_gflops": gflops, "baseline_gflops": 2.0,
            "bprime_histogram": {"pathway0": {"2": 3, "4": 1}},
            "mean_bprime_by_class": {"static": [2.0], "fast_motion": [4.0]}}))
    return str(folder)


def test_plot_runs(tmp_path):
    atfr = _run(tmp_path / "atfr", True, 60.0, 1.1)
    base = _run(tmp_path / "base", False, 61.0)
    out = tmp_path / "plots"
    paths = report.plot_runs([atfr, base], str(out))
    names = sorted(os.path.basename(p) for p in paths)
    # The baseline has no GFLOPs, so Fig. 4 holds the ATFR run alone.
    assert names == ["accuracy_vs_gflops.png", "atfr_bprime_by_class.png",
                     "atfr_bprime_histogram.png"]
    (tmp_path / "base" / "benchmark.json").write_text(json.dumps(
        {"baseline": {"gflops": 2.0}, "atfr": {"gflops": 1.0}}))
    runs = [report._with_benchmark_gflops({"atfr": False, "gflops": None}, base)]
    assert runs[0]["gflops"] == 2.0
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_plot_run_draws_both_figures_per_pathway(tmp_path):
    run = {"name": "sf", "full_lengths": [4, 16],
           "bprime_histogram": {"pathway0": {"2": 3, "4": 1}, "pathway1": {"5": 2, "16": 1}},
           "mean_bprime_by_class": {"static": [2.0, 5.0], "fast_motion": [4.0, 16.0]}}
    paths = report.plot_run(run, str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == [
        "sf_bprime_by_class.png", "sf_bprime_by_class_pathway1.png",
        "sf_bprime_histogram.png", "sf_bprime_histogram_pathway1.png"]


def test_summary_runs_and_plot(tmp_path):
    summary = {
        "baseline": {"top1": 61.0, "gflops": 2.0, "clips_per_s": 10.0, "atfr": False},
        "atfr": {"top1": 60.5, "gflops": 1.0, "clips_per_s": 14.0, "atfr": True,
                 "bprime_histogram": {"pathway0": {"1": 2, "3": 5}},
                 "mean_bprime_by_class": {"static": [1.2], "fast_motion": [3.5]}},
        "mean_bprime_by_class": {"static": [1.2], "fast_motion": [3.5]},
        "kernel": {"table": "Table 2", "runs": {"kronecker": {"top1": 59.0, "gflops": 1.1,
                                                              "atfr": True, "name": "k"}}},
    }
    summary["atfr"]["output_dir"] = "/runs/atfr"
    summary["kernel"]["runs"]["linear"] = summary["atfr"]
    names = [r["name"] for r in report.summary_runs(summary)]
    assert names == ["baseline", "atfr", "kernel=kronecker"]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    paths = report.plot_summary(str(path), str(tmp_path / "p"))
    assert sorted(os.path.basename(p) for p in paths) == [
        "accuracy_vs_gflops.png", "atfr_bprime_by_class.png", "atfr_bprime_histogram.png"]
    with pytest.raises(FileNotFoundError, match="nothere"):
        report.plot_summary(str(tmp_path / "nothere.json"), str(tmp_path))
