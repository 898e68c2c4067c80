"""jobs/filter.py on a Hugging Face dataset folder of JSON lines: rule filters, carried columns, one-line errors."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pipeline.corpus.test_filter_stage import PROSE

pytestmark = pytest.mark.spark


def _hf_folder(root):
    data = root / "data"
    data.mkdir(parents=True)
    rows = [{"text": PROSE + f" Day {i}.", "id": f"d{i}", "meta": {"url": f"https://s{i}.org/"}, "score": i}
            for i in range(6)] + [{"text": "Click here to subscribe.", "id": "junk", "meta": {}, "score": 0}]
    data_bytes = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with pa.CompressedOutputStream(str(data / "train-00000.jsonl.zst"), "zstd") as f:
        f.write(data_bytes)
    (root / "dataset_info.json").write_text(json.dumps({"features": {"text": {"dtype": "string"}}}))
    (root / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    return root


def test_filter_job_on_a_dataset_folder(spark, tmp_path):
    from jobs.filter import FilterStage

    corpus = _hf_folder(tmp_path / "corpus")
    (tmp_path / "run.toml").write_text('[input]\ncarry = ["score"]\n')
    out = tmp_path / "documents"
    argv = ["--input", str(corpus), "--output", str(out), "--config", str(tmp_path / "run.toml")]
    assert FilterStage().main(argv) == 0
    stats = json.loads((out / "_stats.json").read_text())
    assert (stats["records_in"], stats["records_out"], stats["dropped"]) == (7, 6, {"gopher_quality": 1})
    table = pq.read_table(out)
    assert table.column_names[-1] == "score" and sorted(table.column("id").to_pylist()) == [f"d{i}" for i in range(6)]
    assert table.column("url").to_pylist()[0].startswith("https://s")  # RedPajama-style meta.url
    dropped = pq.read_table(out / "_dropped" / "dropped.parquet").to_pylist()
    assert [(r["id"], r["reason"]) for r in dropped] == [("junk", "gopher_quality")]


def test_a_column_map_that_does_not_fit_is_one_line(spark, tmp_path, capsys):
    from jobs.filter import FilterStage

    corpus = _hf_folder(tmp_path / "corpus")
    (tmp_path / "run.toml").write_text('[input]\ntext = "body"\n')
    assert FilterStage().main(["--input", str(corpus), "--output", str(tmp_path / "out"),
                             "--config", str(tmp_path / "run.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "input.text = 'body', but it has no such column" in err
    assert not (tmp_path / "out").exists()


def test_warc_input_is_sent_to_extract(tmp_path, capsys):
    from jobs.filter import FilterStage
    from tests.conftest import shared_data

    warc = shared_data("warc", "example.warc.gz")
    assert FilterStage().main(["--input", str(warc), "--output", str(tmp_path / "out")]) == 2
    assert "WARC files go through extract" in capsys.readouterr().err
