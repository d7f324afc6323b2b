"""One validation for what every command takes (#24 item 3): a bit depth outside 1..16, an empty
output name and a feature encode would refuse (Inf, float16 Inf, float64 beyond float32) are
refused by every command, naming the problem."""
from __future__ import annotations

import numpy as np
import pytest

from fcbench.pipelines.cli import main


@pytest.mark.parametrize("argv", [
    ["encode", "--features", "f", "--codec", "x265", "--qp", "32", "--out", "o", "--bit-depth", "0"],
    ["encode", "--features", "f", "--codec", "x265", "--qp", "32", "--out", "o", "--bit-depth", "17"],
    ["encode", "--features", "f", "--codec", "x265", "--qp", "32", "--out", ""],
    ["pack", "x.npy", "--low", "-5", "--high", "5", "--out", "o.yuv", "--bit-depth", "0"],
    ["pack", "x.npy", "--low", "-5", "--high", "5", "--out", ""],
])
def test_bad_arguments_exit_2_naming_them(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert ("bit_depth must be an integer in 1..16" in err) or ("an empty output" in err)


@pytest.mark.parametrize("value, dtype, says", [(np.inf, np.float32, "non-finite"), (np.inf, np.float16, "non-finite"),
                                                (1e300, np.float64, "beyond float32")])
def test_pack_refuses_what_encode_refuses(tmp_path, capsys, value, dtype, says):
    x = np.zeros((1, 1, 4, 8), dtype=dtype)
    x[0, 0, 1, 1] = value
    np.save(tmp_path / "x.npy", x)
    assert main(["pack", str(tmp_path / "x.npy"), "--low", "-5", "--high", "5", "--out", str(tmp_path / "o.yuv")]) == 1
    err = capsys.readouterr().err
    assert says in err and "x.npy" in err and not (tmp_path / "o.yuv").exists()


@pytest.mark.parametrize("argv, typo, meant", [
    (["encode", "--featurs", "f", "--codec", "x265", "--out", "o"], "--featurs", "--features"),
    (["encode", "--features", "f", "--codec", "x265", "--out", "o", "--qpp", "3"], "--qpp", "--qp"),
])
def test_a_misspelt_option_gets_its_close_match(argv, typo, meant, capsys):
    """#22 item 7: `--featurs` was reported as "required: --features" alone."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert f"{typo} is not an option of fcbench encode: did you mean {meant}?" in capsys.readouterr().err


@pytest.mark.parametrize("low, says", [("-inf", "truncation range [-inf, 5] is not finite"),
                                       ("-nan", "not finite")])
def test_a_negative_non_finite_value_is_a_value_not_an_option(tmp_path, capsys, low, says):
    """#24 item 9: `--low -inf` used to say "expected at least one argument"."""
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 4, 8), dtype=np.float32))
    assert main(["pack", str(tmp_path / "x.npy"), "--low", low, "--high", "5", "--out", str(tmp_path / "o.yuv")]) == 1
    assert says in capsys.readouterr().err


def test_negative_numbers_in_exponent_form_are_values(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 4, 8), dtype=np.float32))
    for low in ("-1e-3", "-2.5E+1"):
        assert main(["pack", str(tmp_path / "x.npy"), "--low", low, "--high", "5", "--out", str(tmp_path / "o.yuv")]) == 0
