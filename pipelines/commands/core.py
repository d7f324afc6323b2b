"""Core commands: conditions, doctor, pack, unpack."""
from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

import numpy as np

from fcbench.codecs.common import settings
from fcbench.pipelines.commands.options import bit_depth, output_file, scalar_or_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conditions", help="print the test conditions (all, or one MODEL TASK)")
    p.add_argument("model", nargs="?")
    p.add_argument("task", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_conditions)

    p = sub.add_parser("doctor", help="report versions, codecs found and server reachability")
    p.add_argument("--json", action="store_true")
    p.add_argument("--kfp-host", metavar="URL", help="also ask this Kubeflow Pipelines backend its version and say "
                                                      "whether it runs fcbench's IR (2.15 or newer)")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token for --kfp-host")
    auth.add_argument("--token-file", help="service-account token file for --kfp-host")
    auth.add_argument("--cookie", help="session cookie NAME=VALUE for --kfp-host")
    p.add_argument("--ca-cert", help="CA bundle for --kfp-host")
    p.add_argument("--skip-version-check", action="store_true",
                   help="report the backend's version without failing when it is older than fcbench's IR needs")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("pack", help="truncate, quantize and pack a .npy feature into a raw 4:0:0 frame")
    p.add_argument("feature", type=Path, help="(N, C, H, W) .npy file")
    p.add_argument("-o", "--out", type=output_file, required=True, help="output .yuv (raw little-endian samples)")
    p.add_argument("--layout", default="generic")
    p.add_argument("--low", type=float, nargs="+", required=True, help="scalar or one per channel")
    p.add_argument("--high", type=float, nargs="+", required=True)
    p.add_argument("--bit-depth", type=bit_depth, default=10)
    p.add_argument("--mode", choices=("round", "legacy"), default="round")
    p.add_argument("--no-truncate", action="store_true", help="quantize without clipping (the reference's legacy 'truncation off')")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("unpack", help="unpack and dequantize a raw frame back to a .npy feature")
    p.add_argument("frame", type=Path)
    p.add_argument("-o", "--out", type=output_file, required=True)
    p.add_argument("--shape", type=int, nargs=4, required=True, metavar=("N", "C", "H", "W"))
    p.add_argument("--layout", default="generic")
    p.add_argument("--low", type=float, nargs="+", required=True)
    p.add_argument("--high", type=float, nargs="+", required=True)
    p.add_argument("--bit-depth", type=bit_depth, default=10)
    p.add_argument("--mode", choices=("round", "legacy"), default="round")
    p.set_defaults(func=cmd_unpack)


def cmd_conditions(args: argparse.Namespace) -> int:
    from fcbench.codecs.conditions import load_conditions

    tc = load_conditions()
    tasks = [tc.get(args.model, args.task)] if args.model and args.task else tc.tasks
    if args.model and not args.task:
        tasks = [t for t in tc.tasks if t.model == args.model]
        if not tasks:
            raise KeyError(f"no test conditions for model {args.model!r}")
    if args.json:
        print(json.dumps({"version": tc.version, "tasks": [t.model_dump(mode="json") for t in tasks]}, indent=2))
        return 0
    print(f"test conditions {tc.version}")
    for t in tasks:
        tr, le = t.traditional, t.learned
        print(f"\n{t.model} {t.task}: {t.split_point}")
        print(f"  feature {list(t.feature_shape)} {t.feature_dtype} (origin {t.origin_dtype}), {t.samples} samples from {t.sample_list}, layout {t.layout}")
        print(f"  metric {t.metric.name} ({t.metric.direction} is better)")
        print(f"  VTM/traditional: truncate [{tr.low}, {tr.high}], {tr.bit_depth}-bit, QPs {tr.qps}")
        print(f"  hyperprior: normalise [{le.low}, {le.high}], lambdas {le.lambdas}, {le.epochs} epochs, batch {le.batch}, "
              f"crop {list(le.crop)}, Adam lr {le.lr:g}")
    return 0


def _module_version(name: str) -> str:
    """The installed distribution's version, read from its metadata: importing transformers,
    diffusers or all of compressai only to print a number took seconds and printed their
    deprecation warnings."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def doctor_report() -> dict:
    """Everything `fcbench doctor` prints, as data."""
    from fcbench.pipelines.version import git_sha, version

    report: dict = {
        "fcbench": version(),
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {m: _module_version(m) for m in ("numpy", "torch", "compressai", "av", "kfp", "mlflow", "minio", "transformers", "diffusers")},
    }
    try:
        import torch

        report["cuda"] = torch.cuda.is_available()
    except ImportError:
        report["cuda"] = False
    report["codecs"] = _codec_report()
    report["services"] = _service_report()
    report["settings"] = settings.report()  # every variable of docs/settings.md, secrets hidden
    return report


def _codec_report() -> dict:
    out: dict = {}
    try:
        import av

        out["pyav_ffmpeg"] = ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))
        out["x265_encoder"] = _has_av_codec("libx265", "w")
        out["av1_encoder"] = _has_av_codec("libsvtav1", "w")  # the av1 codec: SVT-AV1 encodes,
        out["av1_decoder"] = _has_av_codec("libdav1d", "r")  # dav1d decodes
        out["vvc_decoder"] = _has_av_codec("vvc", "r")
        out["hevc_decoder"] = _has_av_codec("hevc", "r")
    except ImportError:
        out["pyav_ffmpeg"] = "missing"
    for setting in (s for s in settings.SETTINGS.values() if s.group == "codecs" and s.kind == "path"):
        value = setting.get()
        out[setting.name] = f"{value} ({'found' if value.is_file() else 'NOT FOUND'})" if value else "not set"
    for binary in ("EncoderAppStatic", "EncoderApp", "vvencFFapp", "vvencapp"):
        found = shutil.which(binary)
        if found:
            out[f"PATH:{binary}"] = found
    out["vtm_cfg"] = vtm_cfg_status()
    return out


def vtm_cfg_status() -> str:
    """Is the VTM cfg in use the reference's all-intra cfg (what the `paper` preset needs)?"""
    from fcbench.codecs.backends.vtm import VTMCodec
    from fcbench.codecs.presets import get_preset

    try:
        path = settings.VTM_CFG.get() or VTMCodec(decoder="pyav").cfg
    except Exception as exc:  # no encoder, no cfg: say why, doctor never fails
        return f"not found ({str(exc).splitlines()[0]})"
    return cfg_verdict(Path(path), get_preset("paper").vtm_cfg_sha256 or "")


def cfg_verdict(path: Path, expected_sha256: str) -> str:
    from fcbench.codecs.common.hashing import sha256_file

    if not path.is_file():
        return f"{path}: does not exist"
    sha = sha256_file(path)
    if sha == expected_sha256:
        return f"{path}: the reference's all-intra cfg (VTM 23.13 stock encoder_intra_vtm.cfg, sha256 {sha[:12]}...)"
    return (f"{path}: NOT the reference's all-intra cfg (sha256 {sha[:12]}..., the paper preset expects "
            f"{expected_sha256[:12]}...): results are not comparable with the paper's")


def _has_av_codec(name: str, mode: str) -> bool:
    import av

    try:
        av.codec.Codec(name, mode)
        return True
    except Exception:
        return False


def _service_report() -> dict:
    import socket
    from urllib.parse import urlparse

    out = {}
    for setting, default_port in ((settings.TRACKING_URI, 5000), (settings.S3_ENDPOINT, 9000)):
        env, value = setting.name, setting.get()
        if not value or not ("://" in value or ":" in value):
            out[env] = value or "not set (local default)"
            continue
        parsed = urlparse(value if "://" in value else f"http://{value}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            out[env] = f"{value} (local)"
            continue
        try:
            with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
                out[env] = f"{value} (reachable)"
        except OSError as exc:
            out[env] = f"{value} (UNREACHABLE: {exc})"
    return out


def kfp_backend_report(args: argparse.Namespace) -> dict:
    """The backend's version and whether fcbench's IR runs on it (never raises: doctor reports)."""
    from fcbench.pipelines.kfp_backend import Credentials, backend_info, version_verdict

    try:
        creds = Credentials(token=args.token or "", token_file=args.token_file or "", cookie=args.cookie or "",
                            ca_cert=args.ca_cert or "")
        info = backend_info(args.kfp_host, creds)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        return {"host": args.kfp_host, "ok": False, "verdict": str(exc)}
    ok, verdict = version_verdict(str(info.get("tag_name", "")))
    if not ok and args.skip_version_check:
        ok, verdict = True, verdict + " (--skip-version-check: not failing)"
    return {"host": args.kfp_host, "version": info.get("tag_name"), "answered_by": info.get("answered_by"),
            "multi_user": info.get("multi_user"), "ok": ok, "verdict": verdict}


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    if getattr(args, "kfp_host", None):
        report["kubeflow_pipelines"] = kfp_backend_report(args)
    backend = report.get("kubeflow_pipelines")
    status = 1 if backend is not None and not backend["ok"] else 0  # a backend too old or unreachable
    if args.json:
        print(json.dumps(report, indent=2))
        return status
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return status


def cmd_pack(args: argparse.Namespace) -> int:
    from fcbench.codecs import pack, quantize, truncate
    from fcbench.codecs.chain.transforms import to_float32
    from fcbench.codecs.chain.yuv import frame_to_bytes
    from fcbench.codecs.common import atomic

    x = to_float32(load_npy(args.feature), what=str(args.feature))  # the check encode makes, naming the file
    low, high = scalar_or_list(args.low), scalar_or_list(args.high)
    if not args.no_truncate:
        x = truncate(x, low, high)
    frame = pack(quantize(x, low, high, args.bit_depth, mode=args.mode), args.layout)
    atomic.write_bytes(args.out, frame_to_bytes(frame, args.bit_depth))
    print(f"{args.out}: {frame.shape[0]} rows x {frame.shape[1]} cols, {args.bit_depth}-bit 4:0:0")
    return 0


def load_npy(path: Path) -> np.ndarray:
    """A feature from a .npy file; ValueError naming the file when it is not one."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, SyntaxError) as exc:  # numpy's errors for a damaged header or body
        raise ValueError(f"{path} is not a readable .npy file ({type(exc).__name__}: {exc})") from None


def cmd_unpack(args: argparse.Namespace) -> int:
    from fcbench.codecs import dequantize, frame_size, unpack
    from fcbench.codecs.chain.yuv import read_yuv400
    from fcbench.codecs.common import atomic

    rows, cols = frame_size(args.shape, args.layout)
    frame = read_yuv400(args.frame, rows, cols, args.bit_depth)
    x = dequantize(unpack(frame, args.shape, args.layout), scalar_or_list(args.low), scalar_or_list(args.high), args.bit_depth, mode=args.mode)
    atomic.write_npy(args.out, x)
    print(f"{args.out}: {tuple(x.shape)} float32")
    return 0
