"""The cheaper container-spec check behaves as kfp's own."""
import pytest
from kfp import dsl
from kfp.dsl.pipeline_task import PipelineTask

from fcbench.pipelines import kfp_speedup


def test_installed_check_is_ours_and_names_the_caller():
    kfp_speedup.install()
    assert PipelineTask._ensure_container_spec_exists is kfp_speedup._ensure_container_spec_exists

    @dsl.component
    def step() -> int:
        return 1

    @dsl.pipeline
    def inner() -> int:
        return step().output

    @dsl.pipeline
    def outer():
        task = step()
        task.set_cpu_limit("1")  # a single-step component: accepted
        with pytest.raises(ValueError, match="^set_cpu_limit can only be used on single-step components"):
            inner().set_cpu_limit("1")  # a pipeline used as a component: refused, caller named

    assert outer.pipeline_spec is not None
