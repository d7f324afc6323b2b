"""Closed-loop prediction of one group's klt coefficients (tokens x components).

Two predictors, both from what the decoder will already have reconstructed:
- lag: component k of a token is predicted as rho_k times its reconstruction `lag` tokens back
  (the previous token, channels last; the row above, channels first), for the components the
  table fitted a rho for (|rho| >= 0.2);
- match (when the match window is > 0): the whole reconstruction of one earlier token within
  the window, the one closest to this token. Transformer features repeat themselves far apart
  (special tokens, recurring words, similar contexts), which a fixed lag cannot see: on MiniLM
  hidden states the closest earlier token leaves 30-60 % of a token's energy.

With a window the encoder decides per token, by the model's bits plus lambda-weighted squared
error, whether a match pays for its side information (a flag and the distance back); the decoder
reads the distances and repeats the prediction. Without a window only the lag predictor runs,
vectorized as before (payload version 1).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from fcbench.codecs.klt.entropy import AdaptiveModel, BitCosts, match_sides, quantize_block, rdo_levels
from fcbench.codecs.klt.table import Group

MODE_LAMBDA = 0.2  # lambda / step^2 of the match decision (squared error vs bits)


class MatchModel:
    """The probability that a token is matched: block-adaptive counts (Krichevsky-Trofimov), the
    same on both sides."""

    def __init__(self) -> None:
        self.matched, self.flagged = 0.5, 1.0

    def probability(self) -> float:
        return min(max(self.matched / self.flagged, 1e-4), 1.0 - 1e-4)

    def update(self, distances: np.ndarray, start: int) -> None:
        """Count a block's flags (match_sides says which tokens carry one) and its matches."""
        self.flagged += int(np.count_nonzero(match_sides(start, distances.size, 1)[0]))
        self.matched += int(np.count_nonzero(distances))


class GroupCoder:
    """One group: its adaptive coefficient model, the match model and the prediction."""

    def __init__(self, group: Group, step: float, prior_deadzone: float, prior_tokens: int, lag: int, window: int,
                 tokens: int):
        self.rho = np.asarray(group.prediction, dtype=np.float64)  # 0 where a component is not predicted
        self.predicted = self.rho != 0
        self.step, self.lag, self.window = step, lag, int(window)
        self.model = AdaptiveModel(group.scale, step, prior_deadzone, prior_tokens)
        self.matches = MatchModel()
        self.previous: Optional[np.ndarray] = None  # lag-only encoder: the last reconstructed row of the predicted components
        if self.window:
            self.rec = np.zeros((tokens, self.rho.size))  # every reconstructed token (the match candidates)
            self.norms = np.zeros(tokens)

    # ---- encoder -------------------------------------------------------------------------------
    def quantize(self, y: np.ndarray, start: int, deadzone: float, rdoq: float, p0: np.ndarray,
                 t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The block y (tokens x components) starting at token `start`, coded under the block's
        model (p0, t) -> (its integers, each token's match distance, 0 for the lag prediction)."""
        costs = BitCosts(p0, t)
        if self.window:
            return self._quantize_matching(y, start, deadzone, rdoq, costs)
        return self._quantize_lag(y, deadzone, rdoq, costs), np.zeros(y.shape[0], dtype=np.int64)

    def _quantize_lag(self, y: np.ndarray, deadzone: float, rdoq: float, costs: BitCosts) -> np.ndarray:
        q = np.empty(y.shape, dtype=np.int64)
        plain = ~self.predicted
        q[:, plain] = quantize_block(y[:, plain], self.step, deadzone, rdoq, costs.columns(plain))
        if not self.predicted.any():
            return q
        rho, cols = self.rho[self.predicted], self.predicted
        predicted_costs = costs.columns(cols)
        for row in range(0, y.shape[0], self.lag):  # a row of `lag` tokens depends on the row before it
            previous = self.previous if self.previous is not None else np.zeros((self.lag, int(cols.sum())))
            prediction = rho * previous[: min(self.lag, y.shape[0] - row)]
            part = quantize_block(y[row:row + self.lag, cols] - prediction, self.step, deadzone, rdoq, predicted_costs)
            q[row:row + self.lag, cols] = part
            self.previous = prediction + part * self.step
        return q

    def _quantize_matching(self, y: np.ndarray, start: int, deadzone: float, rdoq: float,
                           costs: BitCosts) -> tuple[np.ndarray, np.ndarray]:
        """Token by token (each is predicted from reconstructions): the cheaper of the lag
        prediction and the closest earlier reconstruction, by squared error + lambda * bits
        (its side information included), then the residual quantized as quantize_block does."""
        q = np.empty(y.shape, dtype=np.int64)
        distances = np.zeros(y.shape[0], dtype=np.int64)
        p_match = self.matches.probability()
        step, lam, rdo_lam = self.step, MODE_LAMBDA * self.step * self.step, rdoq * self.step * self.step
        flag_costs = np.array([-math.log2(1.0 - p_match), -math.log2(p_match)])
        for i in range(y.shape[0]):
            token, target = start + i, y[i]
            prediction = self._lag_prediction(token)
            if token > 0:
                low = max(0, token - self.window)
                nearest = low + int(np.argmin(self.norms[low:token] - 2.0 * (self.rec[low:token] @ target)))
                residuals = np.stack((target - prediction, target - self.rec[nearest]))
            else:
                residuals = (target - prediction)[None]
            magnitude = np.abs(residuals)
            a = np.floor(magnitude / step + deadzone)
            choice = 0
            if token > 0:
                error = magnitude - a * step
                side = flag_costs + (0.0, math.log2(token - low) if token - low > 1 else 0.0)
                cost = (error * error).sum(axis=1) + lam * (costs.bits(a).sum(axis=1) + side)
                choice = int(cost[1] < cost[0])
                if choice:
                    prediction, distances[i] = self.rec[nearest], token - nearest
            levels = a[choice]
            if rdoq > 0:
                levels = rdo_levels(magnitude[choice], levels, step, rdo_lam, costs)
            q[i] = (np.sign(residuals[choice]) * levels).astype(np.int64)
            self._reconstructed(token, prediction + q[i] * step)
        return q, distances

    # ---- both sides ----------------------------------------------------------------------------
    def _lag_prediction(self, token: int) -> np.ndarray:
        if token < self.lag or not self.predicted.any():
            return np.zeros(self.rho.size)
        return self.rho * self.rec[token - self.lag]

    def _reconstructed(self, token: int, values: np.ndarray) -> None:
        self.rec[token] = values
        self.norms[token] = float(values @ values)

    # ---- decoder -------------------------------------------------------------------------------
    def reconstruct(self, q: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """Coefficients from all of a group's integers (tokens x components) and match distances."""
        if self.window:
            for token in range(q.shape[0]):
                d = int(distances[token])
                prediction = self.rec[token - d] if d else self._lag_prediction(token)
                self.rec[token] = prediction + q[token] * self.step
            return self.rec
        y = q * self.step
        if self.predicted.any():
            from scipy.signal import lfilter

            rows = y.shape[0] // self.lag
            for k in np.flatnonzero(self.predicted):  # y[r] = e[r] + rho * y[r - 1], row by row of `lag` tokens
                y[:, k] = lfilter([1.0], [1.0, -self.rho[k]], y[:, k].reshape(rows, self.lag), axis=0).ravel()
        return y
