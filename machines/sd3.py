"""Stable Diffusion 3 medium, text-to-image (tti), split at the final denoised latent.

Feature (docs/test-conditions.md §1): the pipeline's `output_type="latent"` result with the
reference settings (28 steps, guidance 7.0, 1024x1024, empty negative prompt), captions in
list order in batches of 16 with one generator seeded 3407 once; stored float16 as
(1, 16, 128, 128). Head (§2): `latent / scaling_factor + shift_factor` -> VAE decode -> image
(uint8, as a saved PNG). Metrics: FID of images from reconstructed latents against images from
the ORIGINAL latents, and CLIP score against the captions when a CLIP model is given.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from fcbench.codecs.features.featureset import FeatureSet, FeatureSetError
from fcbench.machines import model_setup
from fcbench.machines.base import Evaluation, Machine, Metric, feature_mse, register_machine
from fcbench.machines.generative_metrics import FID, TINY_SUFFIX, ClipScore, Source, TinyImageFeatures
from fcbench.machines.text import PathLike, SampleList, evaluation_ids, load_captions, select

SPLIT_POINT = "final denoised latent (output_type=latent)"


class SD3TTI(Machine):
    model = "sd3"
    task = "tti"
    needs_reference = True  # FID against the images of the ORIGINAL latents

    def __init__(
        self,
        weights: Union[PathLike, None] = None,
        device: str = "auto",
        dtype: str = "float16",
        steps: int = 28,
        guidance: float = 7.0,
        seed: int = 3407,
        height: int = 1024,
        width: int = 1024,
        batch: int = 16,
        batch_size: Optional[int] = None,
        sample_list: SampleList = None,
        limit: Optional[int] = None,
        source: str = "test",
        progress: Optional[bool] = None,
        inception: Source = None,
        clip: Union[PathLike, tuple, None] = None,
        **unknown: Any,
    ):
        if unknown:
            raise TypeError(f"sd3/tti: unknown options {sorted(unknown)}")
        batch = batch_size or batch  # the CLI's --batch-size; features depend on it (reference: 16)
        self.source = source
        self.progress = bool(progress)
        if batch < 1 or steps < 1:
            raise ValueError(f"batch and steps must be >= 1, got batch={batch} steps={steps}")
        self.weights = model_setup.local_checkpoint(weights, "Stable Diffusion 3 (diffusers)")
        self.device = model_setup.resolve_device(device)
        self.dtype = model_setup.resolve_dtype(dtype)
        self.settings = {"steps": int(steps), "guidance": float(guidance), "seed": int(seed), "height": int(height), "width": int(width), "batch": int(batch)}
        self.sample_list = sample_list
        self.limit = limit
        self.inception = inception
        self.clip = clip
        self._pipe: Any = None
        # The original latents' images and FID statistics, made once per reference set and
        # reused by every rate point evaluated against it: (key, images by id, FID).
        self._reference: Optional[tuple[tuple, dict[str, torch.Tensor], FID]] = None

    # ---- model -------------------------------------------------------------------------
    @property
    def pipe(self) -> Any:
        if self._pipe is None:
            from diffusers import StableDiffusion3Pipeline

            # Components saved as [null, null] (e.g. no T5) must be passed as None explicitly.
            index = json.loads((self.weights / "model_index.json").read_text())
            absent = {k: None for k, v in index.items() if isinstance(v, list) and v == [None, None]}
            pipe = StableDiffusion3Pipeline.from_pretrained(self.weights, dtype=self.dtype, **absent)
            pipe.set_progress_bar_config(disable=not self.progress)
            self._pipe = pipe.to(self.device)
        return self._pipe

    def _latent_shape(self, n: int) -> tuple[int, int, int, int]:
        f = self.pipe.vae_scale_factor
        return (n, self.pipe.transformer.config.in_channels, self.settings["height"] // f, self.settings["width"] // f)

    @torch.no_grad()
    def generate(self, captions: list[str], generator: torch.Generator) -> torch.Tensor:
        """Final latents (B, C, h, w) of one batch of captions."""
        s = self.settings
        out = self.pipe(
            prompt=captions, negative_prompt=[""] * len(captions), num_inference_steps=s["steps"],
            guidance_scale=s["guidance"], height=s["height"], width=s["width"],
            generator=generator, output_type="latent",
        )
        return out.images

    def _skip_batch(self, n: int, generator: torch.Generator) -> None:
        """Advance the generator exactly as a generated batch would (the pipeline draws its
        initial noise once per call, nothing else), so a resumed run matches a full one."""
        from diffusers.utils.torch_utils import randn_tensor

        randn_tensor(self._latent_shape(n), generator=generator, device=self.device, dtype=self.pipe.text_encoder.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Head: un-scale/shift, VAE decode -> uint8 images (B, 3, H, W), rounded as PIL saves."""
        vae = self.pipe.vae
        z = latents.to(device=self.device, dtype=vae.dtype) / vae.config.scaling_factor + vae.config.shift_factor
        image = vae.decode(z, return_dict=False)[0]
        image = self.pipe.image_processor.postprocess(image, output_type="np")  # (B, H, W, 3) in [0, 1]
        return torch.from_numpy(np.round(image * 255).astype(np.uint8)).permute(0, 3, 1, 2)

    # ---- extraction ----------------------------------------------------------------------
    def extract(self, data: Optional[PathLike], out: PathLike, sample_list: SampleList = None,
                limit: Optional[int] = None, source: Optional[str] = None, resume: bool = True, **options: Any) -> FeatureSet:
        """Latents of the selected captions (source "folder": every caption file under `data`)."""
        if options:
            raise TypeError(f"sd3/tti extract: unknown options {sorted(options)}")
        captions = load_captions(data, sample_list or self.sample_list, limit or self.limit, source or self.source)
        store = np.float16 if self.dtype in (torch.float16, torch.bfloat16) else np.float32
        fs = FeatureSet.create(
            out, self.model, self.task, SPLIT_POINT, resume=resume,
            checkpoint_sha256=model_setup.checkpoint_digest(self.weights), dtype=model_setup.dtype_name(self.dtype),
            **self.settings,
        )
        generator = torch.Generator(device=self.device).manual_seed(self.settings["seed"])
        b = int(self.settings["batch"])
        with fs:
            for start in tqdm(range(0, len(captions), b), desc="sd3 extract (batches)", disable=not self.progress):
                chunk = captions[start : start + b]
                if all(c.id in fs for c in chunk):
                    self._skip_batch(len(chunk), generator)
                    continue
                latents = self.generate([c.text for c in chunk], generator).float().cpu().numpy()
                for i, c in enumerate(chunk):
                    if c.id not in fs:
                        fs.write(c.id, latents[i : i + 1].astype(store), origin_dtype=np.dtype(store).name,
                                 caption=c.text, batch_index=start // b)
        return fs

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, features: Union[PathLike, FeatureSet], data: Optional[PathLike] = None,
                 reference: Union[PathLike, FeatureSet, None] = None, inception: Source = None,
                 clip: Union[PathLike, tuple, None] = None, sample_list: SampleList = None,
                 limit: Optional[int] = None, **options: Any) -> Evaluation:
        """FID of images decoded from `features` against images decoded from `reference`, the
        ORIGINAL latents (the reference's metric; required: `features` themselves give the
        uncompressed point, FID 0), CLIP score when `clip` is set. Samples: the feature set's,
        or the `sample_list` ones. The original images are generated once per reference set."""
        if options:
            raise TypeError(f"sd3/tti evaluate: unknown options {sorted(options)}")
        if reference is None:
            raise ValueError("sd3/tti: FID compares the images of these latents with the images of the ORIGINAL "
                             "latents; give the original feature set as reference (fcbench evaluate --reference DIR)")
        fs, ref = _open(features), _open(reference)
        wanted = evaluation_ids(fs, sample_list, limit)
        captions = select(load_captions(data), wanted, None, Path(str(data or "official COCO caption list")))
        originals, fid = self._reference_images(ref, [c.id for c in captions], inception)
        fid.reset_generated()
        clip_source = clip if clip is not None else self.clip
        scorer = ClipScore(clip_source) if clip_source is not None else None
        rows = []
        for c in tqdm(captions, desc="sd3 evaluate", disable=not self.progress):
            rec, orig_img = _read_latent(fs, c.id), originals[c.id]
            rec_img = self.decode(torch.from_numpy(rec))
            if rec_img.shape != orig_img.shape:
                raise FeatureSetError(f"sample {c.id}: latent {rec.shape} decodes to {tuple(rec_img.shape)} images, "
                                      f"the reference's to {tuple(orig_img.shape)}")
            fid.update(rec_img, real=False)
            orig = _read_latent(ref, c.id)
            row = {"id": c.id, "latent_mse": float(np.mean((rec.astype(np.float64) - orig.astype(np.float64)) ** 2)),
                   "image_psnr": _psnr(rec_img, orig_img)}
            if scorer is not None:
                row["clip_score"] = scorer.update(rec_img, [c.text])[0]
            rows.append(row)
        metrics = [Metric("fid", fid.value(), "lower", "Frechet distance between the two image sets")]
        if scorer is not None:
            metrics.append(Metric("clip_score", scorer.value(), "higher", "max(mean over samples of 100*cos, 0)"))
        return Evaluation(metrics, rows, feature_mse(fs, ref))

    def _reference_images(self, ref: FeatureSet, ids: list[str], inception: Source) -> tuple[dict[str, torch.Tensor], FID]:
        """Images of the original latents `ids` of `ref` and an FID holding their statistics;
        made once and reused while the reference set, its samples and the Inception stay the same."""
        source = inception if inception is not None else self.inception
        key = (str(Path(ref.root).resolve()), tuple((i, ref.info(i).sha256) for i in ids), str(source))
        if self._reference is None or self._reference[0] != key:
            self._reference = None  # free the previous set's images first
            fid = FID(source)
            images = {}
            for sample_id in tqdm(ids, desc="sd3 reference images", disable=not self.progress):
                images[sample_id] = self.decode(torch.from_numpy(_read_latent(ref, sample_id)))
                fid.update(images[sample_id], real=True)
            self._reference = (key, images, fid)
        return self._reference[1], self._reference[2]


def _open(features: Union[PathLike, FeatureSet]) -> FeatureSet:
    fs = features if isinstance(features, FeatureSet) else FeatureSet.open(features)
    if (fs.meta.get("model"), fs.meta.get("task")) != ("sd3", "tti"):
        raise FeatureSetError(f"{fs.root} holds {fs.meta.get('model')}/{fs.meta.get('task')} features, not sd3/tti")
    return fs


def _read_latent(fs: FeatureSet, sample_id: str) -> np.ndarray:
    latent = fs.read(sample_id)
    if latent.ndim != 4 or latent.shape[0] != 1:
        raise FeatureSetError(f"sample {sample_id}: latent shape {latent.shape} is not (1, C, h, w)")
    if not np.all(np.isfinite(latent)):
        raise FeatureSetError(f"sample {sample_id}: latent contains NaN or Inf")
    return latent


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(torch.mean((a.double() - b.double()) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@register_machine("sd3", "tti", needs_reference=True)
def build(weights: Union[PathLike, None] = None, **options: Any) -> SD3TTI:
    return SD3TTI(weights=weights, **options)


# ---- tiny assets for tests and local pipeline runs ------------------------------------------------
def make_tiny_assets(root: PathLike, n_captions: int = 4, seed: int = 0, tokenizer_dir: Optional[PathLike] = None) -> dict[str, Any]:
    """A random-weight SD3 pipeline of the stock classes at tiny sizes (16 latent channels as
    the real one, no T5), 32x32 images -> 16x16 latents, plus `n_captions` synthetic captions
    in the official caption-file format. `tokenizer_dir` holds `clip/vocab.json` and
    `clip/merges.txt` (the test fixture); None trains them."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    from fcbench.codecs.common import atomic
    from fcbench.machines.text import train_clip_bpe

    root = Path(root)
    if tokenizer_dir is not None:
        clip_dir = Path(tokenizer_dir) / "clip"
        vocab = json.loads((clip_dir / "vocab.json").read_text())
        merges = [m for m in (clip_dir / "merges.txt").read_text().splitlines() if m and not m.startswith("#")]
    else:
        vocab, merges = train_clip_bpe()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], model_max_length=77)
    torch.manual_seed(seed)

    def text_encoder() -> CLIPTextModelWithProjection:
        return CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ))

    pipe = StableDiffusion3Pipeline(
        transformer=SD3Transformer2DModel(
            sample_size=16, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
            num_attention_heads=2, joint_attention_dim=64, caption_projection_dim=16, pooled_projection_dim=64,
            pos_embed_max_size=16,
        ),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            block_out_channels=(8, 8), layers_per_block=1, latent_channels=16, norm_num_groups=4, sample_size=32,
            use_quant_conv=False, use_post_quant_conv=False, scaling_factor=1.5305, shift_factor=0.0609,
        ),
        text_encoder=text_encoder(), tokenizer=tokenizer,
        text_encoder_2=text_encoder(), tokenizer_2=tokenizer,
        text_encoder_3=None, tokenizer_3=None,
    )
    weights = root / "sd3-tiny"
    pipe.save_pretrained(weights)

    rng = np.random.default_rng(seed)
    words = ["a", "cat", "dog", "table", "red", "bus", "street", "man", "holding", "pizza", "on", "the", "with", "kitchen"]
    lines = [f"COCO_val2017_{i:012d}.jpg " + " ".join(rng.choice(words, size=int(rng.integers(4, 12)))).capitalize() + "."
             for i in range(n_captions)]
    data = root / "coco"
    atomic.write_bytes(data / "captions.txt", ("\n".join(lines) + "\n").encode())
    sample_list = root / "coco_sample_list.txt"
    atomic.write_bytes(sample_list, ("\n".join(line.split()[0] for line in lines) + "\n").encode())

    # Evaluation stand-ins, as local files like the real ones: a scripted tiny FID feature
    # extractor and a tiny random CLIP model + processor.
    inception = root / f"inception{TINY_SUFFIX}"
    torch.save(TinyImageFeatures(seed=seed).state_dict(), inception)
    clip = root / "clip-tiny"
    clip_model = CLIPModel(CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    ))
    clip_model.save_pretrained(clip)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tokenizer)
    processor.save_pretrained(clip)
    options = {"device": "cpu", "dtype": "float32", "steps": 2, "height": 32, "width": 32, "batch": 2,
               "inception": str(inception), "clip": str(clip)}
    return {"weights": weights, "data": data, "sample_list": sample_list, "options": options}
