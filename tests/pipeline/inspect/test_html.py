"""The HTML report: self-contained, and what a browser renders of it (headless Chromium, when installed)."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jobs.inspect_cli import main
from pipeline.audit import AuditConfig, DroppedSample, merge_dropped
from tests.pipeline.inspect.test_report import run_dir  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = ROOT / "tmp" / "artefacts"  # screenshots kept for a person to look at (git-ignored)


def _with_dropped(run_dir):  # noqa: F811
    sample = DroppedSample()
    sample.add("gopher_quality", "gopher_quality:too_few_words", "id1", "https://x.org/a", "Click here to subscribe.")
    sample.add("lang", "lang:not_allowed", "id2", "https://y.org/b", "Bonjour <b>tout</b> le monde", 0.91)
    sample.write(str(run_dir / "documents"), 0)
    merge_dropped(str(run_dir / "documents"), AuditConfig())
    out = run_dir / "report.html"
    assert main([str(run_dir / "shards"), "--html", str(out)]) == 0
    return out


def test_report_is_one_self_contained_file(run_dir):  # noqa: F811
    text = _with_dropped(run_dir).read_text()
    assert not re.search(r"<script[^>]+src|<link|@import|url\(|<img", text)  # nothing fetched when opened
    assert "Bonjour &lt;b&gt;tout&lt;/b&gt; le monde" in text  # document text is escaped, never markup
    assert "lang:not_allowed" in text and "1,000" in text


def chromium() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        pytest.skip("no Chromium: `apt-get install -y chromium` (.ci/run installs it)")
    return found


def browse(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--window-size=1200,2000", *extra, url],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=profile))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_the_funnel_and_dropped_documents(run_dir):  # noqa: F811
    report = _with_dropped(run_dir)
    dom = browse(report.as_uri(), "--dump-dom")
    funnel = re.search(r"<table id=\"funnel\">(.*?)</table>", dom, re.S).group(1)
    assert re.search(r"extract</td><td class=\"n\">1,000</td><td class=\"n\">550</td>", funnel)
    assert "lang:not_allowed" in dom and "Click here to subscribe." in dom
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "inspect-report.png"
    browse(report.as_uri(), f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_the_search_box_filters_in_the_browser(run_dir):  # noqa: F811
    report = _with_dropped(run_dir)
    dom = browse(report.as_uri() + "#search=not_allowed", "--dump-dom")
    dropped = re.findall(r"<div class=\"doc searchable dropped( hidden)?\" data-reason=\"(\w+)\"", dom)
    assert sorted(dropped) == [("", "lang"), (" hidden", "gopher_quality")]
    assert "1 matching" in dom
