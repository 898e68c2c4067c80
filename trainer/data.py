"""Token batches from a shard directory: streamed, shuffled, cut to `max_seq_len`, bucketed by length.

Sequences keep their real lengths (documents are not packed), so batch shapes vary from step to step: each
batch holds sequences of one length bucket, right-padded to the bucket length, as many as fit in
`tokens_per_batch`. That variation is what the activation-checkpoint planner works on.

Determinism and resume: a consumer (one DataLoader worker of one rank) reads its own row groups in windows of
about `shuffle_buffer` documents, shuffled with a generator seeded by (seed, rank, worker, window number). A
window's batches depend only on where it starts, so a consumer's position is the reader position at the
window's start, the window number and the next batch; resuming re-reads one window.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pipeline.shards.format import ShardError
from pipeline.shards.reader import ShardReader
from trainer.model import IGNORE_INDEX


class DataError(ValueError):
    """The shard directory or a shard in it is unusable; the message names the file."""


@dataclass(kw_only=True, slots=True)
class DataConfig:
    tokens_per_batch: int = 4096  # padded tokens per batch (B * bucket length) at most, per rank
    max_seq_len: int = 0  # 0: the model's max_seq_len
    shuffle_buffer: int = 1024  # documents shuffled together (one window)
    seed: int = 0
    num_workers: int = 0  # DataLoader worker processes per rank
    bucket_lengths: list[int] = field(default_factory=list)  # empty: 2^k and 1.5*2^k from 16 to max_seq_len
    verify: bool = False  # also check each shard's sha256 against manifest.json before reading it

    def __post_init__(self) -> None:
        if self.tokens_per_batch < 1 or self.shuffle_buffer < 1 or self.num_workers < 0 or self.max_seq_len < 0:
            raise ValueError("data.tokens_per_batch and data.shuffle_buffer must be >= 1, num_workers >= 0")
        if any(b < 1 for b in self.bucket_lengths) or sorted(set(self.bucket_lengths)) != self.bucket_lengths:
            raise ValueError(f"data.bucket_lengths must be increasing positive integers, got {self.bucket_lengths}")


def default_buckets(max_seq_len: int) -> list[int]:
    buckets, b = [], 16
    while b < max_seq_len:
        buckets += [b, b * 3 // 2]
        b *= 2
    return sorted({x for x in buckets if x < max_seq_len} | {max_seq_len})


# --- the shard directory: pipeline.shards.reader.ShardReader is the one reader -----------------------------------
#
# It checks the directory against manifest.json (every listed shard present at its recorded size, no unlisted
# shard, row groups as recorded; with data.verify also each sha256), hands out disjoint row groups per rank and
# worker with `.shard(rank, world_size)`, and its position {"epoch", "shard", "row"} is plain data.

def open_documents(root: str | Path, verify: bool = False):
    """The ShardReader of a shard directory (local path or fsspec URL); DataError naming the problem."""
    url = str(root)
    local = "://" not in url
    if local and not Path(url).exists():
        raise DataError(f"data directory {url} does not exist")
    if local and not Path(url).is_dir():
        raise DataError(f"data path {url} is not a directory of shards")
    try:
        return ShardReader(url, verify=verify)
    except ShardError as e:
        raise DataError(str(e)) from None


def shard_vocabulary(root: str | Path) -> tuple[int, int | None] | None:
    """(vocab_size, eos_id) of the tokenizer the shards were made with, from manifest.json; None when the
    manifest does not record it."""
    tokenizer = open_documents(root).manifest.get("tokenizer") or {}
    if not isinstance(tokenizer.get("vocab_size"), int):
        return None
    eos = tokenizer.get("eos_id")
    return tokenizer["vocab_size"], eos if isinstance(eos, int) else None


def shard_tokenizer(root: str | Path) -> str | None:
    """The text of the shards' tokenizer.json, checked as `sluice inspect` checks it (ShardReader.tokenizer_json:
    sha256, EOS id and vocabulary size against manifest.json); None when there is no tokenizer.json and the
    manifest records none. One the manifest does not vouch for is refused: `sluice export-hf` would ship it."""
    import fsspec

    from pipeline.shards.format import TOKENIZER_FILE, sidecar_path

    reader = open_documents(root)
    fs, shards = fsspec.core.url_to_fs(str(root).rstrip("/"))
    path = sidecar_path(fs, shards, TOKENIZER_FILE)  # _tokenizer.json, or tokenizer.json in older shard folders
    if "sha256" not in (reader.manifest.get("tokenizer") or {}) and not fs.exists(path):
        return None
    try:
        return reader.tokenizer_json()
    except ShardError as e:
        raise DataError(str(e)) from None


def write_tokenizer(text: str, out_dir: str | Path) -> None:
    """The checked tokenizer.json into the run directory (what `sluice export-hf` ships with the model)."""
    from pipeline.shards.format import LEGACY_NAMES, TOKENIZER_FILE

    name = LEGACY_NAMES[TOKENIZER_FILE]  # tokenizer.json in a run directory, as Hugging Face names it
    tmp = Path(out_dir) / f".{name}.tmp"
    tmp.write_bytes(text.encode("utf-8"))  # the bytes whose sha256 was checked
    tmp.replace(Path(out_dir) / name)


def resolve_vocabulary(model_cfg, root: str | Path) -> None:
    """Fills model.vocab_size (and eos_id) from the shards' tokenizer when the config leaves them unset (0, -1);
    a config value that disagrees with the shards is an error naming both."""
    found = shard_vocabulary(root)
    if found is None:
        if model_cfg.vocab_size <= 0:
            raise DataError(f"{root}/manifest.json records no tokenizer vocab_size: set model.vocab_size")
        return
    vocab, eos = found
    if model_cfg.vocab_size <= 0:
        model_cfg.vocab_size = vocab
    elif model_cfg.vocab_size != vocab:
        raise DataError(f"model.vocab_size={model_cfg.vocab_size} but the shards in {root} were tokenized with a "
                        f"vocabulary of {vocab} (manifest.json): unset model.vocab_size or make them agree")
    if model_cfg.eos_id < 0 and eos is not None:
        model_cfg.eos_id = eos
    elif eos is not None and model_cfg.eos_id != eos:
        raise DataError(f"model.eos_id={model_cfg.eos_id} but the shards in {root} end documents with token {eos}")


def token_lists(batch) -> list[np.ndarray]:
    col = batch.column("tokens")
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy(zero_copy_only=False)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


# --- pure functions: how documents become batches --------------------------------------------------------------

def cut_sequences(tokens: np.ndarray, max_seq_len: int) -> list[np.ndarray]:
    """Pieces of at most max_seq_len + 1 tokens (inputs plus the shifted targets), overlapping by one token so
    every token after the first is a target exactly once. Pieces with fewer than two tokens are dropped."""
    step = max_seq_len
    return [tokens[s:s + step + 1] for s in range(0, max(len(tokens) - 1, 0), step)]


def make_batches(seqs: list[np.ndarray], buckets: list[int], tokens_per_batch: int,
                 rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Groups sequences by length bucket into (input_ids_BS, labels_BS, mask_BS) padded to the bucket length, then
    shuffles the batch order. Labels of padding are IGNORE_INDEX; mask_BS is True at real input positions (padding
    is id 0, which is also EOS in real shards, so no one can tell padding from the ids)."""
    by_bucket: dict[int, list[np.ndarray]] = {}
    for seq in seqs:
        by_bucket.setdefault(buckets[bisect.bisect_left(buckets, len(seq) - 1)], []).append(seq)
    batches = []
    for length in sorted(by_bucket):
        group = by_bucket[length]
        per_batch = max(1, tokens_per_batch // length)
        for i in range(0, len(group), per_batch):
            chunk = group[i:i + per_batch]
            inputs = torch.zeros(len(chunk), length, dtype=torch.long)
            labels = torch.full((len(chunk), length), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros(len(chunk), length, dtype=torch.bool)
            for row, seq in enumerate(chunk):
                t = torch.from_numpy(seq.astype(np.int64))
                inputs[row, :len(t) - 1] = t[:-1]
                labels[row, :len(t) - 1] = t[1:]
                mask[row, :len(t) - 1] = True
            batches.append((inputs, labels, mask))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


# --- the stream ------------------------------------------------------------------------------------------------

class TokenBatches(IterableDataset):
    """Endless batches for one rank. Each DataLoader worker is a separate consumer with its own row groups.

    A consumer reads windows: whole record batches until `shuffle_buffer` documents (or the end of an epoch).
    A window's batches depend only on the reader position where it starts and the window's number, so a
    consumer's state is {"reader": position at window start, "window": number, "batch": next batch}.
    """

    def __init__(self, root: str | Path, cfg: DataConfig, max_seq_len: int, rank: int = 0, world_size: int = 1,
                 vocab_size: int | None = None):
        self.root, self.cfg, self.max_seq_len = str(root), cfg, max_seq_len
        self.rank, self.world_size, self.vocab_size = rank, world_size, vocab_size
        self.buckets = [b for b in (cfg.bucket_lengths or default_buckets(max_seq_len)) if b < max_seq_len]
        self.buckets.append(max_seq_len)
        self.n_workers = max(1, cfg.num_workers)
        self.start_states: dict[int, dict] = {}  # local role -> consumer state, set by ShardLoader on resume
        self.rotation = 0  # worker w plays local role (w + rotation) % n_workers, see ShardLoader.load_state_dict

    def consumer(self, local_role: int, docs=None):
        """This consumer's part of the shards: row groups rank::world_size, then worker::n_workers of those (row
        ranges of them when there are fewer row groups than parts: pipeline/shards/reader.py)."""
        docs = docs if docs is not None else open_documents(self.root, self.cfg.verify)
        return docs.shard(self.rank, self.world_size).shard(local_role, self.n_workers)

    def read_window(self, reader, local_role: int, window: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Reads one window from the reader's position (advancing it) and returns its batches."""
        docs: list[np.ndarray] = []
        try:
            for batch in reader.iter_batches(["tokens"]):
                lists = token_lists(batch)
                self._check_ids(lists, reader)
                docs += lists
                if len(docs) >= self.cfg.shuffle_buffer:
                    break
        except ShardError as e:  # a shard damaged after the directory was opened (or failing its sha256)
            raise DataError(str(e)) from None
        rng = np.random.default_rng([self.cfg.seed, self.rank, local_role, window])
        seqs = [seq for doc in docs for seq in cut_sequences(doc, self.max_seq_len)]
        # pieces shuffled, not documents: a batch of one long document's consecutive pieces routes nearly all of
        # its tokens to the same experts (and gives correlated gradients)
        seqs = [seqs[i] for i in rng.permutation(len(seqs))]
        return make_batches(seqs, self.buckets, self.cfg.tokens_per_batch, rng)

    def _check_ids(self, lists: list[np.ndarray], reader) -> None:
        if self.vocab_size is None:
            return
        for tokens in lists:
            if len(tokens) and int(tokens.max()) >= self.vocab_size:
                shard = reader.state_dict().get("shard")
                paths = reader.shard_paths
                where = paths[shard] if shard is not None and shard < len(paths) else self.root
                raise DataError(f"{where}: token id {int(tokens.max())} >= model.vocab_size={self.vocab_size}")

    def iter_role(self, local_role: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]]:
        reader = self.consumer(local_role)
        if len(reader) == 0:
            raise DataError(f"{self.root}: rank {self.rank} worker {local_role} gets no documents (fewer documents "
                            f"than ranks x workers = {self.world_size} x {self.n_workers})")
        state = self.start_states.get(local_role, {"reader": reader.state_dict(), "window": 0, "batch": 0})
        reader.load_state_dict(state["reader"])
        window, start, empty_windows = state["window"], state["batch"], 0
        while True:
            window_start = reader.state_dict()
            batches = self.read_window(reader, local_role, window)
            for b in range(start, len(batches)):
                yield *batches[b], {"reader": window_start, "window": window, "batch": b + 1}
            empty_windows = 0 if batches else empty_windows + 1
            if empty_windows > len(reader) + 1:
                raise DataError(f"{self.root}: no document has two or more tokens")
            window, start = window + 1, 0

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        local_role = (worker + self.rotation) % self.n_workers
        for inputs, labels, mask, state in self.iter_role(local_role):
            yield {"input_ids": inputs, "labels": labels, "attention_mask": mask, "role": local_role, "state": state}


class ShardLoader:
    """The loop's data source: iterates batches and remembers the position of the last one it handed out.

    The DataLoader takes batches from its workers strictly in turn, so the position is one consumer state per
    worker plus which worker is next; resume restarts the workers rotated so that one comes first.
    """

    def __init__(self, root: str | Path, cfg: DataConfig, max_seq_len: int, rank: int = 0, world_size: int = 1,
                 vocab_size: int | None = None, pin_memory: bool = False):
        seq_len = cfg.max_seq_len or max_seq_len
        if seq_len > max_seq_len:
            raise DataError(f"data.max_seq_len={seq_len} exceeds model.max_seq_len={max_seq_len}")
        self.dataset = TokenBatches(root, cfg, seq_len, rank, world_size, vocab_size)
        docs = open_documents(root, cfg.verify)  # fail here, in the main process, on a bad directory
        for role in range(self.dataset.n_workers):
            if len(self.dataset.consumer(role, docs)) == 0:
                raise DataError(f"{root}: rank {rank} worker {role} gets no documents: the shards have fewer "
                                f"documents than ranks x workers ({world_size} x {self.dataset.n_workers})")
        self.num_workers, self.pin_memory = cfg.num_workers, pin_memory
        self.rank, self.world_size = rank, world_size
        self._states: dict[int, dict] = {}
        self._next_role = 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        loader = DataLoader(self.dataset, batch_size=None, num_workers=self.num_workers,
                            pin_memory=self.pin_memory, prefetch_factor=4 if self.num_workers else None)
        for item in loader:
            role = item.pop("role")
            self._states[role] = item.pop("state")
            self._next_role = (role + 1) % self.dataset.n_workers
            yield item

    def state_dict(self) -> dict:
        return {"states": {str(r): s for r, s in self._states.items()}, "next_role": self._next_role,
                "num_workers": self.num_workers, "world_size": self.world_size, "rank": self.rank}

    def load_state_dict(self, sd: dict) -> None:
        if (sd["num_workers"], sd["world_size"]) != (self.num_workers, self.world_size):
            raise DataError(f"cannot resume the data position saved with {sd['world_size']} ranks x "
                            f"{sd['num_workers']} workers on {self.world_size} x {self.num_workers}")
        self._states = {int(r): s for r, s in sd["states"].items()}
        self._next_role = int(sd["next_role"])
        self.dataset.start_states = dict(self._states)
        self.dataset.rotation = self._next_role
