"""Shape laws: a quantity of one block (saved bytes, recompute time) as a function of the batch shape (B, S).

Fitted by least squares over tokens T = B*S, T*S (attention) and a constant from the shapes measured during the
collection steps; the planner predicts every later shape from them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trainer.model import LOSS_CHUNK_TOKENS

Shape = tuple[int, int]  # (batch B, sequence S)


def poly_features(degree: int) -> Callable[[int, int], list[float]]:
    """[T, 1, T*S, T*S^2, ...] up to `degree`, most important first: fewer distinct shapes than features fit
    only a prefix (one shape: bytes proportional to tokens; two: affine in tokens)."""
    def features(B: int, S: int) -> list[float]:
        T = float(B * S)
        return [T, 1.0] + [T * float(S) ** k for k in range(1, degree)]
    return features


def residual_features(B: int, S: int) -> list[float]:
    """Memory outside the blocks: constant, the loss's logits (one chunk of at most LOSS_CHUNK_TOKENS tokens
    exists at once) and per-token tensors such as the embedding output."""
    T = float(B * S)
    return [1.0, min(T, float(LOSS_CHUNK_TOKENS)), T]


class ShapeLaw:
    """y(B, S) by least squares over features of the shape; samples of one shape are averaged."""

    def __init__(self, features: Callable[[int, int], list[float]]):
        self.features = features
        self._samples: dict[Shape, list[float]] = {}
        self._coef: np.ndarray | None = None

    def add(self, shape: Shape, y: float) -> None:
        self._samples.setdefault(shape, []).append(float(y))
        self._coef = None

    @property
    def shapes(self) -> list[Shape]:
        return sorted(self._samples)

    def _fit(self, shapes: Sequence[Shape]) -> np.ndarray:
        X = np.array([self.features(*s) for s in shapes], dtype=np.float64)
        X = X[:, :min(len(shapes), X.shape[1])]
        y = np.array([np.mean(self._samples[s]) for s in shapes])
        scale = np.abs(X).max(axis=0)  # columns span 1 .. 1e9: scale them for a well-conditioned solve
        scale[scale == 0] = 1.0
        coef, *_ = np.linalg.lstsq(X / scale, y, rcond=None)
        return coef / scale

    def predict(self, shape: Shape) -> float:
        if not self._samples:
            raise ValueError("ShapeLaw.predict before any sample")
        if self._coef is None:
            self._coef = self._fit(self.shapes)
        x = np.array(self.features(*shape)[:len(self._coef)])
        return max(0.0, float(x @ self._coef))

    def held_out_error(self) -> float | None:
        """Mean relative error predicting each measured shape from a fit on all the other shapes."""
        shapes = self.shapes
        errors = []
        for i, s in enumerate(shapes):
            truth = float(np.mean(self._samples[s]))
            if len(shapes) < 2 or truth <= 0:
                continue
            coef = self._fit(shapes[:i] + shapes[i + 1:])
            pred = max(0.0, float(np.array(self.features(*s)[:len(coef)]) @ coef))
            errors.append(abs(pred - truth) / truth)
        return float(np.mean(errors)) if errors else None

