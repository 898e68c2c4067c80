import json

from classifiers.cli import main
from tests.classifiers.textgen import domain_set, quality_set


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_train_quality_and_domain_from_files(tmp_path, capsys):
    good, bad = quality_set(seed=21, n=150)
    pos = _jsonl(tmp_path / "pos.jsonl", [{"text": t} for t in good])
    (tmp_path / "neg.txt").write_text("\n".join(bad) + "\n")
    argv = ["train", "quality", "--positive", pos, "--negative", str(tmp_path / "neg.txt"),
            "--output", str(tmp_path / "m" / "quality_v1.bin"), "--dim", "32", "--bucket", "20000"]
    assert main(argv) == 0
    assert "heldout_auc" in capsys.readouterr().out
    texts, topics = domain_set(seed=22, n=300)
    labelled = _jsonl(tmp_path / "dom.jsonl", [{"body": t, "topic": c} for t, c in zip(texts, topics, strict=True)])
    argv = ["train", "domain", "--labelled", labelled, "--label-column", "topic", "--text-column", "body",
            "--output", str(tmp_path / "m" / "domain_v1.bin"), "--dim", "32", "--bucket", "20000"]
    assert main(argv) == 0
    assert json.loads((tmp_path / "m" / "domain_v1.json").read_text())["metrics"]["classes"] == 6


def test_one_class_labelled_set_is_one_clear_error(tmp_path, capsys):
    texts, _ = domain_set(seed=23, n=40)
    labelled = _jsonl(tmp_path / "dom.jsonl", [{"text": t, "category": "news"} for t in texts])
    assert main(["train", "domain", "--labelled", labelled, "--output", str(tmp_path / "d.bin")]) == 1
    assert "the labelled set has one class (news)" in capsys.readouterr().err
