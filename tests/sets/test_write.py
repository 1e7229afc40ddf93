
import pytest

from curate.errors import CurateError
from curate.records import Sample
from curate.sets.read import load_set
from curate.sets.write import fingerprint_rows, normalize_rows, write_version


def samples(k=0, n=4):
    return [Sample(text=f"t{i}-{k}", source="s", doc_id=f"d{i}", input_ids=[i, k, 3],
                   meta={"offset": i} if i % 2 else {}, scores={"ppl": 1.0 + i}) for i in range(n)]


def test_write_and_read_back(tmp_path):
    path, existed = write_version(samples(), {"seed": 0, "n_samples": 4, "seq_len": 3}, tmp_path, "x")
    assert not existed and path == tmp_path / "x" / "v1.0.0"
    cs = load_set(path)
    assert cs.input_ids().tolist() == [[i, 0, 3] for i in range(4)]
    assert cs.manifest["fingerprint"] == fingerprint_rows(normalize_rows(samples()))
    assert (path / "data" / "train-00000-of-00001.parquet").exists() and (path / "README.md").exists()
    # rows with and without a meta key share one schema
    assert cs.dataset["meta_offset"] == [None, 1, None, 3]


def test_fingerprint_ignores_scores_but_not_content():
    a = normalize_rows(samples())
    b = normalize_rows([Sample(**{**s.__dict__, "scores": {"ppl": 9.0}}) for s in samples()])
    c = normalize_rows(samples(k=1))
    assert fingerprint_rows(a) == fingerprint_rows(b) != fingerprint_rows(c)


def test_same_content_is_a_noop_and_versions_never_overwritten(tmp_path):
    p1, _ = write_version(samples(), {}, tmp_path, "x")
    p1b, existed = write_version(samples(), {}, tmp_path, "x")
    assert existed and p1b == p1
    p2, existed2 = write_version(samples(k=1), {}, tmp_path, "x")
    assert not existed2 and p2.name == "v2.0.0"
    before = (p1 / "manifest.json").read_text()
    with pytest.raises(CurateError, match="already exists"):
        write_version(samples(k=2), {}, tmp_path, "x", version="v1.0.0")
    assert (p1 / "manifest.json").read_text() == before
    assert sorted(d.name for d in (tmp_path / "x").iterdir()) == ["v1.0.0", "v2.0.0"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import curate.sets.card

    def boom(*a, **k):
        raise RuntimeError("card failed")

    monkeypatch.setattr(curate.sets.card, "render_card", boom)
    with pytest.raises(RuntimeError):
        write_version(samples(), {}, tmp_path, "x")
    assert list(tmp_path.iterdir()) == []  # not even an empty x/ folder
