"""Sweep workers follow the cgroup CPU limit (a pod's limit), not the node's cores."""
from fcbench.codecs.common.cpus import available_cpus, cgroup_cpu_limit


def test_cgroup_v2_limit(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    assert available_cpus(tmp_path) == min(2, available_cpus(tmp_path / "none"))


def test_cgroup_v2_unlimited_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_limit(v1) == 1.0 and available_cpus(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_cpu_limit(v1) is None


def test_unreadable_is_unlimited(tmp_path):
    (tmp_path / "cpu.max").write_text("garbage")
    assert cgroup_cpu_limit(tmp_path) is None and available_cpus(tmp_path) >= 1


def test_one_thread_policy_keeps_jobs_times_threads_within_the_budget(monkeypatch):
    from fcbench.codecs.common import cpus, settings

    monkeypatch.setattr(cpus, "available_cpus", lambda root=None: 8)
    with settings.environment({settings.OMP_THREADS: None}):
        assert cpus.thread_budget() == 8
        assert [cpus.threads_per_job(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
        share = cpus.ThreadShare.of(2)
        assert share.as_dict() == {"jobs": 2, "threads_per_job": 4, "budget": 8}
        assert "2 jobs at once x 4 threads each" in share.describe()
    with settings.environment({settings.OMP_THREADS: "2"}):  # the local runner's / a pod's budget
        assert cpus.thread_budget() == 2 and cpus.threads_per_job(2) == 1 and cpus.threads_per_job(1) == 2


def test_a_sweep_records_how_it_shared_the_threads(tmp_path):
    """Workers get their share explicitly (a forkserver keeps the environment it started with),
    and results.json records it beside the timings."""
    import json

    import numpy as np

    from fcbench.codecs import FeatureSet
    from fcbench.codecs.common import settings
    from fcbench.codecs.sweeps.run import run_sweep

    fs = FeatureSet.create(tmp_path / "f", "synthetic", "t", "none")
    for i in range(3):
        fs.write(f"s{i}", np.random.default_rng(i).normal(0, 1, (1, 1, 16, 32)).astype(np.float32))
    with settings.environment({settings.OMP_THREADS: "2"}):
        result = run_sweep(fs, "bypass", {}, [0], {"low": -3, "high": 3}, tmp_path / "out", jobs=2, progress=False)
    assert result.threads.as_dict() == {"jobs": 2, "threads_per_job": 1, "budget": 2}
    assert json.loads((tmp_path / "out" / "results.json").read_text())["threads"] == result.threads.as_dict()


def test_a_job_share_limits_the_blas_pools_too():
    """numpy's BLAS pool reads OMP_NUM_THREADS only when it loads: the policy sets it itself while
    a job runs, and gives it back afterwards; the klt codec runs on one BLAS thread."""
    import numpy as np
    from threadpoolctl import threadpool_info

    from fcbench.codecs.common import cpus

    np.ones((4, 4)) @ np.ones((4, 4))  # the pool is loaded

    def blas() -> set:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with cpus.blas_threads(2):  # what a 2-CPU machine starts with
        before = blas()
        assert before
        with cpus.threads(1):
            assert blas() == {1}
        assert blas() == before
        with cpus.blas_threads(1):
            assert blas() == {1}
        assert blas() == before
