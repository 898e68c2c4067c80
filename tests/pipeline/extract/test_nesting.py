"""The nesting bound: deep pages are a counted too_complex drop before any parser sees them, on both extractors;
bad pages never raise; a cold numba cache never turns a first page into a timeout."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline.extract.main_text import ExtractConfig, TextExtractor
from pipeline.extract.nesting import max_nesting
from pipeline.stats import DropReason
from tests.conftest import ROOT

SENTENCE = "The river rose slowly through the night, and by morning the old mill stood in water to its windows. "


@pytest.fixture(scope="module", params=["trafilatura", "fast"])
def extractor(request):
    return TextExtractor(ExtractConfig(extractor=request.param))


def test_depth_counts_nesting_not_tags():
    assert max_nesting("<div><div><span>x</span></div><div></div></div>") == 3
    assert max_nesting("<p>a<p>b<li>c<br><img src=x><hr>" * 1000) == 0  # implied ends and void elements
    assert max_nesting("<div/>" * 50 + "<!-- <div><div><div> -->") == 0
    assert max_nesting(b"<DIV><Section>") == 2
    assert max_nesting("<div>" * 200_000, limit=10) == 11  # stops once past the limit


@pytest.mark.parametrize("tag", ["div", "b", "span"])
def test_two_hundred_thousand_nested_elements_are_too_complex(extractor, tag):
    body = ("<html><body>" + f"<{tag}>" * 200_000 + SENTENCE + "</body></html>").encode()
    started = time.process_time()
    assert extractor.extract_html(body) == (None, DropReason.TOO_COMPLEX)
    assert time.process_time() - started < 1.0


def test_a_deep_but_bounded_page_is_extracted(extractor):
    depth = 200  # libxml2 (under trafilatura) caps trees at 256 levels
    body = "<html><body>" + "<div>" * depth + f"<p>{SENTENCE * 3}</p>" + "</div>" * depth + "</body></html>"
    text, reason = extractor.extract_html(body)
    assert reason is None and SENTENCE.strip() in text


def test_bad_pages_are_counted_drops(extractor):
    assert extractor.extract_html(b"") == (None, DropReason.EMPTY_TEXT)
    assert extractor.extract_html(b"<html><head><title>t</title></head></html>") == (None, DropReason.EMPTY_TEXT)
    assert extractor.extract_html(bytes(range(256)) * 400) == (None, DropReason.DECODE_ERROR)
    huge_text_node = b"<html><body><p>" + b"a" * 50_000_000 + b"</p></body></html>"
    assert extractor.extract_html(huge_text_node) == (None, DropReason.TOO_LARGE)


def test_cold_numba_cache_does_not_time_out_the_first_page(tmp_path):
    """A fresh process, an empty numba cache, a 0.5 s page limit: the first page is extracted, since the kernels
    compile when the extractor is built, before any page's timer."""
    script = textwrap.dedent(f"""
        from pipeline.extract.main_text import ExtractConfig, TextExtractor
        extractor = TextExtractor(ExtractConfig(extractor="fast", timeout_s=0.5))
        text, reason = extractor.extract_html("<html><body><article><p>{SENTENCE * 4}</p></article></body></html>")
        print(reason, bool(text))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["None", "True"]
    assert "PageTimeout" not in proc.stderr
