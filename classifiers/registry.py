"""Models by versioned name: `quality_v1` lives in `<models dir>/quality_v1.bin`, and so on.

A new model version gets a new name here, so a run.toml that names `quality_v1` keeps meaning the same
model family after `quality_v2` exists.
"""

from __future__ import annotations

from pathlib import Path

from classifiers.fasttext_model import ModelError

# name -> (role in the stage, file suffix)
MODELS: dict[str, tuple[str, str]] = {
    "clutter_v1": ("clutter", ".bin"),
    "quality_v1": ("quality", ".bin"),
    "domain_v1": ("domain", ".bin"),
    "domain_clusters_v1": ("domain", ".npz"),
    "webtype_v1": ("webtype", ".bin"),
    "embedding_v1": ("embedding", ".bin"),  # semantic dedup's vectors, loaded by classifiers.embedding
}


def model_path(models_dir: str | Path, name: str) -> Path:
    if name not in MODELS:
        raise ModelError(f"unknown model name {name!r} (known: {', '.join(MODELS)})")
    return Path(models_dir) / f"{name}{MODELS[name][1]}"


def load_model(models_dir: str | Path, name: str, role: str, max_chars: int = 20000, allow_uncarded: bool = False):
    """Load model `name` for `role` ('clutter', 'quality' or 'domain') from `models_dir`; a model without its card
    is refused unless `allow_uncarded` (the cluster model cannot go without one: its card holds the names)."""
    path = model_path(models_dir, name)
    if MODELS[name][0] != role:
        raise ModelError(f"{name} is a {MODELS[name][0]} model; it cannot be the {role} model")
    if name == "domain_clusters_v1":
        from classifiers.clusters import ClusterDomainModel

        return ClusterDomainModel.load(path)
    if name == "clutter_v1":
        from classifiers.clutter import ClutterModel as cls
    elif name == "quality_v1":
        from classifiers.quality import QualityModel as cls
    elif name == "webtype_v1":
        from classifiers.webtype import WebTypeModel as cls
    elif name == "embedding_v1":
        from classifiers.embedding import FastTextEmbedding

        return FastTextEmbedding.load(path, max_chars)
    else:
        from classifiers.domain import DomainModel as cls
    return cls.load(path, max_chars, allow_uncarded)
