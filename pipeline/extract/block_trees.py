"""A boosted tree ensemble as flat arrays, scored by a compiled loop: the fast extractor's model at run time.

Training uses LightGBM (classifiers/extractor.py), whose own predict() costs ~0.7 ms for one page's ~190 blocks
through its Python wrapper, as much as parsing the page; this loop scores them in a few microseconds. The arrays
are stored as .npz (np.load with allow_pickle=False), so running the stage needs neither LightGBM nor pickle.

Node arrays (one entry per node, trees concatenated): feature, threshold, left, right (-1 at a leaf), value (the
leaf's raw score), default_left (where NaN goes); roots = each tree's first node. P(content) = sigmoid(sum of leaves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ARRAYS = ("feature", "threshold", "left", "right", "value", "default_left", "roots")


_kernel = None


def _compiled():
    global _kernel
    if _kernel is None:
        from pipeline.compiled import jit

        @jit()
        def raw_scores(x, feature, threshold, left, right, value, default_left, roots, out):  # pragma: no cover
            for i in range(x.shape[0]):
                total = 0.0
                for t in range(roots.shape[0]):
                    node = roots[t]
                    while left[node] >= 0:
                        v = x[i, feature[node]]
                        if v != v:
                            go_left = default_left[node]
                        else:
                            go_left = v <= threshold[node]
                        node = left[node] if go_left else right[node]
                    total += value[node]
                out[i] = total

        _kernel = raw_scores
    return _kernel


class TreeEnsemble:
    """Binary boosted trees; `probabilities(x)` = sigmoid(sum over trees of the leaf each row reaches)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        missing = [name for name in ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"tree ensemble lacks arrays {missing}")
        self.feature = np.ascontiguousarray(arrays["feature"], dtype=np.int32)
        self.threshold = np.ascontiguousarray(arrays["threshold"], dtype=np.float64)
        self.left = np.ascontiguousarray(arrays["left"], dtype=np.int32)
        self.right = np.ascontiguousarray(arrays["right"], dtype=np.int32)
        self.value = np.ascontiguousarray(arrays["value"], dtype=np.float64)
        self.default_left = np.ascontiguousarray(arrays["default_left"], dtype=np.bool_)
        self.roots = np.ascontiguousarray(arrays["roots"], dtype=np.int32)
        n = len(self.feature)
        if any(len(a) != n for a in (self.threshold, self.left, self.right, self.value, self.default_left)):
            raise ValueError("tree ensemble arrays differ in length")
        inner = self.left >= 0
        if (self.roots.size == 0 or self.roots.min() < 0 or self.roots.max() >= n
                or (inner & ((self.left >= n) | (self.right < 0) | (self.right >= n))).any()):
            raise ValueError("tree ensemble has a child or root index out of range")
        self.n_features = int(self.feature[inner].max()) + 1 if inner.any() else 0
        # The kernel compares float32 features with float32 thresholds (~10% faster than float64): each threshold
        # rounded down to the largest float32 not above it, so for every float32 v, v <= t32 exactly when v <= t.
        with np.errstate(over="ignore"):  # beyond float32's range: +-inf, then the largest float32 below +inf
            self._threshold32 = self.threshold.astype(np.float32)
        above = self._threshold32.astype(np.float64) > self.threshold
        self._threshold32[above] = np.nextafter(self._threshold32[above], np.float32(-np.inf))

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] < self.n_features:
            raise ValueError(f"expected (rows, >= {self.n_features}) features, got {x.shape}")
        out = np.empty(x.shape[0], dtype=np.float64)
        _compiled()(x, self.feature, self._threshold32, self.left, self.right, self.value, self.default_left,
                    self.roots, out)
        return out

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.raw_scores(x), -50.0, 50.0)))

    @classmethod
    def from_lightgbm(cls, dump: dict) -> TreeEnsemble:
        """From `Booster.dump_model()` of a binary objective with numerical splits only."""
        columns: dict[str, list] = {name: [] for name in ARRAYS}

        def add(node: dict) -> int:
            index = len(columns["feature"])
            for name in ("feature", "threshold", "left", "right", "value", "default_left"):
                columns[name].append(0)
            if "leaf_value" in node or "split_feature" not in node:
                columns["left"][index] = columns["right"][index] = -1
                columns["value"][index] = float(node.get("leaf_value", 0.0))
                return index
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"unsupported split {node.get('decision_type')!r} (categorical features?)")
            columns["feature"][index] = int(node["split_feature"])
            columns["threshold"][index] = float(node["threshold"])
            columns["default_left"][index] = bool(node.get("default_left", True))
            columns["left"][index] = add(node["left_child"])
            columns["right"][index] = add(node["right_child"])
            return index

        for tree in dump["tree_info"]:
            columns["roots"].append(add(tree["tree_structure"]))
        return cls({name: np.asarray(values) for name, values in columns.items()})


def save_ensembles(path: str | Path, ensembles: dict[str, TreeEnsemble]) -> None:
    """Several named ensembles in one .npz (arrays named '<name>/<array>')."""
    arrays = {f"{name}/{array}": getattr(trees, array) for name, trees in ensembles.items() for array in ARRAYS}
    with open(path, "wb") as f:  # np.savez_compressed on a path would append ".npz"
        np.savez_compressed(f, **arrays)


def load_ensembles(path) -> dict[str, TreeEnsemble]:
    """From a path or a binary file object."""
    with np.load(path, allow_pickle=False) as data:
        names = sorted({key.split("/", 1)[0] for key in data.files})
        return {name: TreeEnsemble({array: data[f"{name}/{array}"] for array in ARRAYS
                                    if f"{name}/{array}" in data.files}) for name in names}
