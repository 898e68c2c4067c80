import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.audit import AuditConfig, DroppedSample
from pipeline.config import from_dict
from pipeline.corpus.config import InputConfig
from pipeline.corpus.filter_stage import filter_corpus, write_corpus_documents
from pipeline.filters import FiltersConfig, RuleShareError, check_rule_shares
from pipeline.stats import Stats

PROSE = ("The river runs past the old mill where the miller used to grind the grain for the whole village. "
         "Every morning the children walked along the bank to school, and in the evening they came back the same way, "
         "talking about what they had learned and what they would do when they grew up. The baker opened his shop "
         "before dawn, and the smell of fresh bread drifted down the narrow streets toward the harbour, where "
         "fishermen were already mending their nets and arguing about the weather. In winter the pond froze over "
         "and the whole town gathered on the ice on Sunday afternoons, skating until the lamps were lit. "
         "Nobody minded the cold.")


def _corpus(tmp_path, texts, languages=None):
    table = {"text": texts, "url": [f"https://site{i}.org/p" for i in range(len(texts))]}
    if languages is not None:
        table["language"] = languages
    pq.write_table(pa.table(table), tmp_path / "c.parquet")
    return str(tmp_path / "c.parquet")


def test_the_rules_apply_to_a_document_corpus(tmp_path):
    url = _corpus(tmp_path, [PROSE, "Click here to subscribe.", PROSE + " More."])
    stats, dropped = Stats(), DroppedSample(AuditConfig(keep_dropped=5, text_chars=10))
    kept = [d for b in filter_corpus(url, InputConfig(), FiltersConfig(), stats, dropped=dropped) for d in b.documents]
    assert [d.text[:9] for d in kept] == ["The river", "The river"]
    assert stats.records_in == 3 and stats.records_out == 2 and stats.balanced()
    assert stats.dropped == {"gopher_quality": 1}
    assert dropped.rows[0]["reason"] == "gopher_quality" and dropped.rows[0]["rule"] == "gopher_quality:too_few_words"
    assert dropped.rows[0]["value"] == 4  # the rule's measured value: the words it counted
    assert dropped.rows[0]["text"] == "Click here" and dropped.rows[0]["url"] == "https://site1.org/p"
    assert kept[0].lang == "en" and kept[0].lang_score > 0.65  # no language column: language id ran


def test_a_language_column_is_used_instead_of_language_id(tmp_path):
    url = _corpus(tmp_path, [PROSE, PROSE + " Again."], ["de", "en"])  # English prose labelled "de" by the corpus
    config = from_dict(FiltersConfig, {"lang": {"languages": ["en"]}})
    stats, dropped = Stats(), DroppedSample()
    kept = [d for b in filter_corpus(url, InputConfig(), config, stats, dropped=dropped) for d in b.documents]
    assert len(kept) == 1 and kept[0].lang == "en"
    assert stats.counters["lang:not_allowed"] == 1 and dropped.rows[0]["value"] == 1.0


def test_a_misspelled_language_list_is_named_with_its_share(tmp_path):
    url = _corpus(tmp_path, [PROSE + f" {i}." for i in range(60)], ["en"] * 60)
    config = from_dict(FiltersConfig, {"lang": {"languages": ["eng"]}})  # a code, but not the corpus's
    stats = Stats()
    for _ in filter_corpus(url, InputConfig(), config, stats):
        pass
    with pytest.raises(RuleShareError, match=r"filter: rule lang:not_allowed dropped 60 of 60 documents \(100.0%\)"):
        check_rule_shares(stats, config, "filter")


def test_carried_columns_are_written_after_the_document_row(tmp_path):
    pq.write_table(pa.table({"text": [PROSE], "token_count": [99]}), tmp_path / "c.parquet")
    out = tmp_path / "part-00000.parquet"
    batches = filter_corpus(str(tmp_path / "c.parquet"), InputConfig(carry=["*"]), FiltersConfig(), Stats())
    assert write_corpus_documents(batches, str(out)) == 1
    table = pq.read_table(out)
    assert table.column_names[-2:] == ["n_chars", "token_count"] and table.column("token_count").to_pylist() == [99]
