"""Importing the published pretrained hyperprior models (reference CompressAI checkpoints)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fcbench.codecs import get_codec, unpack_container
from fcbench.codecs.hyperprior.checkpoint import CheckpointError, load_checkpoint
from fcbench.codecs.hyperprior.codec import centre_padding
from fcbench.codecs.hyperprior.reference import import_checkpoint, parse_names, resolve_settings
from fcbench.codecs.protocol import Conditions
from tests.codecs.hyperprior.reference_ckpt import FOLDER, NAME, reference_net, write_reference_checkpoint


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(checkpoint path, the network it holds) at the paper's size (N=128, M=192)."""
    net = reference_net()
    path = write_reference_checkpoint(tmp_path_factory.mktemp("ref") / "cls" / FOLDER / NAME, net)
    return path, net


def test_imported_model_codes_exactly_as_the_reference_network(reference, tmp_path):
    path, net = reference
    imported = import_checkpoint(path, "dinov2", "cls", tmp_path / "m.pt")
    assert (imported.lmbda, imported.low, imported.high, imported.epoch) == (0.001, -5.0, 5.0, 799)
    assert imported.config == {"arch": "bmshj2018-hyperprior", "N": 128, "M": 192, "in_channels": 1}
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert imported.source_sha256 == sha
    state = load_checkpoint(tmp_path / "m.pt")
    assert state["source"]["sha256"] == sha and state["source"]["file"] == NAME and state["train"]["epochs"] == 800

    codec = get_codec("hyperprior", checkpoint=tmp_path / "m.pt")
    assert codec.lambdas == [0.001]
    ident = codec.identity
    assert ident["options"]["sources"] == {"0.001": sha}
    assert ident["binary_sha256"] == hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest()

    x = np.random.default_rng(1).laplace(0, 1.5, (1, 1, 40, 192)).astype(np.float32)
    cond = Conditions(low=-5, high=5, layout="dinov2")
    data = codec.encode(x, 0.001, low=-5, high=5, layout="dinov2")
    _, frame = codec.to_frame(x, 0.001, cond)
    top, bottom, left, right = centre_padding(*frame.shape, 64)
    xt = F.pad(torch.from_numpy(frame)[None, None], (left, right, top, bottom))
    net.eval().update(force=True)
    with torch.no_grad():
        want = net.compress(xt)
        x_hat = net.decompress(want["strings"], want["shape"])["x_hat"].clamp(0, 1)
    p = codec.parse_payload(unpack_container(data)[1])
    assert (p["y"], p["z"]) == (want["strings"][0][0], want["strings"][1][0])  # the same bitstream
    _, decoded = codec.decode_to_frame(data)
    np.testing.assert_array_equal(decoded, x_hat[0, 0, top:top + 40, left:left + 192].numpy())


def test_the_reference_best_checkpoint_imports_by_its_name(reference, tmp_path):
    """`<name>_checkpoint_best.pth.tar` (the reference's copy of its best epoch) imports without
    --lambda: lambda and range come from its names, as for the last-epoch file."""
    import shutil

    path, _ = reference
    best = tmp_path / "cls" / FOLDER / NAME.replace("_checkpoint.pth.tar", "_checkpoint_best.pth.tar")
    best.parent.mkdir(parents=True)
    shutil.copyfile(path, best)
    imported = import_checkpoint(best, "dinov2", "cls", tmp_path / "best.pt")
    assert (imported.lmbda, imported.low, imported.high) == (0.001, -5.0, 5.0)
    assert load_checkpoint(tmp_path / "best.pt")["source"]["file"] == best.name


def test_names_give_lambda_and_range():
    names = parse_names("/m/dinov2/dpt/hyperprior/training_models/trunl[-1,-2,-10,-10]_trunh[1,2,10,10]_uniform0_bitdepth1/"
                        "hyperprior_lambda0.005_epoch200_lr1e-4_bs128_patch256-256_checkpoint.pth.tar")
    assert (names.lmbda, names.epochs, names.lr, names.batch, names.crop) == (0.005, 200, 1e-4, 128, (256, 256))
    assert (names.low, names.high) == ([-1.0, -2.0, -10.0, -10.0], [1.0, 2.0, 10.0, 10.0])
    csr = parse_names("/x/trunl-5_trunh5_uniform0_bitdepth1/hyperprior_lambda10_epoch200_lr1e-4_bs40_patch64-4096_checkpoint.pth.tar")
    assert (csr.lmbda, csr.crop, csr.best) == (10.0, (64, 4096), False)
    assert parse_names("/x/y/model.pt").lmbda is None
    # the reference's training also copies the best epoch to <name>_checkpoint_best.pth.tar
    best = parse_names("/x/trunl-5_trunh5_uniform0_bitdepth1/hyperprior_lambda0.001_epoch800_lr1e-4_bs128_patch256-256"
                       "_checkpoint_best.pth.tar")
    assert (best.lmbda, best.epochs, best.crop, best.low, best.best) == (0.001, 800, (256, 256), -5.0, True)


def test_settings_are_checked_against_the_test_conditions(tmp_path):
    good = tmp_path / FOLDER / NAME
    assert resolve_settings(good, "dinov2", "cls", None, None, None)[:3] == (0.001, -5.0, 5.0)
    with pytest.raises(CheckpointError, match=r"lambda 0.001 is not one of the test conditions' llama3/csr lambdas.*allow-nonstandard"):
        resolve_settings(good, "llama3", "csr", None, None, None)
    with pytest.raises(CheckpointError, match="--lambda 0.01 contradicts the 0.001 in its name"):
        resolve_settings(good, "dinov2", "cls", 0.01, None, None)
    vtm_range = tmp_path / "trunl-20_trunh20_uniform0_bitdepth1" / NAME
    with pytest.raises(CheckpointError, match=r"range -20.0..20.0 is not the test conditions' dinov2/cls hyperprior range -5.0..5.0"):
        resolve_settings(vtm_range, "dinov2", "cls", None, None, None)
    _, low, high, _, notes = resolve_settings(vtm_range, "dinov2", "cls", None, None, None, strict=False)
    assert (low, high) == (-20.0, 20.0) and any("range" in n for n in notes)
    with pytest.raises(CheckpointError, match="no lambda in the file name"):
        resolve_settings(tmp_path / "model.pt", "dinov2", "cls", None, None, None)
    lmbda, low, high, _, notes = resolve_settings(tmp_path / "model.pt", "sd3", "tti", 0.2, None, None)
    assert (lmbda, low, high) == (0.2, -6.176, 4.668) and "no truncation in the folder name" in notes[0]


def test_bad_checkpoints_are_refused_with_the_reason(tmp_path):
    path = tmp_path / FOLDER / NAME
    path.parent.mkdir(parents=True)
    torch.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        import_checkpoint(path, "dinov2", "cls", tmp_path / "o.pt")
    torch.save({"state_dict": {}, "note": np.random.default_rng(0)}, path)  # pickled object: unsafe
    with pytest.raises(CheckpointError, match="not a checkpoint fcbench can load safely.*nothing in the file was run"):
        import_checkpoint(path, "dinov2", "cls", tmp_path / "o.pt")
    small = reference_net(N=8, M=12)
    write_reference_checkpoint(path, small)
    with pytest.raises(CheckpointError, match="N=8, M=12, 1 channel.*the paper's are N=128, M=192"):
        import_checkpoint(path, "dinov2", "cls", tmp_path / "o.pt")
    assert "N=8" in import_checkpoint(path, "dinov2", "cls", tmp_path / "o.pt", strict=False).notes[0]
    sd = small.state_dict()
    sd.pop("h_a.0.weight")
    torch.save({"state_dict": sd}, path)
    with pytest.raises(CheckpointError, match="h_a.0.weight missing"):
        import_checkpoint(path, "dinov2", "cls", tmp_path / "o.pt")
    assert load_checkpoint(tmp_path / "o.pt")["config"]["N"] == 8  # the failed import overwrote nothing


@pytest.mark.slow  # creates an MLflow sqlite store
def test_cli_imports_and_registers(reference, tmp_path, capsys):
    from fcbench.components.tracking import load_registered_checkpoint
    from fcbench.pipelines.cli import main

    path, _ = reference
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["hyperprior", "import", str(path), "--model", "dinov2", "--task", "cls", "--out", str(tmp_path)]
    assert main(argv + ["--register", "--mlflow", uri]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "dinov2-cls-hyperprior-lambda0.001.pt"
    assert f"-> {written}" in out and "lambda 0.001, range -5.0..5.0" in out
    model_uri = out.split("registered: ")[1].split()[0]
    assert model_uri == "models:/fcbench-dinov2-cls-hyperprior-lambda0.001/1"
    fetched = load_registered_checkpoint(model_uri, tmp_path / "fetched", tracking_uri=uri)
    assert fetched.read_bytes() == written.read_bytes()
    assert main(argv[:-1] + [str(tmp_path / "x.pt"), "--lambda", "0.003"]) == 1
    assert "contradicts the 0.001 in its name" in capsys.readouterr().err
