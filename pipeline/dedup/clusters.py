"""The near-duplicate decision of the dedup stage, as it runs: pure functions over Arrow tables that
jobs/dedup_clusters.py applies to Spark partitions (it only shuffles, joins and counts).

Documents sharing an LSH bucket are candidates. Checking every pair of a bucket costs n**2 (a cluster of 10,000
copies shares buckets of 10,000), so each bucket is checked against representatives instead, in rounds
(`representative_round`): in round r its representative is the best-ranked member (`keeper_rank` by degree, the
number of other documents it shares buckets with, counted with repeats) among those still pending, i.e. neither
a representative nor verified by one, and every other non-representative member is checked against it (a pair
repeated across buckets is checked once per round). The degree picks a cluster's centre, close to every member:
the smallest id would pick a random copy, and two copies both edited away from their original can fall below the
threshold together while each is close to the original. A homogeneous bucket costs n - 1 checks in one round; a
bucket holding an outlier or a chain A~B~C with A !~ C gets the next representative, so B~C is still found. An
edge counts only when the share of equal signature slots reaches the threshold (`verify_pairs`). Clusters are the
connected components of the verified edges (`large_star`, `small_star`); a representative's verified group of g
members gives g shared buckets to it and to each member (`verified_group_credits`), and each cluster keeps its
member of best `keeper_rank` by those (`cluster_keepers`).

A function that works on groups (buckets, nodes, clusters) takes a table holding whole groups: the Spark side
partitions by the group column and cuts each partition's stream with `whole_groups`. The plain-Python statement of
the same decision over a whole corpus is the test oracle pipeline/dedup/oracle.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.dedup.lsh import verified

# A bucket member's role across rounds: pending until a representative verifies it or it becomes one.
PENDING, REPRESENTATIVE, LINKED = 0, 1, 2
ROUND_COLUMNS = ["key", "id", "degree", "role", "rep", "ok"]


def keeper_rank(shared: int, doc_id: str) -> tuple[int, str]:
    """The keeper rule: a cluster keeps its member with the lowest rank, i.e. the one that shares the most
    verified buckets (the cluster's centre, close to most members: keeping an outlier of a chain would drop
    documents unlike anything kept), ties to the smallest id. Data alone decides, never partitioning.
    The same rank picks each round's bucket representative, by degree."""
    return -shared, doc_id


def _by_rank(count: str, doc_id: str) -> list[tuple[str, str]]:
    """keeper_rank as Arrow sort keys (string ids compare as UTF-8 bytes, i.e. by code point, as Python's do)."""
    return [(count, "descending"), (doc_id, "ascending")]


def binary_rows(rows: np.ndarray) -> pa.Array:
    """A 2-D uint32 array as an Arrow binary column, one value per row, without a Python object per row."""
    width = rows.shape[1] * 4
    offsets = np.arange(rows.shape[0] + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), rows.shape[0],
                                 [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows).tobytes())])


def uint32_rows(column, n_rows: int) -> np.ndarray:
    """Inverse of binary_rows for a column of equal-length values (Spark hands them back as (large) binary)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offset_type = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], dtype=offset_type)[column.offset : column.offset + n_rows + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(np.uint32).reshape(n_rows, -1)


def whole_groups(batches: Iterable[pa.RecordBatch], column: str) -> Iterator[pa.Table]:
    """The rows of a stream sorted by `column`, re-cut so that no group of equal values spans two tables (a
    group longer than a batch is held whole: memory is bounded by the largest group, not the partition)."""
    carry = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        if carry is not None:
            table = pa.concat_tables([carry, table])
        if table.num_rows == 0:
            continue
        values = table.column(column)
        last_group = int(np.argmax(pc.equal(values, values[-1]).to_numpy(zero_copy_only=False)))
        if last_group:
            yield table.slice(0, last_group)
        carry = table.slice(last_group)
    if carry is not None:
        yield carry


def _array(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _runs(values) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted column: the index of each run's first row, and each row's run number."""
    values = _array(values)
    first = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        first[1:] = pc.not_equal(values[1:], values[:-1]).to_numpy(zero_copy_only=False)
    return np.flatnonzero(first), np.cumsum(first) - 1


def representative_round(table: pa.Table) -> pa.Table:
    """One round for whole buckets. Rows (key, id, degree, role, rep, ok) are a bucket's members, `rep` the
    previous round's representative and `ok` whether it verified this member (null: not checked). A pending member
    it verified becomes LINKED; then each bucket with pending members picks its best-ranked one as this round's
    representative (now REPRESENTATIVE), written as `rep` on all its rows (null where none is left), `ok` null.
    The members to check this round are the rows with a `rep` that are no REPRESENTATIVE."""
    role = table.column("role").to_numpy().copy()
    ok = pc.fill_null(table.column("ok"), False).to_numpy(zero_copy_only=False)
    role[(role == PENDING) & ok] = LINKED
    table = table.set_column(table.schema.get_field_index("role"), "role", pa.array(role, pa.int32()))
    table = table.append_column("settled", pa.array(role != PENDING))
    table = table.sort_by([("key", "ascending"), ("settled", "ascending"), *_by_rank("degree", "id")])
    role = table.column("role").to_numpy().copy()
    starts, run = _runs(table.column("key"))
    has_rep = role[starts] == PENDING
    role[starts[has_rep]] = REPRESENTATIVE
    rep_row = pa.array(starts[run], pa.int64(), mask=~has_rep[run])
    rep = pc.take(table.column("id"), rep_row)
    return pa.table([table.column("key"), table.column("id"), table.column("degree"), pa.array(role, pa.int32()),
                     rep, pa.nulls(table.num_rows, pa.bool_())], names=ROUND_COLUMNS)


def verify_pairs(batches: Iterable[pa.RecordBatch], threshold: float) -> Iterator[pa.RecordBatch]:
    """(id, rep, sig_a, sig_b) -> (id, rep, ok): whether the signatures estimate J >= threshold."""
    for batch in batches:
        n = batch.num_rows
        ok = verified(uint32_rows(batch.column("sig_a"), n), uint32_rows(batch.column("sig_b"), n), threshold)
        yield pa.RecordBatch.from_arrays([batch.column("id"), batch.column("rep"), pa.array(ok, pa.bool_())],
                                         names=["id", "rep", "ok"])


def verified_group_credits(table: pa.Table) -> pa.Table:
    """Verified (key, id, rep) rows, whole buckets -> (id, n): a representative's group of n verified members
    counts n shared buckets for the representative and for each member; an id's sum is its keeper_rank input."""
    table = table.sort_by([("key", "ascending"), ("rep", "ascending")])
    keys, reps = table.column("key").to_numpy(), _array(table.column("rep"))
    first = np.ones(table.num_rows, dtype=bool)
    if table.num_rows > 1:
        first[1:] = (keys[1:] != keys[:-1]) | pc.not_equal(reps[1:], reps[:-1]).to_numpy(zero_copy_only=False)
    starts, run = np.flatnonzero(first), np.cumsum(first) - 1
    sizes = np.diff(np.append(starts, table.num_rows))
    ids = pa.concat_arrays([_array(table.column("id")), pc.take(reps, starts)])
    return pa.table([ids, pa.array(np.concatenate([sizes[run], sizes]), pa.int64())], names=["id", "n"])


def cluster_keepers(table: pa.Table) -> pa.Table:
    """(label, node, shared) rows of whole clusters -> (label, keeper): the member of best keeper_rank."""
    table = table.sort_by([("label", "ascending"), *_by_rank("shared", "node")])
    starts, _ = _runs(table.column("label"))
    return pa.table([pc.take(table.column("label"), starts), pc.take(table.column("node"), starts)],
                    names=["label", "keeper"])


def large_star(table: pa.Table) -> pa.Table:
    """One large-star step of connected components (Kiveris et al., "Connected Components in MapReduce and
    Beyond", 2014) for whole neighbourhoods: rows (u, v) list each node's neighbours (both directions of every
    edge); each larger neighbour v > u is linked to m, the smallest of u and its neighbours: edges (a=m, b=v),
    a < b, possibly repeated."""
    table = table.sort_by([("u", "ascending"), ("v", "ascending")])
    u, v = table.column("u"), table.column("v")
    starts, run = _runs(u)
    first_u, first_v = pc.take(u, starts), pc.take(v, starts)
    smallest = pc.take(pc.if_else(pc.less(first_v, first_u), first_v, first_u), run)
    larger = pc.greater(v, u)
    return pa.table([pc.filter(smallest, larger), pc.filter(v, larger)], names=["a", "b"])


def small_star(table: pa.Table) -> pa.Table:
    """One small-star step for whole groups: rows (a, b), a < b, grouped by b; b and each of its smaller
    neighbours a are linked to m, the smallest of those a: edges (m, a) for a != m and (m, b), possibly repeated.
    Alternated with large_star, every step keeps the components, and the graph ends as one star per component
    around its smallest id in O(log n) rounds in practice (a chain of 200 nodes takes ~8; min-label propagation
    took ~100)."""
    table = table.sort_by([("b", "ascending"), ("a", "ascending")])
    a, b = table.column("a"), table.column("b")
    starts, run = _runs(b)
    smallest = pc.take(a, starts)
    of_row = pc.take(smallest, run)
    other = pc.not_equal(a, of_row)
    return pa.table([pa.concat_arrays([_array(pc.filter(of_row, other)), _array(smallest)]),
                     pa.concat_arrays([_array(pc.filter(a, other)), _array(pc.take(b, starts))])], names=["a", "b"])
