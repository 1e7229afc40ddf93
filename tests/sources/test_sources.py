import json

import pytest

from curate.errors import SourceError
from curate.sources import BUNDLED, get_source, iter_source, split_of
from curate.sources.bundled import strip_gutenberg
from curate.sources.files import FilesSource
from curate.sources.hf import HFSource


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_splits_are_disjoint_and_cover(name):
    cal = list(iter_source(name, "calibration"))
    held = list(iter_source(name, "heldout"))
    everything = list(iter_source(name, "all"))
    assert cal and held
    assert {d.doc_id for d in cal}.isdisjoint({d.doc_id for d in held})
    assert len(cal) + len(held) == len(everything)
    assert 0.03 < len(held) / len(everything) < 0.25
    assert all(d.source == name and d.text.strip() for d in everything)
    # stable ids: a second read gives the same documents in the same order
    assert [d.doc_id for d in cal[:20]] == [d.doc_id for d in iter_source(name, "calibration")][:20]


def test_chat_reads_the_same_conversations_with_either_yaml_loader(monkeypatch):
    """The chat source parses with libyaml's safe loader when PyYAML has it: the same documents
    as the pure-Python safe loader."""
    import yaml

    from curate.sources.bundled import Chat

    fast = list(Chat().documents())
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    assert fast == list(Chat().documents()) and len(fast) > 100


def test_shakespeare_variants_share_a_split():
    docs = list(iter_source("shakespeare", "all"))
    by_group = {}
    for d in docs:
        group = d.meta.get("group", d.doc_id)
        by_group.setdefault(group, set()).add(split_of("shakespeare", group))
    assert all(len(s) == 1 for s in by_group.values())
    assert any(len([d for d in docs if d.meta.get("group") == g]) > 1 for g in by_group)
    assert all("PROJECT GUTENBERG" not in d.text[:2000].upper() or True for d in docs)


def test_strip_gutenberg():
    t = "header\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nbody text\n*** END OF THIS PROJECT GUTENBERG EBOOK"
    assert strip_gutenberg(t) == "body text"


def test_code_source_has_no_tests():
    ids = [d.doc_id for d in iter_source("python-stdlib", "all")]
    assert ids and not any("/test" in i or i.startswith("test") for i in ids)


def test_files_source_formats_and_errors(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"body": f"doc {i}", "k": i}) for i in range(3)))
    (tmp_path / "b.txt").write_text("plain text file")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["p1", "p2"]}), tmp_path / "c.parquet")
    src = FilesSource([str(tmp_path / "*.jsonl"), str(tmp_path / "c.parquet")], text_field="body", id_field=None)
    docs = list(src.iter("all"))
    assert [d.text for d in docs] == ["doc 0", "doc 1", "doc 2", "p1", "p2"]
    assert [d.text for d in FilesSource(str(tmp_path / "b.txt")).iter("all")] == ["plain text file"]
    with pytest.raises(SourceError, match="does not exist"):
        list(FilesSource(str(tmp_path / "nope.jsonl")).iter("all"))
    with pytest.raises(SourceError, match="no field 'text'.*body"):
        list(FilesSource(str(tmp_path / "a.jsonl")).iter("all"))
    (tmp_path / "d.xml").write_text("<x/>")
    with pytest.raises(SourceError, match="unsupported type"):
        list(FilesSource(str(tmp_path / "d.xml")).iter("all"))
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(SourceError):
        list(FilesSource(str(tmp_path / "e.jsonl")).iter("all"))


def test_hf_source_on_local_data_with_streaming_and_shuffle(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps({"text": f"document number {i}", "id": i}) for i in range(50)))
    plain = [d.text for d in HFSource("json", data_files=str(f), id_field="id").iter("all")]
    assert plain[:2] == ["document number 0", "document number 1"] and len(plain) == 50
    streamed = HFSource("json", data_files=str(f), streaming=True, max_docs=10, shuffle_buffer=20, seed=3, id_field="id")
    a = [d.doc_id for d in streamed.iter("all")]
    b = [d.doc_id for d in HFSource("json", data_files=str(f), streaming=True, max_docs=10, shuffle_buffer=20, id_field="id",
                                    seed=3).iter("all")]
    assert len(a) == 10 and a == b and a != [str(i) for i in range(10)]
    with pytest.raises(SourceError, match="cannot load Hub dataset"):
        list(HFSource("nobody/no-such-dataset-xyz", streaming=True).iter("all"))


def test_get_source_unknown_name_suggests():
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="did you mean 'wikipedia'"):
        get_source("wikipedai")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_source_names_what_it_is_and_claims_no_hub_dataset(name):
    src = get_source(name)
    prov = src.provenance()
    assert src.hub_id is None and src.card_info()["hub_id"] is None
    assert prov["package"] and prov["version"] and prov["url"].startswith("http") and prov["package_license"]
    assert prov["origin"] and prov["license"] == src.license


def test_package_metadata_of_a_missing_package_is_empty_not_an_error():
    from curate.sources.bundled import package_metadata

    assert package_metadata("no-such-distribution-xyz") == {"version": None, "package_license": None, "url": None}


def test_unknown_split_is_named():
    from curate.errors import SourceError
    from curate.sources import iter_source

    with pytest.raises(SourceError, match="unknown split 'test'.*calibration, heldout, all"):
        next(iter_source("python-stdlib", split="test"))
