"""The reference dtypes on a CUDA GPU (bf16 Llama, fp16 SD3): re-injecting the unmodified
feature reproduces the outputs exactly there too."""
import numpy as np
import pytest
import torch

from fcbench.machines import get_machine
from fcbench.machines.text import load_captions, load_prompts

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_llama_bf16_injection_is_exact_on_gpu(llama_assets, tmp_path):
    m = get_machine("llama3", "csr", weights=llama_assets["weights"], device="cuda", dtype="bfloat16")
    fs = m.extract(llama_assets["data"], tmp_path / "fs")
    assert fs.info(fs.ids[0]).origin_dtype == "bfloat16"
    for q in load_prompts(llama_assets["data"]):
        ids = m.tokenize(q.prompt)
        _, token, logits = m.run(ids)
        _, token2, logits2 = m.run(ids, inject=torch.from_numpy(fs.read(q.id)[0]))
        assert token == token2 and torch.equal(logits, logits2)


def test_sd3_fp16_head_is_exact_on_gpu(sd3_assets, tmp_path):
    opts = dict(sd3_assets["options"], device="cuda", dtype="float16")
    m = get_machine("sd3", "tti", weights=sd3_assets["weights"], **opts)
    fs = m.extract(sd3_assets["data"], tmp_path / "fs", limit=2)
    assert fs.info(fs.ids[0]).dtype == "float16"
    captions = load_captions(sd3_assets["data"], limit=2)
    s = m.settings
    with torch.no_grad():
        images = m.pipe(prompt=[c.text for c in captions], negative_prompt=["", ""], num_inference_steps=s["steps"],
                        guidance_scale=s["guidance"], height=s["height"], width=s["width"],
                        generator=torch.Generator("cuda").manual_seed(s["seed"]), output_type="np").images
    expected = torch.from_numpy(np.round(images * 255).astype(np.uint8)).permute(0, 3, 1, 2)
    latents = torch.from_numpy(np.concatenate([fs.read(c.id) for c in captions]))
    assert torch.equal(m.decode(latents), expected)
