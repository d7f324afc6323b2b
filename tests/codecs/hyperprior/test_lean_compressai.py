"""CompressAI imported without torch_geometric codes exactly as the plain import does; the modules
it defers load for real on first use; an unknown layout falls back to the plain import.

Each case runs in a fresh interpreter: what a process imported is the point."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts fresh interpreters that import torch and compressai

# Codes one fixed frame with a seeded tiny model; prints what the process imported and the stream.
CODE_A_FRAME = """
import json, sys
import torch
{importer}
from compressai.models.google import ScaleHyperprior
torch.manual_seed(0)
net = ScaleHyperprior(8, 8).eval()
net.update(force=True)
x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    out = net.compress(x)
    x_hat = net.decompress(out["strings"], out["shape"])["x_hat"]
print(json.dumps({{"geometric": "torch_geometric" in sys.modules, "lean": {lean},
                  "y": out["strings"][0][0].hex(), "z": out["strings"][1][0].hex(),
                  "x_hat": float(x_hat.sum())}}))
"""
LEAN = "from fcbench.codecs.hyperprior import lean_compressai; lean_compressai.load()"


def run(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def plain():
    return run(CODE_A_FRAME.format(importer="import compressai", lean="None"))


def test_lean_import_skips_torch_geometric_and_codes_identically(plain):
    lean = run(CODE_A_FRAME.format(importer=LEAN, lean="lean_compressai.lean_loaded()"))
    assert lean["lean"] is True and lean["geometric"] is False
    assert plain["geometric"] is True  # what the plain import costs
    assert (lean["y"], lean["z"], lean["x_hat"]) == (plain["y"], plain["z"], plain["x_hat"])


def test_deferred_modules_load_for_real_on_first_use():
    out = run(LEAN + """
import json, sys, inspect
import compressai
import compressai.registry as registry
before = "torch_geometric" in sys.modules
inspect.getmodule(json)  # scans every module's metadata: must not load the deferred ones
scanned = "torch_geometric" in sys.modules
transforms = sorted(k for k in registry.TRANSFORMS if k.startswith("RandomCrop"))
from compressai.datasets import ImageFolder
print(json.dumps({"before": before, "scanned": scanned, "after": "torch_geometric" in sys.modules,
                  "transforms": transforms, "dataset": ImageFolder.__name__, "version": compressai.__version__,
                  "coder": compressai.get_entropy_coder(), "models": len(registry.MODELS)}))
""")
    assert out["before"] is False and out["scanned"] is False and out["after"] is True
    assert out["transforms"] and out["dataset"] == "ImageFolder" and out["coder"] == "ans"
    assert out["models"] > 0 and out["version"]


def test_an_unknown_layout_falls_back_to_the_plain_import(plain):
    fallback = run(CODE_A_FRAME.format(
        importer="from fcbench.codecs.hyperprior import lean_compressai; "
                 "lean_compressai.load(lazy=('compressai.no_such_module',))",
        lean="lean_compressai.lean_loaded()"))
    assert fallback["lean"] is False and fallback["geometric"] is True
    assert (fallback["y"], fallback["z"]) == (plain["y"], plain["z"])
