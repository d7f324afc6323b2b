"""KFP metric names of RD points and BD-rates, and the HTML page of a report."""
import numpy as np

from fcbench.components.rd_points import RDPoint
from fcbench.components.report_html import bd_metric_names, point_metric_names, render_html
from fcbench.components.reporting import build_report


def _points(codec, rates, model="m", cost=1.0):
    """An RD curve; `cost` times the rate for the same metric (cost 1.1 = BD-rate +10 %)."""
    q = 70 + 4 * np.log2(np.asarray(rates) / 0.05)
    rates = [r * cost for r in rates]
    return [RDPoint(model=model, task="t", label=codec, rate_point=22 + 5 * i, bpfp=float(r), ebpfp=float(r),
                    metric="acc", metric_value=float(v), direction="higher", feature_mse=0.1)
            for i, (r, v) in enumerate(zip(rates, q))]


def test_point_metric_names_match_the_evaluate_task_and_the_folders():
    """One spelling of a rate point everywhere: the sweep folder's rate tag (crf33 for av1, never
    qp33; lambda0.01 for the hyperprior), whatever KFP did to the number."""
    from fcbench.codecs.common.types import point_name, rate_tag
    from fcbench.codecs.registry import codec_class
    from fcbench.components.stages.evaluate import point_metrics

    assert point_metric_names("x265", 32.0, "qp", {"bpfp": 0.5}) == {"x265@qp32:bpfp": 0.5}
    assert point_metric_names("av1", 33.0, codec_class("av1").rate_unit, {"bpfp": 0.5}) == {"av1@crf33:bpfp": 0.5}
    assert point_metric_names("hyperprior", 0.01, "lambda", {"top1": 70.0}) == {"hyperprior@lambda0.01:top1": 70.0}
    assert point_metric_names("hyperprior", 1.0, "lambda", {"top1": 70.0}) == {"hyperprior@lambda1:top1": 70.0}
    assert point_metric_names("bypass-traditional", 0, "qp", {"mse": 1.0}) == {"bypass-traditional@qp0:mse": 1.0}
    assert point_name("av1", 33, "crf") == "av1@" + rate_tag(33, "crf")  # the folder's name after the @
    assert point_name("uncompressed", None) == "uncompressed"
    evaluated = [RDPoint(model="m", task="t", label=codec, rate_point=rp, bpfp=b, ebpfp=b, metric="top1",
                         metric_value=v, direction="higher", feature_mse=0.1, params={"rate_unit": unit}).as_dict()
                 for codec, rp, unit, b, v in (("av1", 33.0, "crf", 0.5, 60.0), ("hyperprior", 0.01, "lambda", 0.2, 50.0))]
    got = point_metrics(evaluated)
    coded = {**point_metric_names("av1", 33.0, "crf", {"bpfp": 0.5}),
             **point_metric_names("hyperprior", 0.01, "lambda", {"bpfp": 0.2})}
    assert all(got[name] == value for name, value in coded.items())  # the coding tasks' names, same values
    assert got["av1@crf33:top1"] == 60.0 and got["hyperprior@lambda0.01:top1"] == 50.0


def test_bd_rate_metrics_and_the_html_page(tmp_path):
    rates = [0.05, 0.1, 0.2, 0.4]
    points = _points("vtm", rates) + _points("x265", rates, cost=1.1)
    report = build_report(points, tmp_path, anchor="vtm", title="t <1>")
    names = bd_metric_names(report)
    assert list(names) == ["bd_rate_x265_vs_vtm"] and abs(names["bd_rate_x265_vs_vtm"] - 10.0) < 1e-6
    page = render_html(report, "Tracking: offline", "https://mlflow/x", "https://kfp/y", offline=True)
    assert page.startswith("<!doctype html>") and "t &lt;1&gt;" in page  # escaped
    assert "data:image/png;base64," in page and "https://mlflow/x" in page and "https://kfp/y" in page
    assert "class='warn'" in page and "10.00" in page
    two = build_report(points + _points("vtm", rates, model="n") + _points("x265", rates, model="n", cost=1.1), tmp_path / "2")
    assert set(bd_metric_names(two)) == {"m_t_bd_rate_x265_vs_vtm", "n_t_bd_rate_x265_vs_vtm"}


def _cells_of_markdown(text: str) -> list[str]:
    return [c.strip() for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")
            for c in line.strip("|").split(" | ")]


def _cells_of_html(page: str) -> list[str]:
    import html
    import re

    return [html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", page)]


def test_the_html_page_and_the_markdown_carry_the_same_figures(tmp_path):
    """#22 item 2: report.html left out speed-ups, CPU times, feature PSNR and its BD-rate, the
    preset line and the chain table; both are now rendered from the same blocks."""
    rates = [0.05, 0.1, 0.2, 0.4]
    points = [RDPoint(**{**p.as_dict(), "feature_psnr": 30.0 + i, "enc_s": 0.5, "dec_s": 0.25,
                         "params": {"rate_unit": "qp", "chain.outliers": "true", "chain.outlier_bits": 16,
                                    "chain.outlier_fill": "median", "chain.ranges": "fitted"}})
              for i, p in enumerate(_points("vtm", rates) + _points("x265+side", rates, cost=0.8))]
    report = build_report(points, tmp_path, anchor="vtm")
    page = report.html.read_text()
    assert _cells_of_markdown(report.text) == _cells_of_html(page)
    for words in ("Preset:", "Used in this report: anchor vtm", "Summary", "x265+side wins", "enc speed-up",
                  "BD-rate % (feature PSNR)", "Coding chains", "negative = fewer bits", "enc CPU s/sample"):
        assert words in report.text and words in page, words
    assert report.html in report.files and "data:image/png;base64," in page


def test_the_report_stage_writes_each_page_once_with_its_tracking_note(tmp_path, monkeypatch):
    """#21 item 6: build_report wrote report.md and report.html, then the stage wrote both again."""
    import json

    from fcbench.codecs.common import atomic
    from fcbench.components import reporting
    from fcbench.components.stages.report import make_report

    files = []
    for i, p in enumerate(_points("x265", [0.1, 0.2, 0.4, 0.8]) + _points("av1", [0.1, 0.2, 0.4, 0.8], cost=0.9)):
        files.append(tmp_path / f"p{i}.json")
        files[-1].write_text(json.dumps(p.as_dict()))
    writes: list[str] = []
    real = atomic.write_bytes

    def counting(path, data):
        writes.append(str(path))
        return real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", counting)
    monkeypatch.setattr(reporting, "write_bytes", counting)
    make_report([str(f) for f in files], str(tmp_path / "report"), "x265", "", "off", {})
    pages = [w for w in writes if w.endswith(("report.md", "report.html"))]
    assert sorted(pages) == sorted([str(tmp_path / "report" / "report.md"), str(tmp_path / "report" / "report.html")])
    assert writes[-1].endswith("report.md")  # last: its presence means the report is complete
    assert "Tracking is off for this run." in (tmp_path / "report" / "report.md").read_text()
