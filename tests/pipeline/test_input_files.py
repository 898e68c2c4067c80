"""One glob step for every input kind: matches sorted and de-duplicated, directories as `files_at` says, a pattern
that names nothing named in the error."""

from __future__ import annotations

import pytest

from pipeline.input_files import expand_patterns


def test_globs_paths_and_directories(tmp_path):
    for name in ("b.warc.gz", "a.warc.gz", "sub/c.warc.gz"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    files_only = lambda fs, path: [] if fs.isdir(path) else [path]  # noqa: E731
    got = expand_patterns([str(tmp_path / "*"), str(tmp_path / "a.warc.gz")], files_only)
    assert got == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
    inside = expand_patterns(str(tmp_path / "sub"), lambda fs, path: sorted(fs.find(path)))
    assert inside == [str(tmp_path / "sub/c.warc.gz")]
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        expand_patterns([str(tmp_path / "a.warc.gz"), str(tmp_path / "nothing-here*")], files_only)
    with pytest.raises(FileNotFoundError, match="sub"):
        expand_patterns(str(tmp_path / "sub"), files_only)
