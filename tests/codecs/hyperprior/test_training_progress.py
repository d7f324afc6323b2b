"""A training says what it will do, where it is and how long it still needs (#22 item 5)."""
from __future__ import annotations

import numpy as np

from fcbench.codecs import FeatureSet
from fcbench.codecs.hyperprior import train
from fcbench.codecs.hyperprior.progress import Progress


def test_a_training_prints_its_settings_and_the_time_left(tmp_path, capsys):
    with FeatureSet.create(tmp_path / "set", "dinov2", "cls", "synthetic") as fs:
        for i in range(6):
            fs.write(f"s{i}", np.random.default_rng(i).standard_normal((1, 1, 64, 64)).astype(np.float32))
    train(tmp_path / "set", tmp_path / "out", 0.01, crop=(64, 64), epochs=2, batch_size=4, N=8, M=8, low=-3.0, high=3.0,
          layout="generic", plot=False)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("training bmshj2018-hyperprior (N=8 (given), M=8 (given)) at lambda 0.01 on cpu with ")
    assert "2 epochs (given) x 2 steps of batch 4 (given), crop 64x64 (given)" in err[1]
    assert "time left: estimated after the first epoch" in err[3]
    epochs = [line for line in err if line.startswith("epoch ")]
    assert len(epochs) == 2 and " left)" in epochs[0] and epochs[1].endswith(" s, done)")


def test_long_epochs_report_their_steps(capsys):
    bar = Progress(True, max_epochs=3, steps_per_epoch=100, every_s=0.0)
    bar.epoch_started(0)
    bar.step_done(1)
    assert "epoch 1: step 1/100 (" in capsys.readouterr().err
    assert bar.eta(60.0, 1) == "60.0 s, about 2 min left"
    quiet = Progress(False, 3, 100, every_s=0.0)
    quiet.epoch_started(0)
    quiet.step_done(1)
    assert capsys.readouterr().err == ""
