"""numba's on-disk cache is pickles: its folder must be one only this user can write."""

import os

from pipeline import compiled


def fallback_cache_dir(tmp_path, monkeypatch) -> str:
    """The folder prepare_cache_dir picks when the package folder is read-only and /tmp is `tmp_path`."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(compiled.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(compiled.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(compiled.os, "access", lambda path, mode: False)
    compiled.prepare_cache_dir()
    return os.environ["NUMBA_CACHE_DIR"]


def test_the_shared_temp_cache_folder_is_private(tmp_path, monkeypatch):
    path = fallback_cache_dir(tmp_path, monkeypatch)
    assert path == str(tmp_path / f"sluice-numba-cache-{os.getuid()}")
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_a_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    planted = tmp_path / f"sluice-numba-cache-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)  # as if another user had made it first, open to all
    path = fallback_cache_dir(tmp_path, monkeypatch)
    assert path != str(planted) and compiled.private_dir(path)


def test_a_symlink_is_not_followed(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / f"sluice-numba-cache-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    path = fallback_cache_dir(tmp_path, monkeypatch)
    assert os.path.basename(path).startswith("sluice-numba-cache-") and not os.path.islink(path)
