"""Sweeps: every sample of a feature set through a codec at every rate point, jobs cached and resumable."""
