"""The block scan both plain readers resync with: a match cut by a block's end is found whole in the next block."""

from __future__ import annotations

import io
import re

from pipeline.warc.plain import _SCAN_BLOCK, scan_for


def test_a_match_across_a_block_edge_is_found():
    data = b"x" * (_SCAN_BLOCK - 4) + b"WARC/1.0\r\n" + b"y" * 10
    found = scan_for(io.BytesIO(data), 0, re.compile(rb"WARC/1\.0\r\n"), overlap=16)
    assert found is not None and found[0] + found[1].start() == _SCAN_BLOCK - 4
    assert scan_for(io.BytesIO(data), _SCAN_BLOCK, re.compile(rb"WARC/1\.0\r\n"), overlap=16) is None
    assert scan_for(io.BytesIO(b""), 0, re.compile(rb"W"), overlap=1) is None
