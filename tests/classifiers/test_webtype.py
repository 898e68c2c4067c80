"""Web-type classifier: training with held-out accuracy per type, the stage's web_type columns (from the model, or by
default from the extract stage's page type) and keep/drop filters with counted drops, and the same result on Spark as
in plain Python."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers.config import BalanceConfig, ClassifyConfig
from classifiers.stage import ModelStage, add_weights, output_columns
from classifiers.webtype import WebTypeModel, WebTypeTraining, page_tokens, train_webtype
from pipeline.config import ConfigError
from pipeline.stats import DropReason, Stats
from tests.classifiers.textgen import TOPICS, sentence  # noqa: E402  (a few hundred real words: fastText needs them)


def _prose(rng: random.Random, n: int) -> str:
    words = []
    while len(words) < n:
        words += sentence(rng, rng.choice(sorted(TOPICS))).split()
    return " ".join(words[:n])


def page(kind: str, i: int, rng: random.Random) -> dict:
    topic = rng.choice(sorted(TOPICS))
    if kind == "article":
        text = "\n".join(f"{_prose(rng, 40)}." for _ in range(5))
        return {"url": f"https://news.example/{topic}/2024/story-{i}", "text": text, "web_type": kind,
                "title": f"{_prose(rng, 6)}", "link_density": 0.05, "list_items": 2, "forms": 0, "comment_blocks": 0}
    if kind == "forum":
        posts = [f"Re: {_prose(rng, 4)}\nposted by user{rng.randint(1, 99)}\n{_prose(rng, 20)}" for _ in range(4)]
        return {"url": f"https://board.example/forum/thread-{i}", "text": "\n".join(posts), "web_type": kind,
                "title": f"{_prose(rng, 5)} - forum", "link_density": 0.2, "list_items": 4, "forms": 1,
                "comment_blocks": 8}
    if kind == "product":
        text = (f"{_prose(rng, 5)}\nPrice: ${rng.randint(5, 500)}.99\nAdd to cart\nIn stock\n"
                f"{_prose(rng, 25)}\nCustomer reviews ({rng.randint(1, 300)})")
        return {"url": f"https://shop.example/product/{topic}-{i}", "text": text, "web_type": kind,
                "title": f"Buy {_prose(rng, 3)}", "link_density": 0.3, "list_items": 12, "forms": 2,
                "comment_blocks": 3}
    items = "\n".join(f"{_prose(rng, 5)} ({rng.randint(1, 40)})" for _ in range(15))
    return {"url": f"https://dir.example/tag/{topic}?page={i}", "text": items, "web_type": "listing",
            "title": f"{topic} archive", "link_density": 0.8, "list_items": 40, "forms": 0, "comment_blocks": 0}


def labelled(n_per_type: int = 40, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [page(kind, i, rng) for i in range(n_per_type) for kind in ("article", "forum", "product", "listing")]


@pytest.fixture(scope="module")
def webtype_models(tmp_path_factory):
    models = tmp_path_factory.mktemp("webtype")
    metrics = train_webtype(labelled(), models / "webtype_v1.bin", WebTypeTraining())
    return models, metrics


def test_training_reports_held_out_accuracy_per_type(webtype_models):
    models, metrics = webtype_models
    assert metrics["classes"] == 4 and metrics["heldout_accuracy"] >= 0.9
    assert set(metrics["heldout_accuracy_per_type"]) == {"article", "forum", "listing", "product"}
    card = json.loads((models / "webtype_v1.json").read_text())
    assert card["kind"] == "webtype" and card["metrics"]["heldout_accuracy_per_type"]
    model = WebTypeModel.load(models / "webtype_v1.bin")
    rows = labelled(5, seed=9)
    features = [{k: r[k] for k in ("title", "link_density", "list_items", "forms", "comment_blocks")} for r in rows]
    types, scores = model.predict([r["text"] for r in rows], [r["url"] for r in rows], features)
    assert sum(t == r["web_type"] for t, r in zip(types, rows, strict=True)) >= 0.9 * len(rows)
    assert ((scores > 0) & (scores <= 1)).all()


def test_page_tokens_describe_url_title_and_structure():
    tokens = page_tokens("https://www.board.org/forum/thread-7?id=3", {
        "title": "Hello World", "link_density": 0.6, "list_items": 0, "forms": 1, "comment_blocks": None})
    assert tokens.split() == ["h_board", "h_org", "u_forum", "u_thread", "t_hello", "t_world", "f_links4", "f_lists0",
                              "f_forms1", "f_commentsna"]
    assert page_tokens(None, None) == ""


def _documents(rows: list[dict]) -> pa.Table:
    return pa.table({"id": [f"d{i:03d}" for i in range(len(rows))], "url": [r["url"] for r in rows],
                     "text": [r["text"] for r in rows], "n_chars": [len(r["text"]) for r in rows],
                     "page_title": [r["title"] for r in rows],
                     "page_link_density": pa.array([r["link_density"] for r in rows], pa.float32()),
                     "page_list_items": [r["list_items"] for r in rows], "page_forms": [r["forms"] for r in rows],
                     "page_comment_blocks": [r["comment_blocks"] for r in rows]})


OFF = {"clutter_model": "", "quality_model": "", "domain_model": ""}


def test_stage_writes_web_type_and_counts_filtered_types(webtype_models):
    models, _ = webtype_models
    docs = _documents(labelled(6, seed=3))
    config = ClassifyConfig(**OFF, webtype_model="webtype_v1", drop_web_types=["listing", "product"])
    stats = Stats(stage="classify")
    out = ModelStage(models, config).score_batch(docs, stats)
    assert stats.balanced() and stats.dropped[DropReason.WEB_TYPE] >= 10
    assert set(out.column("web_type").to_pylist()) <= {"article", "forum"}
    assert list(output_columns(config, docs.column_names)) == ["quality", "category", "category_score", "web_type",
                                                               "web_type_score", "weight"]
    keep = ClassifyConfig(**OFF, webtype_model="webtype_v1", keep_web_types=["forum"],
                          balance=BalanceConfig(by="web_type", targets={"forum": 2.0}))
    stats = Stats()
    stage = ModelStage(models, keep)
    from classifiers.balance import CategoryBalancer

    out = add_weights(stage.score_batch(docs, stats), CategoryBalancer(keep.balance))
    assert set(out.column("web_type").to_pylist()) == {"forum"} and set(out.column("weight").to_pylist()) == {2.0}
    assert stats.dropped[DropReason.WEB_TYPE] == docs.num_rows - out.num_rows


def _typed(docs: pa.Table, types: list[str | None]) -> pa.Table:
    """`docs` as the extract stage writes them by default: with the page-type model's type and probability."""
    scores = [None if t is None else 0.5 + 0.01 * i for i, t in enumerate(types)]
    return docs.append_column("page_type", pa.array(types, pa.string())).append_column(
        "page_type_score", pa.array(scores, pa.float32()))


def test_web_type_comes_from_the_page_type_without_a_model(tmp_path):
    """No webtype_model: web_type and web_type_score are the extract stage's page_type and its probability (an
    untyped page: "" and 0), and keep/drop and balance by web type work on them."""
    docs = _typed(_documents(labelled(2, seed=5)), ["article", "forum", "product", None, "listing", "article",
                                                    "documentation", "service"])
    config = ClassifyConfig(**OFF)
    stats = Stats()
    out = ModelStage(tmp_path, config).score_batch(docs, stats)
    assert out.column("web_type").to_pylist() == ["article", "forum", "product", "", "listing", "article",
                                                  "documentation", "service"]
    assert out.column("web_type_score").to_pylist()[:4] == pytest.approx([0.5, 0.51, 0.52, 0.0])
    assert out.column_names[-7:] == ["page_type", "page_type_score", "quality", "category", "category_score",
                                     "web_type", "web_type_score"]
    assert list(output_columns(config, docs.column_names)) == out.column_names[-5:] + ["weight"]
    keep = ClassifyConfig(**OFF, keep_web_types=["article"], balance=BalanceConfig(by="web_type",
                                                                                  targets={"article": 3.0}))
    stats = Stats()
    stage = ModelStage(tmp_path, keep)
    assert "listing" in stage.web_types
    from classifiers.balance import CategoryBalancer

    out = add_weights(stage.score_batch(docs, stats), CategoryBalancer(keep.balance))
    assert out.column("web_type").to_pylist() == ["article", "article"]
    assert set(out.column("weight").to_pylist()) == {3.0}
    assert stats.dropped == {DropReason.WEB_TYPE: 6}
    stats = Stats()
    out = ModelStage(tmp_path, ClassifyConfig(**OFF, drop_web_types=["article", "forum"])).score_batch(docs, stats)
    assert out.column("web_type").to_pylist() == ["product", "", "listing", "documentation", "service"]


def test_web_type_config_errors():
    with pytest.raises(ConfigError, match="not both"):
        ClassifyConfig(webtype_model="webtype_v1", keep_web_types=["a"], drop_web_types=["b"])
    with pytest.raises(ConfigError, match="unknown page type 'articles'; the page types are article, forum"):
        ClassifyConfig(keep_web_types=["articles"])
    ClassifyConfig(webtype_model="webtype_v1", keep_web_types=["articles"])  # a model's own types: checked at load
    docs = _documents(labelled(1))
    # an input with no page type (a Parquet corpus through the filter stage) and no model: no web type, and a config
    # that needs one is one line saying why
    assert "web_type" not in output_columns(ClassifyConfig(), docs.column_names)
    for config in (ClassifyConfig(keep_web_types=["forum"]), ClassifyConfig(balance=BalanceConfig(by="web_type"))):
        with pytest.raises(ConfigError, match="the input has no page_type column"):
            output_columns(config, docs.column_names)


@pytest.mark.spark
def test_web_type_stage_on_spark_equals_plain_python(spark, webtype_models, tmp_path):
    from jobs.classify import ClassifyStage

    models, _ = webtype_models
    docs = _documents(labelled(8, seed=4))
    (tmp_path / "in").mkdir()
    pq.write_table(docs.slice(0, 15), tmp_path / "in" / "a.parquet")
    pq.write_table(docs.slice(15), tmp_path / "in" / "b.parquet")
    (tmp_path / "run.toml").write_text('[classify]\nclutter_model = ""\nquality_model = ""\ndomain_model = ""\n'
                                       'webtype_model = "webtype_v1"\ndrop_web_types = ["listing"]\n')
    assert ClassifyStage().main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--models",
                               str(models), "--config", str(tmp_path / "run.toml")]) == 0
    spark_rows = sorted(pq.read_table(tmp_path / "out").select(["id", "web_type", "web_type_score"]).to_pylist(),
                        key=lambda r: r["id"])
    config = ClassifyConfig(**OFF, webtype_model="webtype_v1", drop_web_types=["listing"])
    stats = Stats()
    local = ModelStage(models, config).score_batch(docs, stats).select(["id", "web_type", "web_type_score"])
    assert spark_rows == sorted(local.to_pylist(), key=lambda r: r["id"])
    spark_stats = json.loads((tmp_path / "out" / "_stats.json").read_text())
    assert spark_stats["dropped"] == {DropReason.WEB_TYPE: stats.dropped[DropReason.WEB_TYPE]}


def test_a_run_without_models_filters_by_page_type_but_not_by_a_named_model(tmp_path):
    """`sluice run` with no models directory runs classify with its models off: web types to keep or drop are
    then the page types, which need no model; a config naming a web-type model still needs its directory."""
    import argparse

    from jobs.classify import _without_models
    from jobs.run_config import RunConfig
    from jobs.stage import RunContext

    config = RunConfig()

    def without_models(classify: ClassifyConfig) -> bool:
        config.classify = classify
        return _without_models(RunContext(argparse.Namespace(models=None), config, str(tmp_path / "out"),
                                          str(tmp_path / "no-models"), "", False))

    assert without_models(ClassifyConfig(keep_web_types=["article"]))
    assert without_models(ClassifyConfig(balance=BalanceConfig(by="web_type")))
    assert not without_models(ClassifyConfig(webtype_model="webtype_v1", keep_web_types=["article"]))
