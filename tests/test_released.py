"""Starting from what HALA released: its corpus streamed through the `hala_sft` adapter, its
translator as an input, its models as systems compared with the paper's Tables 1 and 2. No network:
the hub's loader is replaced by the fixture rows in the dataset's published format."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from hala_exp.config.schema import SourceConfig
from hala_exp.data.sources import iter_raw

FIX = Path(__file__).parent / "fixtures" / "sources"
CORPUS = "hammh0a/Hala-4.6M-SFT"


class FakeHub:
    """`datasets.load_dataset` for a streamed hub dataset: the fixture's rows, lazily, counting how
    many were pulled (a budget must stop the stream, not read 4M rows and slice)."""

    def __init__(self):
        self.calls: list[tuple[tuple, dict]] = []
        self.pulled = 0

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        assert kwargs.get("streaming") is True, "a streamed source must not prepare the whole split"
        rows = pq.read_table(FIX / "hala_sft.parquet").to_pylist()

        def stream():
            for row in rows:
                self.pulled += 1
                yield row
        return stream()


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    import datasets

    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake)
    return fake


def corpus(**kw) -> OmegaConf:
    return OmegaConf.merge(OmegaConf.structured(SourceConfig),
                           {"path": CORPUS, "adapter": "hala_sft", "format": "hub", "id_field": None,
                            "lang": "ar", "streaming": True, "rows": 2, "offset": 1, **kw})


def test_a_streamed_hub_source_reads_its_budget_and_stops(hub):
    rows = list(iter_raw(corpus(revision="abc")))
    assert len(rows) == 2 and rows[0]["conversations"][0]["from"] == "system"  # rows [1, 3)
    assert hub.pulled == 3  # the offset's row and the two read: nothing past the budget
    (args, kwargs), = hub.calls
    assert args == (CORPUS, None) and kwargs == {"split": "train", "revision": "abc", "streaming": True}


def test_the_released_corpus_snapshot_is_streamed_checked_and_written(hub, tmp_path):
    from hala_exp.data.snapshot import iter_snapshot, write_snapshot

    metrics = write_snapshot("chat", corpus(rows=10, offset=0), "hala_sft", "data.translated.hala_sft", tmp_path)
    rows = list(iter_snapshot(tmp_path / "rows.parquet"))
    assert metrics == {"rows.read": 5.0, "rows.kept": 4.0, "rows.dropped.empty": 1.0}
    assert {r["lang"] for r in rows} == {"ar"} and rows[0]["id"] == "hala_sft-0"
