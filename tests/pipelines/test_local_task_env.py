"""The variables the kfp local runner's tasks get: one sweep worker and half the thread budget
each (two tasks at once; two side-by-side trainings with two threads each livelocked on 2 cores),
and what the shell sets wins."""
from fcbench.codecs.common import settings
from fcbench.pipelines.local import task_variables


def test_tasks_get_one_worker_and_their_share_of_the_threads(monkeypatch):
    from fcbench.codecs.common import cpus

    for name in ("FCBENCH_SWEEP_JOBS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for cores, each in ((2, "1"), (3, "1"), (8, "4")):
        monkeypatch.setattr(cpus, "available_cpus", lambda root=None, n=cores: n)
        assert {s.name: v for s, v in task_variables().items()} == {"FCBENCH_SWEEP_JOBS": "1", "OMP_NUM_THREADS": each}


def test_what_the_shell_sets_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("FCBENCH_SWEEP_JOBS", "2")
    assert task_variables() == {settings.SWEEP_JOBS: "2", settings.OMP_THREADS: "3"}
