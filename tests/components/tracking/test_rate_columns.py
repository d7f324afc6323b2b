"""Reports show the paper's BPFP, with side information and container overhead in their own columns."""
from __future__ import annotations

import pytest

from fcbench.components.reporting import RDPoint, build_report, load_points


def _point(codec, qp, bpfp, **extra):
    return RDPoint(model="m", task="t", label=codec, rate_point=qp, bpfp=bpfp, ebpfp=bpfp, metric="acc",
                   metric_value=60 + 10 * bpfp, direction="higher", feature_mse=0.1, **extra)


def test_container_column_and_side_column_only_when_coded(tmp_path):
    plain = [_point("vtm", q, b, container_bpfp=0.004, side_bpfp=0.0) for q, b in ((22, 0.4), (32, 0.2), (42, 0.1))]
    report = build_report(plain, tmp_path / "a")
    assert "| codec | rate point | BPFP | container BPFP | EBPFP |" in report.text
    assert "| vtm | 22 | 0.4 | 0.004 | 0.4 |" in report.text
    side = plain + [_point("vtm-outliers", q, b, container_bpfp=0.004, side_bpfp=0.05)
                    for q, b in ((22, 0.45), (32, 0.25), (42, 0.15))]
    report = build_report(side, tmp_path / "b")
    assert "| BPFP | of which side BPFP | container BPFP |" in report.text
    assert "| vtm-outliers | 22 | 0.45 | 0.05 | 0.004 |" in report.text
    back = {p.key: p for p in load_points(report.points_csv)}
    assert back[("m", "t", "vtm-outliers", "22")].side_bpfp == 0.05
    assert back[("m", "t", "vtm", "22")].container_bpfp == 0.004


def test_side_bits_are_part_of_bpfp():
    with pytest.raises(ValueError, match="side_bpfp 0.5 is part of bpfp 0.2"):
        _point("vtm", 22, 0.2, side_bpfp=0.5)
    with pytest.raises(ValueError, match="negative rate"):
        _point("vtm", 22, 0.2, container_bpfp=-1)
