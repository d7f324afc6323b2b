"""Tiny random-weight Llama-3 and SD3 machines (stock architectures, built from configs) and
their extracted feature sets, shared by the tests of this folder."""
from pathlib import Path

import pytest

from fcbench.machines import get_machine
from tests.paths import FIXTURES

TOKENIZER_DIR = FIXTURES / "tokenizer"


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    assert (TOKENIZER_DIR / "llama" / "tokenizer.json").is_file(), f"tokenizer fixture missing in {TOKENIZER_DIR}"
    return TOKENIZER_DIR


@pytest.fixture(scope="session")
def llama_assets(tmp_path_factory, tokenizer_dir) -> dict:
    from fcbench.machines.llama3 import make_tiny_assets

    return make_tiny_assets(tmp_path_factory.mktemp("llama"), n_questions=4, seed=0, tokenizer_dir=tokenizer_dir)


@pytest.fixture(scope="session")
def llama(llama_assets):
    return get_machine("llama3", "csr", weights=llama_assets["weights"], **llama_assets["options"])


@pytest.fixture(scope="session")
def llama_features(llama, llama_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("llama_features") / "fs"
    return llama.extract(llama_assets["data"], out, sample_list=llama_assets["sample_list"])


@pytest.fixture(scope="session")
def sd3_assets(tmp_path_factory, tokenizer_dir) -> dict:
    from fcbench.machines.sd3 import make_tiny_assets

    return make_tiny_assets(tmp_path_factory.mktemp("sd3"), n_captions=5, seed=0, tokenizer_dir=tokenizer_dir)


@pytest.fixture(scope="session")
def sd3(sd3_assets):
    return get_machine("sd3", "tti", weights=sd3_assets["weights"], **sd3_assets["options"])


@pytest.fixture(scope="session")
def sd3_features(sd3, sd3_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("sd3_features") / "fs"
    return sd3.extract(sd3_assets["data"], out, sample_list=sd3_assets["sample_list"])
