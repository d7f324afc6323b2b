"""components/container_images.py: the one place that names the component container_images."""
import pytest

from fcbench.components.stages import container_images

ENV = ("FCBENCH_IMAGE_REGISTRY", "FCBENCH_IMAGE_TAG", "FCBENCH_CODEC_IMAGE", "FCBENCH_GPU_IMAGE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)


def test_defaults_name_both_families_with_the_package_version():
    tag = container_images.default_tag()
    assert container_images.codec_image() == f"{container_images.DEFAULT_REGISTRY}/fcbench-codec:{tag}"
    assert container_images.gpu_image() == f"{container_images.DEFAULT_REGISTRY}/fcbench-gpu:{tag}"


def test_registry_and_tag_from_env(monkeypatch):
    monkeypatch.setenv("FCBENCH_IMAGE_REGISTRY", "registry.example.com:5000/team/")
    monkeypatch.setenv("FCBENCH_IMAGE_TAG", "v1.2.3")
    assert container_images.gpu_image() == "registry.example.com:5000/team/fcbench-gpu:v1.2.3"


def test_full_reference_with_digest_wins(monkeypatch):
    ref = "registry.example.com/fcbench-codec@sha256:" + "a" * 64
    monkeypatch.setenv("FCBENCH_CODEC_IMAGE", ref)
    monkeypatch.setenv("FCBENCH_IMAGE_TAG", "ignored")
    assert container_images.codec_image() == ref
    assert container_images.gpu_image().endswith("/fcbench-gpu:ignored")


@pytest.mark.parametrize("env,value", [("FCBENCH_IMAGE_TAG", "bad tag"), ("FCBENCH_GPU_IMAGE", "Not A Ref"),
                                       ("FCBENCH_IMAGE_REGISTRY", "UPPER/case")])
def test_invalid_settings_are_refused_naming_the_variable(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(container_images.ImageConfigError, match=env):
        container_images.gpu_image()


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown image family"):
        container_images.image("tpu")
