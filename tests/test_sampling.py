import random

import pytest

from curate.errors import SourceError
from curate.records import Sample
from curate.sampling import packing, random_windows


def tok(text):
    return [ord(c) for c in text]


def docs(lengths):
    return [Sample(text="abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1), source="s", doc_id=f"d{i}")
            for i, n in enumerate(lengths)]


def test_random_windows_exact_length_and_deterministic():
    d = [Sample(text="x" * 5 + "".join(chr(65 + (i * 7 + j) % 26) for j in range(200)), source="s", doc_id=f"d{i}")
         for i in range(20)]
    a = random_windows(d, tok, n=30, seq_len=50, rng=random.Random(1))
    b = random_windows(d, tok, n=30, seq_len=50, rng=random.Random(1))
    c = random_windows(d, tok, n=30, seq_len=50, rng=random.Random(2))
    assert len(a) == 30 and all(len(s.input_ids) == 50 for s in a)
    assert [s.input_ids for s in a] == [s.input_ids for s in b]
    assert [s.input_ids for s in a] != [s.input_ids for s in c]
    # every window is a real slice of its document
    by_id = {x.doc_id: tok(x.text) for x in d}
    for s in a:
        doc_id, start = s.doc_id.rsplit("@", 1)
        assert by_id[doc_id][int(start):int(start) + 50] == s.input_ids


def test_random_windows_skips_short_documents_and_reuses_long_ones():
    d = [Sample(text="a" * 10, source="s", doc_id="short"), Sample(text="b" * 100, source="s", doc_id="long")]
    out = random_windows(d, tok, n=5, seq_len=20, rng=random.Random(0))
    assert len(out) == 5 and all(s.doc_id.startswith("long@") for s in out)


def test_random_windows_too_short_is_a_clear_error():
    d = [Sample(text="a" * 10, source="s", doc_id="x")]
    with pytest.raises(SourceError, match="longer than seq_len=20 tokens .longest: 10."):
        random_windows(d, tok, n=2, seq_len=20, rng=random.Random(0), source_name="s")
    with pytest.raises(SourceError, match="empty"):
        random_windows([], tok, n=2, seq_len=20, rng=random.Random(0))


def test_packing_concatenates_with_separator():
    d = [Sample(text="a" * 7, source="s", doc_id=f"d{i}") for i in range(10)]
    out = packing(d, tok, n=4, seq_len=16, rng=random.Random(0), sep_id=0)
    assert len(out) == 4 and all(len(s.input_ids) == 16 for s in out)
    flat = [t for s in out for t in s.input_ids]
    assert flat[:16] == [97] * 7 + [0] + [97] * 7 + [0]
    with pytest.raises(SourceError, match="only 5 blocks"):
        packing(d, tok, n=50, seq_len=16, rng=random.Random(0), sep_id=0)
