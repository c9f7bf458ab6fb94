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


# --- the released corpus as the SFT input: data=hala_released ------------------------------------

def graph(overrides: list[str]) -> dict:
    from hala_exp.config import compose
    from hala_exp.recipes import build_graph

    return {s.name: s for s in build_graph(compose(overrides))}


CHAIN = {"quantize_teacher", "validate_teacher", "translate_bootstrap", "judge", "train_translator", "translate_corpus"}


def test_the_released_corpus_preset_runs_sft_and_what_follows_with_no_translation_chain(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    steps = graph(["experiment=hala_1.2b", "data=hala_released"])
    assert set(steps) == {"source.translated.hala_sft", "sft", "merge", "evaluate.student_base",
                          "evaluate.student_sft", "evaluate.student_merged"}
    assert not CHAIN & set(steps)
    snap = steps["source.translated.hala_sft"]
    assert snap.config["source"]["path"] == CORPUS and snap.config["source"]["adapter"] == "hala_sft"
    assert snap.config["source"]["rows"] == 4_060_575 and snap.config["source"]["lang"] == "ar"
    assert snap.config["content"] == {"hub_commit": None, "revision": "main"}  # offline, nothing cached
    assert snap.messages == {"key": "data.translated.hala_sft", "streaming": True}
    assert "streaming" not in snap.config["source"]  # how the rows are read, not which
    assert steps["sft"].stage == "sft_sources" and set(steps["sft"].inputs) == {"model", "source.hala_sft"}
    assert steps["merge"].inputs["base"] == "LiquidAI/LFM2-1.2B"


def test_the_released_corpus_is_keyed_by_the_commit_its_revision_resolves_to(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from hala_exp.data import content_keys
    from hala_exp.recipes.graph import step_keys

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    refs = tmp_path / "datasets--hammh0a--Hala-4.6M-SFT" / "refs"
    refs.mkdir(parents=True)
    keys = []
    for sha in ("a" * 40, "b" * 40):
        (refs / "main").write_text(sha)
        content_keys.hub_commit.cache_clear()
        steps = graph(["experiment=hala_1.2b", "data=hala_released"])
        assert steps["source.translated.hala_sft"].config["content"]["hub_commit"] == sha
        keys.append(step_keys(list(steps.values())))
    assert {n for n in keys[0] if keys[0][n] != keys[1][n]} == {
        "source.translated.hala_sft", "sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}
    content_keys.hub_commit.cache_clear()
    unstreamed = graph(["experiment=hala_1.2b", "data=hala_released", "data.translated.hala_sft.streaming=false"])
    assert step_keys(list(unstreamed.values())) == keys[1]


def test_a_slerp_sweep_on_the_released_corpus_trains_once_and_merges_per_point(monkeypatch):
    from hala_exp.recipes.graph import step_keys

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    points = [step_keys(list(graph(["experiment=hala_1.2b", "data=hala_released", f"merge.t={t}"]).values()))
              for t in (0.25, 0.5, 0.75)]
    assert len({p["sft"] for p in points}) == 1 and len({p["merge"] for p in points}) == 3
    budgets = [step_keys(list(graph(["+sweep=released_rows", "experiment=hala_1.2b",
                                     f"data.translated.hala_sft.rows={n}"]).values())) for n in (1000, 2000)]
    assert budgets[0]["source.translated.hala_sft"] != budgets[1]["source.translated.hala_sft"]
    assert budgets[0]["evaluate.student_base"] == budgets[1]["evaluate.student_base"]


def test_a_language_share_of_the_released_corpus_needs_a_total_and_both_languages():
    from hala_exp.config import ConfigError, compose, validate

    with pytest.raises(ConfigError, match=r"data\.mix\.total_rows = None: data\.mix\.arabic_ratio shares a total"):
        validate(compose(["experiment=hala_1.2b", "data=hala_released", "data.mix.arabic_ratio=0.5"]),
                 check_data=False)
    with pytest.raises(ConfigError, match=r"data\.mix\.arabic_ratio = 0\.5: needs data\.translated sources with "
                                          r"lang ar and en, but they have ar\. Fix: .*hala_released_bilingual"):
        validate(compose(["experiment=hala_1.2b", "data=hala_released", "data.mix.arabic_ratio=0.5",
                          "data.mix.total_rows=1000"]), check_data=False)
    validate(compose(["experiment=hala_1.2b", "data=hala_released_bilingual"]), check_data=False)


def test_the_bilingual_preset_reads_the_english_originals_and_its_ratio_reaches_sft_only(monkeypatch):
    from hala_exp.recipes.graph import step_keys

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    steps = graph(["experiment=hala_1.2b", "data=hala_released_bilingual"])
    english = {n for n in steps if n.startswith("source.translated.") and n.endswith("_en")}
    assert len(english) == 7 and not CHAIN & set(steps)
    assert steps["source.translated.openorca_en"].config["source"]["path"] == "Open-Orca/OpenOrca"
    assert steps["sft"].config["mix"] == {"arabic_ratio": 0.55, "total_rows": 4_000_000}
    a = step_keys(list(steps.values()))
    b = step_keys(list(graph(["experiment=hala_1.2b", "data=hala_released_bilingual",
                              "data.mix.arabic_ratio=0.45"]).values()))
    assert {n for n in a if a[n] != b[n]} == {"sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}


def snapshot(tmp_path: Path, name: str, adapter: str, file: str, lang: str) -> str:
    from hala_exp.data.snapshot import write_snapshot

    fmt = file.rsplit(".", 1)[1]
    src = OmegaConf.merge(OmegaConf.structured(SourceConfig), {"path": str(FIX / file), "adapter": adapter,
                                                               "format": fmt, "id_field": None, "lang": lang})
    (tmp_path / name).mkdir()
    write_snapshot("chat", src, name, f"data.translated.{name}", tmp_path / name)
    return str(tmp_path / name / "rows.parquet")


def test_the_sft_rows_stream_from_the_snapshots_with_a_language_budget(tmp_path):
    from datasets import Dataset

    from hala_exp.stages.sft import language_budget, source_pairs

    paths = [snapshot(tmp_path, "hala_sft", "hala_sft", "hala_sft.parquet", "ar"),
             snapshot(tmp_path, "lamini_en", "lamini", "lamini.parquet", "en")]
    every = list(source_pairs(paths, ["ar", "en"], None))
    assert len(every) == 8 and every[0]["prompt"][0]["content"] == "ما هي عاصمة أستراليا؟"
    budget = language_budget(OmegaConf.create({"arabic_ratio": 0.5, "total_rows": 6}), {"ar": 4, "en": 4})
    assert budget == {"ar": 3, "en": 3}
    mixed = list(source_pairs(paths, ["ar", "en"], budget))
    assert mixed == every[:3] + every[4:7]
    on_disk = Dataset.from_generator(source_pairs, gen_kwargs={"paths": paths, "langs": ["ar", "en"],
                                                               "budget": budget}, cache_dir=str(tmp_path / "c"))
    assert on_disk.cache_files and on_disk.to_list() == mixed  # memory-mapped from disk, same rows in order
    with pytest.raises(ValueError, match=r"asks for 5 rows in 'en', but the data\.translated sources with lang: en "
                                         r"hold 4\. Fix: lower data\.mix\.total_rows"):
        language_budget(OmegaConf.create({"arabic_ratio": 0.5, "total_rows": 10}), {"ar": 5, "en": 4})


def test_sft_on_the_released_corpus_trains_from_the_streamed_snapshot(tiny_lfm2, tmp_path):
    from hala_exp.stages.sft import run_sources

    path = snapshot(tmp_path, "hala_sft", "hala_sft", "hala_sft.parquet", "ar")
    cfg = OmegaConf.create({
        "model": {"learning_rate": 1e-3, "global_batch": 2, "max_length": 64}, "options": {"micro_batch": 2},
        "train": {"name": "t", "epochs": 1, "max_steps": 2, "warmup_ratio": 0.0, "lr_scheduler": "linear",
                  "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True,
                  "bf16": False, "gradient_checkpointing": False, "logging_steps": 1, "save_steps": 0, "seed": 0},
        "sources": {"hala_sft": {"lang": "ar"}}})
    out = tmp_path / "step" / "out"
    out.mkdir(parents=True)
    metrics = run_sources(cfg, {"model": str(tiny_lfm2), "source.hala_sft": path}, out)
    assert metrics["rows"] == 4.0 and metrics["rows_with_arabic"] == 3.0  # one reply is LaTeX only
    assert (out / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # the Arrow copy is gone


# --- the released translator as an input: translator=hala_released --------------------------------

TRANSLATOR = "hammh0a/Hala-1.2B-EN-AR-Translator"


def test_the_released_translator_translates_the_corpus_and_nothing_is_trained_for_it(monkeypatch):
    from hala_exp.recipes.graph import step_keys

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    steps = graph(["experiment=hala_1.2b", "translator=hala_released"])
    assert not {"quantize_teacher", "validate_teacher", "translate_bootstrap", "judge", "train_translator",
                "evaluate.teacher", "evaluate.teacher_fp8", "source.bootstrap", "source.parallel"} & set(steps)
    assert steps["translate_corpus"].inputs["model"] == TRANSLATOR
    assert steps["sft"].inputs["corpus"].step == "translate_corpus"
    assert steps["evaluate.translator"].inputs == {"model": TRANSLATOR}
    assert steps["evaluate.translator_base"].inputs == {"model": "LiquidAI/LFM2-1.2B"}
    prompt = steps["evaluate.translator"].config["system"]["prompt"]
    assert prompt.startswith("You are a professional translation engine.")  # the paper's translator prompt
    assert steps["evaluate.translator"].config["system"]["dtype"] == "bfloat16"  # as released, not float32
    # the base's Table 2 evaluation is the one the full recipe runs: reused, not repeated
    full = step_keys(list(graph(["experiment=hala_1.2b"]).values()))
    assert step_keys(list(steps.values()))["evaluate.translator_base"] == full["evaluate.translator_base"]


def test_a_trained_translator_must_name_a_real_base(monkeypatch):
    from hala_exp.config import ConfigError, compose, validate

    with pytest.raises(ConfigError, match=r"translator\.base = 'hammh0a/Hala-1\.2B-EN-AR-Translator': is "
                                          r"translator\.id itself.*Fix: set translator\.base to the base"):
        validate(compose(["experiment=hala_1.2b", "translator=hala_released", f"translator.base={TRANSLATOR}"]),
                 check_data=False)
    with pytest.raises(ConfigError, match=r"translator\.base = 'LiquidAI/LFM2-1\.2B': marks translator\.id as "
                                          r"already trained, which a tiny model"):
        validate(compose(["translator.base=LiquidAI/LFM2-1.2B"]), check_data=False)


# --- the released models as systems: experiment=hala_released (recipe=compare) --------------------

MODELS = {"lfm2_350m": "LiquidAI/LFM2-350M", "hala_350m": "hammh0a/Hala-350M",
          "lfm2_700m": "LiquidAI/LFM2-700M", "hala_700m": "hammh0a/Hala-700M",
          "lfm2_1_2b": "LiquidAI/LFM2-1.2B", "hala_1_2b": "hammh0a/Hala-1.2B",
          "fanar_9b": "QCRI/Fanar-1-9B-Instruct", "hala_9b": "hammh0a/Hala-9B"}
TRANSLATORS = {"translator_base": "LiquidAI/LFM2-1.2B", "translator": TRANSLATOR}
RELEASED = ["hammh0a/Hala-350M", "hammh0a/Hala-700M", "hammh0a/Hala-1.2B", "hammh0a/Hala-9B", TRANSLATOR]


def test_the_released_models_preset_evaluates_each_checkpoint_as_it_is_and_trains_nothing(monkeypatch):
    from hala_exp.config import compose, validate
    from hala_exp.recipes.graph import step_keys

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    validate(compose(["experiment=hala_released"]), check_data=False)
    steps = graph(["experiment=hala_released"])
    assert {s.stage for s in steps.values()} == {"evaluate_lighteval", "evaluate_translation"}
    assert {n: s.inputs["model"] for n, s in steps.items() if s.stage == "evaluate_lighteval"} == {
        f"evaluate.{label}": hub for label, hub in MODELS.items()}
    assert {n: s.inputs["model"] for n, s in steps.items() if s.stage == "evaluate_translation"} == {
        f"evaluate.{label}": hub for label, hub in TRANSLATORS.items()}
    assert steps["evaluate.lfm2_350m"].config["eval"]["lighteval"]["suite"] == "oall"
    assert steps["evaluate.translator"].config["system"]["prompt"].startswith("You are a professional translation")
    assert steps["evaluate.translator_base"].config["system"]["prompt"] == (
        "Translate everything that follows into Arabic: {text}")
    # the same checkpoint under the same protocol is the same step as in the recipes that train
    keys = step_keys(list(steps.values()))
    trained = step_keys(list(graph(["experiment=hala_1.2b", "translator=hala_released"]).values()))
    assert keys["evaluate.lfm2_1_2b"] == trained["evaluate.student_base"]
    assert keys["evaluate.translator"] == trained["evaluate.translator"]
    assert keys["evaluate.translator_base"] == trained["evaluate.translator_base"]


def test_any_other_checkpoint_is_one_more_system_in_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    steps = graph(["experiment=hala_released", f"systems.models=[{{label: mine, id: {tmp_path}}}, "
                   "{label: pinned, id: hammh0a/Hala-1.2B, revision: abc123}]"])
    assert {n for n, s in steps.items() if s.stage == "evaluate_lighteval"} == {"evaluate.mine", "evaluate.pinned"}
    assert steps["evaluate.mine"].inputs["model"] == str(tmp_path)
    assert steps["evaluate.pinned"].inputs["model"] == "hammh0a/Hala-1.2B@abc123"


@pytest.mark.parametrize(("override", "problem"), [
    ("systems.models.0.label=lfm2.350m", r"systems\.models\.0\.label = 'lfm2\.350m': names the step .* "
                                         r"Fix: use 'lfm2_350m'"),
    ("systems.models.1.label=lfm2_350m", r"systems\.models\.1\.label = 'lfm2_350m': is also systems\.models\.0's"),
    ("systems.translators.1.prompt=Translate", r"systems\.translators\.1\.prompt = 'Translate': has no \{text\}"),
    ("eval=translation", r"eval\.lighteval\.tasks = \[\]: is empty, so systems\.models would not be evaluated"),
], ids=["label_with_a_dot", "label_twice", "prompt_without_text", "no_tasks"])
def test_a_system_list_that_cannot_run_is_refused_naming_key_value_and_fix(override, problem):
    from hala_exp.config import ConfigError, compose, validate

    with pytest.raises(ConfigError, match=problem):
        validate(compose(["experiment=hala_released", override]), check_data=False)
    with pytest.raises(ConfigError, match=r"systems = 'none': lists no checkpoint.*systems=hala_released"):
        validate(compose(["recipe=compare"]), check_data=False)


def recorded() -> dict[str, float]:
    """results.json metrics of a recipe=compare run, as the steps record them (synthetic numbers)."""
    m = {f"evaluate.{label}.oall.average": 40.0 + i for i, label in enumerate(MODELS)}
    m["evaluate.hala_9b.oall.alghafa"] = 70.1
    m.update({"evaluate.translator.translation.bleu": 47.0, "evaluate.translator.translation.rougeL": 25.6,
              "evaluate.translator.translation.chrf": 64.2, "evaluate.translator_base.translation.bleu": 16.5})
    return m


def systems_config() -> dict:
    from omegaconf import OmegaConf

    from hala_exp.config import compose

    return OmegaConf.to_container(compose(["experiment=hala_released"]).systems, resolve=True)


def test_table1_puts_the_papers_number_the_measured_one_and_the_difference_in_each_row():
    from hala_exp.table.compare import table1_comparison

    g = table1_comparison(recorded(), systems_config()["models"])
    assert g.header == ["system", "checkpoint", "paper", "measured", "difference"]
    cells = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in g.rows}
    assert list(cells) == list(MODELS)
    assert cells["lfm2_350m"] == ["LiquidAI/LFM2-350M", "34.30", "40.00", "+5.70"]
    assert cells["hala_350m"] == ["hammh0a/Hala-350M", "41.90", "41.00", "-0.90"]
    assert cells["hala_9b"] == ["hammh0a/Hala-9B", "69.90", "47.00", "-22.90"]
    assert "Table 1" in g.title and "AlGhafa" in g.title


def test_table2_compares_bleu_rouge_and_chrf_with_the_papers_and_leaves_what_is_missing_empty():
    from hala_exp.table.compare import table2_comparison

    g = table2_comparison(recorded(), systems_config()["translators"])
    assert g.header[:5] == ["system", "checkpoint", "BLEU paper", "BLEU measured", "BLEU difference"]
    rows = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in g.rows}
    assert rows["translator"] == [TRANSLATOR, "48.20", "47.00", "-1.20", "25.10", "25.60", "+0.50",
                                  "64.20", "64.20", "+0.00"]
    assert rows["translator_base"] == ["LiquidAI/LFM2-1.2B", "16.00", "16.50", "+0.50", "19.30", "", "",
                                       "43.20", "", ""]


def test_a_checkpoint_the_paper_did_not_evaluate_has_no_paper_number_and_no_difference():
    from hala_exp.table.compare import table1_comparison

    g = table1_comparison({"evaluate.mine.oall.average": 50.0}, [{"label": "mine", "id": "/ckpt/mine"}])
    assert [c.text for c in g.rows[0].cells] == ["mine", "/ckpt/mine", "", "50.00", ""]


def test_the_run_summary_and_the_report_show_the_comparison_tables(tmp_path):
    import yaml

    from hala_exp.report.load import RunView
    from hala_exp.report.page import compared
    from hala_exp.results_tables import summary

    text = summary(recorded(), systems=systems_config())
    assert text.startswith("Table 1: ") and "\nTable 2: " in text
    assert "| hala_1_2b | hammh0a/Hala-1.2B | 51.40 | 45.00 | -6.40 |" in text
    assert "Benchmarks: suite oall" in text  # the per-task table follows
    config_text = yaml.safe_dump({"recipe": "compare", "systems": systems_config()})
    view = RunView(tmp_path, "run", [], recorded(), {}, {"recipe": "compare"}, config_text)
    assert compared(view) == systems_config()
    assert compared(RunView(tmp_path, "run", [], {}, {}, {"recipe": "hala"}, config_text)) is None


# --- the reach check names each released id when the hub cannot be reached --------------------------

@pytest.mark.parametrize("hub_id", RELEASED)
def test_offline_an_uncached_released_checkpoint_is_named_with_the_download_fix(monkeypatch, tmp_path, hub_id):
    from huggingface_hub import constants

    from hala_exp.config import ConfigError, compose
    from hala_exp.plan.checks import check_reachable as _reach
    from hala_exp.plan.compiler import compile_plan

    def check_reachable(cfg):
        _reach(compile_plan(cfg))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    group = "translators" if hub_id == TRANSLATOR else "models"
    other = "models" if group == "translators" else "translators"
    cfg = compose(["experiment=hala_released", f"systems.{group}=[{{label: released, id: {hub_id}}}]",
                   f"systems.{other}=[]"])
    with pytest.raises(ConfigError, match=rf"evaluate\.released input 'model': model '{hub_id}' is not in the "
                                          rf"local cache.*Fix: .*hf download {hub_id}`"):
        check_reachable(cfg)


def test_offline_the_uncached_released_corpus_is_named_with_the_download_fix(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from hala_exp.config import ConfigError, compose
    from hala_exp.plan.checks import check_reachable as _reach
    from hala_exp.plan.compiler import compile_plan

    def check_reachable(cfg):
        _reach(compile_plan(cfg))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"data\.translated\.hala_sft: dataset 'hammh0a/Hala-4\.6M-SFT' is not in "
                                          r"the local cache.*hf download hammh0a/Hala-4\.6M-SFT --repo-type dataset"):
        check_reachable(compose(["experiment=hala_1.2b", "data=hala_released"]))


def test_every_released_id_is_a_ref_the_reach_check_looks_up(monkeypatch):
    from hala_exp.config import compose
    from hala_exp.plan.checks import run_refs as _refs
    from hala_exp.plan.compiler import compile_plan

    def run_refs(cfg):
        return _refs(compile_plan(cfg))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = {r.repo for r in run_refs(compose(["experiment=hala_released"])) if r.repo_type == "model"}
    assert models == set(MODELS.values()) | {TRANSLATOR}
    used = {(r.repo, r.repo_type) for r in run_refs(compose(["experiment=hala_1.2b", "translator=hala_released",
                                                             "data=hala_released"]))}
    assert (CORPUS, "dataset") in used and ("LiquidAI/LFM2-1.2B", "model") in used


def test_an_unreachable_hub_is_named_with_the_first_released_id_it_was_asked_for(monkeypatch):
    from huggingface_hub import constants

    from hala_exp.config import ConfigError, compose
    from hala_exp.plan.checks import check_reachable as _reach
    from hala_exp.plan.compiler import compile_plan

    def check_reachable(cfg):
        _reach(compile_plan(cfg))

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    cfg = compose(["experiment=hala_released", "systems.models=[{label: hala_9b, id: hammh0a/Hala-9B}]",
                   "systems.translators=[]"])
    with pytest.raises(ConfigError, match=r"evaluate\.hala_9b input 'model': the hub \(http://127\.0\.0\.1:9\) "
                                          r"cannot be reached to look up model 'hammh0a/Hala-9B'.*HF_HUB_OFFLINE=1"):
        check_reachable(cfg)


def test_a_compare_run_prints_table2_for_a_local_checkpoint_and_its_report_shows_it(tiny_lfm2, tmp_path):
    """recipe=compare end to end on CPU: a local checkpoint as a translator system, the translation
    protocol on the bundled Tatoeba rows, Table 2 at the end of the run and on the report page."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.run([sys.executable, "-m", "hala_exp.cli", "recipe=compare", "logger=none",
                           f"systems.translators=[{{label: mine, id: {tiny_lfm2}, dtype: float32}}]",
                           "eval.lighteval.tasks=[]", "eval.translation.n=8", "eval.translation.max_new_tokens=8",
                           f"store={tmp_path / 'store'}", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\nTable 2: " in proc.stdout and "| BLEU paper | BLEU measured | BLEU difference |" in proc.stdout
    assert f"| mine | {tiny_lfm2} |  | " in proc.stdout  # no paper number for a checkpoint it did not evaluate
    report = subprocess.run([sys.executable, "-m", "hala_exp.report.cli", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Table 2: EN-&gt;AR" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("command", "steps"), [
    (["experiment=hala_released", "cluster=h100"],
     {f"evaluate.{label}" for label in [*MODELS, *TRANSLATORS]}),
    (["-m", "+sweep=slerp_t", "experiment=hala_1.2b", "data=hala_released", "cluster=h100"],
     {"source.translated.hala_sft", "sft", "merge", "evaluate.student_base", "evaluate.student_sft",
      "evaluate.student_merged"}),
], ids=["released_models", "released_corpus_slerp_sweep"])
def test_the_readmes_two_commands_plan_what_they_say(tmp_path, command, steps):
    """`plan=true` of the README's commands: evaluate the released models; SFT + slerp sweep on the
    released corpus (five points, one fine-tune: the same sft key in each)."""
    import os
    import re
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "hala_exp.cli", *command, "plan=true", f"store={tmp_path / 's'}",
                           f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = re.findall(r"^run\s+(\S+)\s+([0-9a-f]{16})$", proc.stdout, re.M)
    assert {name for name, _ in planned} == steps
    if "-m" in command:
        assert proc.stdout.count(f"{len(steps)} to run, 0 reused") == 5
        assert len({key for name, key in planned if name == "sft"}) == 1
        assert len({key for name, key in planned if name == "merge"}) == 5
