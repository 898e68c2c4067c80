"""The tokenizer `sluice run` trains on its own corpus (OUTPUT/tokenizer.json), kept only while it belongs to it.

It was reused whenever no earlier stage ran in the same invocation: change [classify], kill the run right after the
new classified/_SUCCESS, run again, and the tokenizer trained on the old classified/ tokenized the new one (shards
unlike a clean run's); a changed [tokenize] vocab_size was ignored the same way. Now the tokenizer carries a record
beside it (`tokenizer.json.trained-on`) of what it was trained from: the hash of its input stage (classified/ or
decontaminated/, from that output's _stage.json) and the [tokenize] keys training reads. A tokenizer whose record
differs, or that has none, is trained again. The record is written after the tokenizer and removed before a new one
is trained, so a kill in between leaves no record, and the next run trains again.
"""

from __future__ import annotations

import json
import uuid

from jobs.base import filesystem, remove_stale_temp_outputs
from pipeline.config import config_hash
from pipeline.stats import STAGE_FILE

RECORD_SUFFIX = ".trained-on"
TRAINING_KEYS = ("vocab_size", "eos_token", "min_frequency", "train_sample_mb")


def training_hash(corpus: str, config) -> str | None:
    """What decides the tokenizer: the corpus stage's hash and the training keys; None when the corpus has none."""
    fs, path = filesystem(corpus)
    try:
        with fs.open(f"{path.rstrip('/')}/{STAGE_FILE}") as f:
            corpus_hash = json.load(f)["config_hash"]
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return config_hash({"corpus": corpus_hash, "tokenize": {k: getattr(config, k) for k in TRAINING_KEYS}})


def recorded_training(tokenizer: str) -> str | None:
    fs, path = filesystem(tokenizer)
    try:
        if not fs.exists(path):
            return None
        with fs.open(f"{path}{RECORD_SUFFIX}") as f:
            return json.load(f).get("hash")
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def ensure_trained(corpus: str, tokenizer: str, config, ran_upstream: bool) -> bool:
    """Train `tokenizer` on `corpus` unless the one there was trained from the same corpus and keys. True if it
    trained one."""
    wanted = training_hash(corpus, config)
    if wanted is None:  # a corpus no stage wrote (no _stage.json): trained again when an earlier stage just ran
        fs, path = filesystem(tokenizer)
        stale = ran_upstream or not fs.exists(path)
    else:
        stale = recorded_training(tokenizer) != wanted
    if stale:
        train(corpus, tokenizer, config, wanted)
    return stale


def train(corpus: str, output: str, config, record_hash: str | None) -> None:
    from pipeline.tokenize.tokenizer import sample_texts, train_tokenizer

    fs, path = filesystem(output)
    if fs.exists(f"{path}{RECORD_SUFFIX}"):
        fs.rm(f"{path}{RECORD_SUFFIX}")  # from here until the new record, the tokenizer belongs to nothing
    texts = sample_texts(corpus, config.train_sample_mb << 20)
    tokenizer = train_tokenizer(texts, config.vocab_size, config.eos_token, config.min_frequency)
    remove_stale_temp_outputs(output)
    _write_atomically(fs, path, tokenizer.to_str(pretty=True))  # a killed run never leaves half a file
    if record_hash is not None:
        record = {"hash": record_hash, "corpus": corpus, **{k: getattr(config, k) for k in TRAINING_KEYS}}
        _write_atomically(fs, f"{path}{RECORD_SUFFIX}", json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"tokenizer: trained a {tokenizer.get_vocab_size()}-token byte-level BPE on {corpus} → {output}")


def _write_atomically(fs, path: str, text: str) -> None:
    partial = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    fs.mv(partial, path)
