"""What a hyperprior training tells its user while it runs: what it will do (a header with every
effective setting and where it came from), where it is (a line every `every_s` seconds inside a
long epoch) and how long it still needs (an estimate after each epoch, from the epochs so far).
A step of the test conditions' batch 128 at 256x256 takes about 15 s on 2 CPU cores, so a run
that prints only per epoch can look hung for an hour.
"""
from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def header(options: dict, sources: dict, threads: int, steps_per_epoch: int, n_train: int, n_val: int) -> str:
    """The settings a training runs with, one block, each with its source (test conditions,
    given, preset, fallback)."""
    model = options["model"]
    crop = "x".join(str(c) for c in options["crop"])

    def src(name: str) -> str:
        return f" ({sources[name]})" if name in sources else ""

    steps = f", at most {options['steps']} steps" if options.get("steps") else ""
    return "\n".join([
        f"training {model['arch']} (N={model['N']}{src('N')}, M={model['M']}{src('M')}) at lambda {options['lmbda']:g} "
        f"on {options['device']} with {threads} torch thread(s)",
        f"  {options['epochs']} epochs{src('epochs')}{steps} x {steps_per_epoch} steps of batch {options['batch_size']}"
        f"{src('batch_size')}, crop {crop}{src('crop')}, Adam lr {options['lr']:g}{src('lr')}",
        f"  {n_train} training frames ({options['crops_per_epoch']} crops an epoch), {n_val} validation frames, "
        f"validation {options['validation']}{src('validation')}, evaluates the {options['evaluate']} checkpoint",
        "  time left: estimated after the first epoch",
    ])


class Progress:
    """Prints to stderr when enabled; `every_s` spaces the in-epoch lines."""

    def __init__(self, enabled: bool, max_epochs: int, steps_per_epoch: int, every_s: float = 30.0) -> None:
        self.enabled, self.max_epochs, self.steps_per_epoch, self.every_s = enabled, max_epochs, steps_per_epoch, every_s
        self._epoch_seconds: list[float] = []
        self._epoch, self._started, self._last = 0, time.perf_counter(), time.perf_counter()

    def say(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def epoch_started(self, epoch: int) -> None:
        self._epoch, self._started = epoch, time.perf_counter()
        self._last = self._started

    def step_done(self, taken: int) -> None:
        """After each optimizer step of the epoch: a line when `every_s` passed since the last."""
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            per_step = (now - self._started) / max(taken, 1)
            self.say(f"  epoch {self._epoch + 1}: step {taken}/{self.steps_per_epoch} ({per_step:.1f} s a step)")

    def eta(self, epoch_seconds: float, epochs_done: int) -> str:
        """How long the rest takes at the mean pace of the epochs timed so far."""
        self._epoch_seconds.append(epoch_seconds)
        left = self.max_epochs - epochs_done
        if left <= 0:
            return f"{epoch_seconds:.1f} s, done"
        mean = sum(self._epoch_seconds) / len(self._epoch_seconds)
        return f"{epoch_seconds:.1f} s, about {_duration(left * mean)} left"
