"""spark-submit jobs/decontaminate.py --input DIR --output DIR --config run.toml

Documents → the same rows minus those that contain evaluation-set text ([decontaminate] table). The driver reads
every evaluation set (a bad path or file fails here, once, with one line), builds the n-gram index
(`pipeline.decontaminate.ngrams.NgramIndex`, 12 MB per million n-grams, or with `index = "bloom"` one Bloom filter
per set, `pipeline.decontaminate.bloom`, 4.2 MB per million at the default error) and broadcasts it; each task
judges its rows in Arrow batches, drops contaminated ones (`contaminated`, and `contaminated.<set>` in counters) or,
in cut mode, rewrites their text. `_eval_sets.json` in the output lists the sets by content hash; the tokenize stage
copies it into the shards' manifest.
"""

from __future__ import annotations

import json
import sys

from jobs.base import (
    filesystem,
    merge_task_stats,
    with_skipped,
    write_partitions,
    write_task_stats,
)
from jobs.stage import RunContext, RunError, Settings, Stage, StageArgs
from pipeline.stats import DropReason, Stats

EVAL_SETS_FILE = "_eval_sets.json"


def load_index(config):
    """The index of every configured set and the manifest records of the sets; EvalSetError on a bad set."""
    from pipeline.decontaminate.eval_sets import load_eval_set
    from pipeline.decontaminate.ngrams import build_index

    sets = [load_eval_set(c) for c in config.eval_sets]
    index = build_index([(s.name, s.texts) for s in sets], config)
    return index, [s.record(n) for s, n in zip(sets, index.ngrams_per_set(), strict=True)]


def judge_batches(batches, index, config, stats: Stats):
    """Arrow batches in, kept (and in cut mode rewritten) rows out; every row counted in `stats`."""
    import pyarrow as pa

    from pipeline.decontaminate.ngrams import judge_batch

    for batch in batches:
        for start in range(0, batch.num_rows, config.batch_rows):
            part = batch.slice(start, config.batch_rows)
            texts = [t or "" for t in part.column("text").to_pylist()]
            verdicts = judge_batch(texts, index, config)
            stats.records_in += part.num_rows
            keep = [v.contaminated_by is None for v in verdicts]
            for v in verdicts:
                if v.contaminated_by is not None:
                    stats.drop(DropReason.CONTAMINATED)
                    stats.count(f"contaminated.{v.contaminated_by}")
                elif v.text is not None:
                    stats.count("decontaminate.documents_cut")
                    stats.count("decontaminate.chars_cut", v.cut_chars)
            stats.records_out += sum(keep)
            if any(v.text is not None for v in verdicts):
                new = [v.text if v.text is not None else t for v, t in zip(verdicts, texts, strict=True)]
                column = part.schema.get_field_index("text")
                part = part.set_column(column, part.schema.field(column), pa.array(new, pa.string()))
                if "n_chars" in part.schema.names:
                    at = part.schema.get_field_index("n_chars")
                    n_chars = pa.array([len(t) for t in new], part.schema.field(at).type)
                    part = part.set_column(at, part.schema.field(at), n_chars)
            yield part.filter(pa.array(keep))


class DecontaminateStage(Stage):
    name = "decontaminate"
    directory = "decontaminated"
    description = "documents → the same rows without evaluation-set text (drop or cut)"
    tables = ("decontaminate",)
    switch = "decontaminate"  # off by default

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        from pipeline.decontaminate.eval_sets import EvalSetError, eval_set_digests

        try:  # the evaluation sets' contents decide the output: a changed set redoes this stage
            return {}, eval_set_digests(run.config.decontaminate.eval_sets)
        except EvalSetError as e:
            raise RunError(str(e)) from None

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pipeline.decontaminate.eval_sets import EvalSetError

        config = settings.decontaminate
        try:
            index, records = load_index(config)
        except EvalSetError as e:
            raise SystemExit(f"decontaminate: {e}") from None
        shared = spark.sparkContext.broadcast(index)
        frame, skipped = self.read_input(spark, settings, args, columns=("text",))

        def judge(batches):
            from pyspark import TaskContext

            stats = Stats(stage="decontaminate")
            yield from judge_batches(batches, shared.value, config, stats)
            write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)

        write_partitions(frame, tmp_output, judge, frame.schema)
        stats = with_skipped(merge_task_stats(tmp_output, self.name), skipped)
        stats.count("decontaminate.eval_ngrams", sum(index.ngrams_per_set()))
        stats.count("decontaminate.index_bytes", index.nbytes)
        fs, out = filesystem(tmp_output)
        with fs.open(f"{out}/{EVAL_SETS_FILE}", "w") as f:
            f.write(json.dumps(records, indent=1, sort_keys=True) + "\n")
        return stats


if __name__ == "__main__":
    sys.exit(DecontaminateStage().main())
