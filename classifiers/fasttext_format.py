"""A structural check of a fastText `.bin`/`.ftz` file, done before fastText's C++ loader sees it.

fastText trusts its header: a file claiming a 2^30-word dictionary makes it allocate until MemoryError, and a
file cut short loads as a model of zeros that scores every document the same. This walk reads the header, the
dictionary entries and the matrix shapes (FastText::saveModel's layout, version 11 and 12) with struct, never
allocating more than one entry, and requires every size to fit in the bytes that are actually there and the
file to end exactly where the output matrix does.

Layout: magic, version (int32); args: 12 int32 and one double; dictionary: size, nwords, nlabels (int32),
ntokens, pruneidx_size (int64), `size` entries (NUL-terminated word, int64 count, int8 type), pruneidx_size
int32 pairs; quant (bool); input matrix; qout (bool); output matrix (quantized only when quant and qout).
Dense matrix: m, n (int64) and m*n float32. Quantized: qnorm (bool), m, n (int64), codesize (int32), codes,
a product quantizer (dim, nsubq, dsub, lastdsub int32 and dim*256 float32), and when qnorm, m norm codes and
a second quantizer.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = 793712314
VERSIONS = (11, 12)
MAX_DIM = 1 << 16  # fastText's own largest published models use 300
PQ_CENTROIDS = 256
MIN_ENTRY_BYTES = 10  # an empty word's NUL, an int64 count, an int8 type


class FastTextFormatError(ValueError):
    """The file is not a whole fastText model; the message says what disagrees (the caller adds the path)."""


@dataclass(frozen=True)
class FastTextHeader:
    version: int
    dim: int
    words: int
    labels: int
    bucket: int
    quantized: bool
    input_rows: int
    output_rows: int


class _Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt: str, what: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise FastTextFormatError(f"truncated: {what} would need bytes {self.pos}..{self.pos + size}, "
                                      f"the file has {len(self.data)}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise FastTextFormatError(f"truncated: {what} needs {n} bytes at offset {self.pos}, "
                                      f"{len(self.data) - self.pos} are left")
        self.pos += n

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _dense(cur: _Cursor, what: str) -> tuple[int, int]:
    m, n = cur.take("<qq", f"{what} shape")
    if m < 0 or n < 0:
        raise FastTextFormatError(f"{what} has a negative shape {m} x {n}")
    if m * n * 4 > cur.left:
        raise FastTextFormatError(f"truncated: {what} claims {m} x {n} floats ({m * n * 4} bytes); "
                                  f"{cur.left} bytes are left")
    cur.skip(m * n * 4, what)
    return m, n


def _product_quantizer(cur: _Cursor, what: str) -> None:
    dim, nsubq, dsub, lastdsub = cur.take("<iiii", f"{what} quantizer")
    if not (0 < dim <= MAX_DIM and 0 < nsubq <= dim and 0 < dsub <= dim and 0 <= lastdsub <= dim):
        raise FastTextFormatError(f"{what} quantizer has implausible sizes (dim {dim}, nsubq {nsubq}, dsub {dsub})")
    cur.skip(dim * PQ_CENTROIDS * 4, f"{what} centroids")


def _quantized(cur: _Cursor, what: str) -> tuple[int, int]:
    qnorm = cur.take("<?", f"{what} qnorm")
    m, n = cur.take("<qq", f"{what} shape")
    codesize = cur.take("<i", f"{what} code size")
    if m < 0 or n < 0 or codesize < 0:
        raise FastTextFormatError(f"{what} has a negative size ({m} x {n}, {codesize} code bytes)")
    if codesize > cur.left:
        raise FastTextFormatError(f"truncated: {what} claims {codesize} code bytes; {cur.left} bytes are left")
    cur.skip(codesize, f"{what} codes")
    _product_quantizer(cur, what)
    if qnorm:
        cur.skip(m, f"{what} norm codes")
        _product_quantizer(cur, f"{what} norm")
    return m, n


def check_fasttext_file(path: str | Path) -> FastTextHeader:
    """The model's shape if `path` is a whole fastText model file; FastTextFormatError saying why not otherwise."""
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise FastTextFormatError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _walk(_Cursor(data))


def _walk(cur: _Cursor) -> FastTextHeader:
    magic, version = cur.take("<ii", "magic number")
    if magic != MAGIC:
        raise FastTextFormatError(f"wrong magic number {magic:#x} (fastText files start with {MAGIC:#x})")
    if version not in VERSIONS:
        raise FastTextFormatError(f"file format version {version}; fastText 0.9 reads {VERSIONS}")
    dim, _ws, _epoch, _min_count, _neg, _ngrams, _loss, _model, bucket, minn, maxn, _lr_update = cur.take(
        "<12i", "arguments")
    cur.take("<d", "arguments")
    if not (0 < dim <= MAX_DIM) or bucket < 0 or minn < 0 or maxn < 0:
        raise FastTextFormatError(f"implausible arguments (dim {dim}, bucket {bucket}, minn {minn}, maxn {maxn})")
    size, words, labels = cur.take("<iii", "dictionary sizes")
    _tokens, pruned = cur.take("<qq", "dictionary sizes")
    if words < 0 or labels < 0 or size != words + labels:
        raise FastTextFormatError(f"dictionary sizes disagree ({size} entries, {words} words, {labels} labels)")
    if size * MIN_ENTRY_BYTES > cur.left:
        raise FastTextFormatError(f"truncated: dictionary claims {size} entries, at least "
                                  f"{size * MIN_ENTRY_BYTES} bytes; {cur.left} bytes are left")
    for i in range(size):
        end = cur.data.find(b"\0", cur.pos)
        if end < 0:
            raise FastTextFormatError(f"truncated: dictionary entry {i} of {size} has no end")
        cur.pos = end + 1
        cur.take("<qb", f"dictionary entry {i} of {size}")
    if pruned > 0:
        cur.skip(8 * pruned, "pruned-word index")
    quant = cur.take("<?", "quantization flag")
    rows, columns = (_quantized if quant else _dense)(cur, "input matrix")
    if columns != dim:
        raise FastTextFormatError(f"input matrix has {columns} columns, the arguments say dim {dim}")
    qout = cur.take("<?", "output quantization flag")
    out_rows, out_columns = (_quantized if quant and qout else _dense)(cur, "output matrix")
    if out_columns != dim:
        raise FastTextFormatError(f"output matrix has {out_columns} columns, the arguments say dim {dim}")
    if cur.left:
        raise FastTextFormatError(f"{cur.left} bytes follow the end of the model")
    return FastTextHeader(version, dim, words, labels, bucket, bool(quant), rows, out_rows)
