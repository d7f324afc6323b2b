"""Progress of local runs: the task count of a compiled pipeline and the lines a run prints."""
from __future__ import annotations

import io
import json

import pytest

from fcbench.codecs.common import settings
from fcbench.components.stages.context import stage_context
from fcbench.pipelines.progress import Progress, expected_tasks


def test_the_full_pipeline_runs_its_tasks_once_per_loop_item():
    from fcbench.pipelines.deployment import DEFAULT
    from fcbench.pipelines.full import build_full

    full = build_full(DEFAULT.for_local())
    # open_tracking, resolve_codecs, extract x2, prepare_coding x2, evaluate, report: 8;
    # per (codec, QP) code_traditional; per lambda hyperprior_train + hyperprior_infer
    assert expected_tasks(full, {"codec-x-qp": 5, "lambdas": 3}) == 8 + 5 + 3 * 2
    assert expected_tasks(full, {"codec-x-qp": 1, "lambdas": 1}) == 11
    assert expected_tasks(full, {"codec-x-qp": 5}) is None  # a loop of unknown size


def test_a_pipeline_that_branches_has_no_known_total():
    from fcbench.pipelines.benchmark import benchmark_traditional

    assert expected_tasks(benchmark_traditional, {"codec-x-qp": 2}) is None  # extract or import: one runs


def test_progress_prints_a_line_per_finished_stage(tmp_path):
    log, out = tmp_path / "progress.jsonl", io.StringIO()
    with settings.environment({settings.PROGRESS_LOG: str(log)}), Progress(log, out, total=3, poll_s=0.05):
        with stage_context("extract", model="dinov2", task="cls"):
            pass
        with stage_context("code_traditional", codec="x265", rate_point=27):
            pass
        with pytest.raises(Exception, match="stage evaluate failed"):
            with stage_context("evaluate", codec="x265", rate_point=27):
                raise ValueError("boom")
    lines = out.getvalue().splitlines()
    assert [json.loads(x)["event"] for x in log.read_text().splitlines()] == ["start", "done"] * 2 + ["start", "failed"]
    assert "1/3 tasks done: extract" in lines[0] and lines[0].startswith("[ 0:00 CPU")
    assert "2/3 tasks done: code_traditional (x265, rate point 27)" in lines[1]
    assert "FAILED: evaluate (x265, rate point 27)" in lines[2]
    assert lines[-1].endswith("finished: 2/3 tasks done, 1 failed")
