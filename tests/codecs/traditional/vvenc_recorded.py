"""The recorded real VVenC 1.14.0 runs of tests/fixtures/vvenc, and a stand-in `vvencFFapp`
that replays one of them.

Each run: a VTM fixture frame (tests/fixtures/vtm/<name>.yuv), preset medium or faster, QP 22,
32 or 42, the exact argv the real encoder received (`<frame.yuv>`/`<out.bin>` stand for the
input and output paths), its log, its bitstream and the sha256 of the frame PyAV decodes from it.
The replay tool refuses every command line but the recorded one, checks that the input frame is
byte-identical to the recorded one, then writes the recorded bitstream and prints the recorded
log: the driver's command building, log parsing, bits check and decode all meet the real outputs.
"""
from __future__ import annotations

import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
VVENC = FIXTURES / "vvenc"
VTM = FIXTURES / "vtm"
VERSION = "1.14.0"


@dataclass(frozen=True)
class Run:
    frame: str  # llama3_like, dinov2_like, sd3_like
    preset: str
    qp: int
    argv: tuple[str, ...]  # after the binary, with <frame.yuv> and <out.bin>
    bitstream_sha256: str
    bitstream_bytes: int
    decoded_sha256: str

    @property
    def stem(self) -> str:
        return f"{self.frame}.{self.preset}.qp{self.qp}"

    @property
    def bitstream(self) -> Path:
        return VVENC / f"{self.stem}.bin"

    @property
    def log(self) -> Path:
        return VVENC / f"{self.stem}.encoder.log"

    @property
    def yuv(self) -> Path:
        return VVENC / RECORDED[self.frame]["yuv"]

    def feature(self) -> np.ndarray:
        return np.load(VTM / f"{self.frame}.feature.npy")

    def conditions(self) -> dict:
        """The VTM fixture's conditions: they pack the feature into exactly the recorded .yuv."""
        meta = VTM_META[self.frame]
        return dict(low=meta["trunc"][0], high=meta["trunc"][1], layout=meta["packing"],
                    bit_depth=meta["bit_depth"])


RECORDED: dict = json.loads((VVENC / "fixtures.json").read_text())
VTM_META: dict = json.loads((VTM / "fixtures.json").read_text())
RUNS: list[Run] = [
    Run(frame, r["preset"], r["qp"], tuple(r["argv_after_binary"]), r["bitstream_sha256"], r["bitstream_bytes"],
        r["decoded_sha256"])
    for frame, spec in RECORDED.items() for r in spec["runs"].values()
]

_REPLAY = '''#!{python}
"""Replays the recorded vvencFFapp {version} run {stem} (fcbench test stand-in, not VVenC)."""
import json, shutil, sys
args = sys.argv[1:]
if args == ["--version"]:
    sys.stdout.write(open({version_log!r}).read())
    sys.exit(0)
expected = json.loads({argv!r})
placeholders = ("<frame.yuv>", "<out.bin>")
if len(args) != len(expected) or any(e not in placeholders and a != e for a, e in zip(args, expected)):
    sys.stderr.write("unexpected command line: %s\\nrecorded: %s\\n" % (args, expected))
    sys.exit(9)
frame_in = args[expected.index("<frame.yuv>")]
if open(frame_in, "rb").read() != open({yuv!r}, "rb").read():
    sys.stderr.write("input frame %s differs from the recorded one\\n" % frame_in)
    sys.exit(8)
shutil.copyfile({bitstream!r}, args[expected.index("<out.bin>")])
sys.stdout.write(open({log!r}).read())
'''


def replay_tool(path: Path, run: Run) -> Path:
    """An executable `vvencFFapp` at `path` that replays `run` (see the module docstring)."""
    path.write_text(_REPLAY.format(python=sys.executable, version=VERSION, stem=run.stem,
                                   version_log=str(VVENC / "vvencFFapp.version.log"), argv=json.dumps(list(run.argv)),
                                   yuv=str(run.yuv), bitstream=str(run.bitstream), log=str(run.log)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path
