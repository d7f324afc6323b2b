"""Llama-3 csr machine on a tiny random-weight Llama (stock transformers classes)."""
import numpy as np
import pytest
import torch

from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import get_machine
from fcbench.machines.llama3 import Llama3CSR


def test_extract_writes_one_feature_per_prompt_token(llama, llama_features, llama_assets):
    fs = FeatureSet.open(llama_features.root)
    ids = llama_assets["sample_list"].read_text().split()
    assert fs.ids == ids
    assert fs.meta["split_point"] == "model.layers[1].output"  # last layer of the 2-layer model
    assert fs.meta["checkpoint_sha256"] == llama.checkpoint_sha256 and len(llama.checkpoint_sha256) == 64
    for sample_id in ids:
        info = fs.info(sample_id)
        n_tokens = llama.tokenize(_question(llama_assets, sample_id).prompt).shape[1]
        assert info.shape == [1, 1, n_tokens, 64] and info.dtype == "float32"
        assert info.extra["tokens"] == n_tokens
    assert fs.verify() == []


def _question(assets, sample_id):
    from fcbench.machines.text import load_prompts

    return next(q for q in load_prompts(assets["data"]) if q.id == sample_id)


def test_feature_is_the_last_decoder_layer_output(llama, llama_features, llama_assets):
    """The stored feature equals the stock model's hidden state after layer 2 of 2 (before the
    final RMSNorm), and norm + lm_head of it gives the model's own logits."""
    sample_id = llama_features.ids[0]
    q = _question(llama_assets, sample_id)
    ids = llama.tokenize(q.prompt)
    with torch.no_grad():
        out = llama._model(input_ids=ids, output_hidden_states=True)
    feature = torch.from_numpy(llama_features.read(sample_id)[0, 0])
    # hidden_states[-1] is after the final norm in transformers; rebuild it from the feature
    normed = llama._model.model.norm(feature[None])
    torch.testing.assert_close(normed, out.hidden_states[-1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(llama._model.lm_head(normed), out.logits, rtol=1e-4, atol=1e-4)


def test_injecting_the_unmodified_feature_reproduces_outputs_exactly(llama, llama_features, llama_assets):
    for sample_id in llama_features.ids:
        ids = llama.tokenize(_question(llama_assets, sample_id).prompt)
        hidden, token, logits = llama.run(ids)
        feature = torch.from_numpy(llama_features.read(sample_id)[0])
        hidden2, token2, logits2 = llama.run(ids, inject=feature)
        assert torch.equal(hidden2, hidden)
        assert token2 == token
        assert torch.equal(logits2, logits)
        perturbed = feature + 0.5 * torch.randn(feature.shape, generator=torch.Generator().manual_seed(1))
        _, _, logits3 = llama.run(ids, inject=perturbed)
        assert not torch.equal(logits3, logits)


def test_uncompressed_evaluation_is_100_percent(llama, llama_features, llama_assets):
    ev = llama.evaluate(llama_features.root, llama_assets["data"], reference=llama_features.root)
    assert [m.name for m in ev.metrics] == ["accuracy", "loglik_accuracy"]
    assert ev.primary.value == 100.0 and ev.primary.direction == "higher"
    assert ev.metrics[1].value == 100.0
    assert ev.feature_mse == 0.0
    assert [r["id"] for r in ev.per_sample] == llama_features.ids
    assert all(r["correct"] and r["generated"] == r["answer"] for r in ev.per_sample)


def test_corrupted_features_lower_the_metrics_and_report_mse(llama, llama_features, llama_assets, tmp_path):
    rng = np.random.default_rng(0)
    noisy = FeatureSet.create(tmp_path / "noisy", "llama3", "csr", llama_features.meta["split_point"])
    errors = []
    for sample_id, x in llama_features:
        y = (rng.standard_normal(x.shape) * 3).astype(np.float32)  # features replaced by noise
        noisy.write(sample_id, y)
        errors.append(np.mean((x.astype(np.float64) - y) ** 2))
    ev = llama.evaluate(noisy, llama_assets["data"], reference=llama_features)
    assert ev.feature_mse == pytest.approx(np.mean(errors), rel=1e-12)
    broken = [r for r in ev.per_sample if not r["correct"] or not r["loglik_correct"]]
    assert broken, "pure-noise features should break at least one answer"
    assert ev.primary.value == 100.0 * sum(r["correct"] for r in ev.per_sample) / len(ev.per_sample)


def test_resume_skips_present_samples_and_refills_missing_ones(llama, llama_features, llama_assets, tmp_path):
    out = tmp_path / "fs"
    fs = llama.extract(llama_assets["data"], out, sample_list=llama_assets["sample_list"], limit=2)
    assert len(fs) == 2
    first = (out / f"{fs.ids[0]}.npy").stat().st_mtime_ns
    (out / f"{fs.ids[1]}.npy").unlink()
    fs = llama.extract(llama_assets["data"], out, sample_list=llama_assets["sample_list"])
    assert fs.ids == llama_features.ids
    assert (out / f"{fs.ids[0]}.npy").stat().st_mtime_ns == first
    for sample_id in fs.ids:
        assert np.array_equal(fs.read(sample_id), llama_features.read(sample_id))


def test_bfloat16_reference_dtype(llama_assets, tmp_path):
    """As the reference: bf16 model, features stored float32 with bfloat16 origin, and the
    stored feature re-injected (cast back to bf16) reproduces the outputs exactly."""
    m = get_machine("llama3", "csr", weights=llama_assets["weights"], device="cpu", dtype="bfloat16")
    fs = m.extract(llama_assets["data"], tmp_path / "bf16", limit=1)
    info = fs.info(fs.ids[0])
    assert info.dtype == "float32" and info.origin_dtype == "bfloat16"
    x = fs.read(fs.ids[0])
    assert np.array_equal(torch.from_numpy(x).to(torch.bfloat16).float().numpy(), x)
    ids = m.tokenize(_question(llama_assets, fs.ids[0]).prompt)
    _, token, logits = m.run(ids)
    _, token2, logits2 = m.run(ids, inject=torch.from_numpy(x[0]))
    assert token == token2 and torch.equal(logits, logits2)


def test_bad_inputs_give_clear_errors(llama, llama_features, llama_assets, tmp_path):
    with pytest.raises(ValueError, match="weights= is required"):
        get_machine("llama3", "csr")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_machine("llama3", "csr", weights=tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no stager"):
        get_machine("llama3", "csr", weights="s3://bucket/llama")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        get_machine("llama3", "csr", weights=llama_assets["weights"] / "config.json")
    with pytest.raises(TypeError, match="unknown options"):
        get_machine("llama3", "csr", weights=llama_assets["weights"], steps=3)
    sample_id = llama_features.ids[0]
    short = FeatureSet.create(tmp_path / "short", "llama3", "csr", "x")
    short.write(sample_id, llama_features.read(sample_id)[:, :, :-1])
    with pytest.raises(FeatureSetError, match=f"sample {sample_id}: feature shape"):
        llama.evaluate(short, llama_assets["data"])
    other = FeatureSet.create(tmp_path / "other", "sd3", "tti", "x")
    other.write("a", np.zeros((1, 16, 2, 2), np.float16))
    with pytest.raises(FeatureSetError, match="not llama3/csr"):
        llama.evaluate(other, llama_assets["data"])
    stray = FeatureSet.create(tmp_path / "stray", "llama3", "csr", "x")
    stray.write("NOT_A_QUESTION", np.zeros((1, 1, 3, 64), np.float32))
    with pytest.raises(ValueError, match="NOT_A_QUESTION"):
        llama.evaluate(stray, llama_assets["data"])


def test_registry_builds_the_machine(llama_assets):
    from fcbench.machines import machine_names

    assert ("llama3", "csr") in machine_names()
    m = get_machine("llama3", "csr", weights=llama_assets["weights"], **llama_assets["options"])
    assert isinstance(m, Llama3CSR) and m.layer == 1
    with pytest.raises(ValueError, match="layer 2 out of range for a 2-layer model"):
        get_machine("llama3", "csr", weights=llama_assets["weights"], layer=2, **llama_assets["options"]).layer
