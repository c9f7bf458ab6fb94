"""Stage 6: fine-tune the student on the Arabic instruction mix (translated instruction -> response).

`arabic_ratio` (data.mix.arabic_ratio; null = Arabic only, the paper) trains that share of the
corpus rows in Arabic and the others in their English originals, for ALLaM-style ratio ablations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from hala_exp.arabic_text import has_arabic
from hala_exp.data.mix import arabic_rows
from hala_exp.json_files import iter_jsonl
from hala_exp.stages.declaration import StageInfo, Trains, pick, source_slice, train_with
from hala_exp.training.sft import Hyper, pair, train_sft

if TYPE_CHECKING:
    import numpy as np
    from datasets import Dataset


def usable(corpus: Iterable[dict]) -> Iterator[dict]:
    """Corpus rows with both Arabic sides translated."""
    return (r for r in corpus if r["instr_ar"] and r["resp_ar"])


def training_rows(corpus: Iterable[dict], arabic: np.ndarray) -> Iterator[dict]:
    """Prompt-completion rows from translated corpus rows, row i in Arabic where `arabic[i]`, else in
    its English original (`arabic`: `hala_exp.data.mix.arabic_rows` over the usable rows)."""
    for r, ar in zip(usable(corpus), arabic):
        yield pair(r["instr_ar"], r["resp_ar"]) if ar else pair(r["instr_en"], r["resp_en"])


def _corpus_rows(path: str, arabic: np.ndarray) -> Iterator[dict]:
    yield from training_rows(iter_jsonl(path), arabic)


@contextmanager
def arrow_rows(out: Path, generator: Callable[..., Iterator[dict]], **kwargs: Any) -> Iterator[Dataset]:
    """The generator's rows as an Arrow file the trainer memory-maps, so no rank holds the corpus in
    memory: one copy per rank (each rank of a multi-GPU run builds its own), removed afterwards."""
    import os
    import shutil

    from datasets import Dataset

    work = out.parent / f"{out.name}.rows{os.environ.get('RANK', '0')}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        yield Dataset.from_generator(generator, gen_kwargs=kwargs, cache_dir=str(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """The corpus is streamed twice (count, then write the Arrow rows), never held in memory."""
    n = with_arabic = 0
    for r in usable(iter_jsonl(inputs["corpus"])):
        n += 1
        with_arabic += has_arabic(r["instr_ar"])
    if n == 0:
        raise ValueError(f"no training rows: {inputs['corpus']} holds no row with both Arabic sides")
    arabic = arabic_rows(n, cfg.arabic_ratio, cfg.seed)
    with arrow_rows(out, _corpus_rows, path=inputs["corpus"], arabic=arabic) as rows:
        metrics = train_sft(inputs["model"], rows, out / "model",
                            student_hyper(cfg), cfg.train,
                            checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
    metrics["rows_with_arabic"] = float(with_arabic)
    metrics["rows_arabic"], metrics["rows_english"] = float(arabic.sum()), float((~arabic).sum())
    return metrics


def student_hyper(cfg: DictConfig) -> Hyper:
    """The student's training settings: its key slice, and the micro-batch under `options`."""
    m = cfg.model
    return Hyper(m.learning_rate, m.global_batch, cfg.options.micro_batch, m.max_length, "model")


def source_pairs(paths: list[str], langs: list[str], budget: dict[str, int] | None) -> Iterator[dict]:
    """Prompt-completion rows of the snapshots in order, one batch at a time; with a `budget`
    ({lang: rows}), the first rows of each language up to its budget."""
    from hala_exp.data.chat import to_instruction
    from hala_exp.data.snapshot import iter_snapshot

    taken: dict[str, int] = {}
    for path, lang in zip(paths, langs):
        for r in map(to_instruction, iter_snapshot(path)):
            if not (r["instruction"].strip() and r["response"].strip()):
                continue
            if budget is not None:
                if taken.get(lang, 0) >= budget.get(lang, 0):
                    break
                taken[lang] = taken.get(lang, 0) + 1
            yield pair(r["instruction"], r["response"])


def language_budget(mix: DictConfig, available: dict[str, int]) -> dict[str, int]:
    """{"ar": rows, "en": rows}: `arabic_ratio` of `total_rows` in Arabic, the rest in English;
    ValueError naming the keys when the sources hold fewer rows of a language than it asks for."""
    total = int(mix.total_rows)
    want = {"ar": round(mix.arabic_ratio * total)}
    want["en"] = total - want["ar"]
    for lang, n in want.items():
        if available.get(lang, 0) < n:
            raise ValueError(
                f"data.mix.arabic_ratio = {mix.arabic_ratio} of data.mix.total_rows = {total} asks for {n} rows "
                f"in {lang!r}, but the data.translated sources with lang: {lang} hold {available.get(lang, 0)}. "
                f"Fix: lower data.mix.total_rows, raise those sources' rows, or add a source with lang: {lang}")
    return want


def run_sources(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """SFT on instruction/response sources read directly (the released corpus, the ALLaM recipe's
    sources): rows stream from the snapshots into an Arrow file the trainer memory-maps, so a
    corpus of millions of rows is never held in memory. With `mix`, a language share of a total."""
    from hala_exp.data.snapshot import snapshot_counts

    names = list(cfg.sources)
    paths = [inputs[f"source.{n}"] for n in names]
    langs = [cfg.sources[n].get("lang", "en") for n in names]
    mix = cfg.get("mix")
    budget = None
    if mix:
        available: dict[str, int] = {}
        for path, lang in zip(paths, langs):
            available[lang] = available.get(lang, 0) + snapshot_counts(path).kept
        budget = language_budget(mix, available)
    with arrow_rows(out, source_pairs, paths=paths, langs=langs, budget=budget) as rows:
        metrics = train_sft(inputs["model"], rows, out / "model",
                            student_hyper(cfg), cfg.train,
                            checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
        metrics["rows_with_arabic"] = float(sum(has_arabic(c[0]["content"])
                                                for batch in rows.iter(batch_size=4096)
                                                for c in batch["completion"]))
    if budget is not None:
        metrics["rows_arabic"], metrics["rows_english"] = float(budget["ar"]), float(budget["en"])
    return metrics


def _student(cfg: DictConfig) -> dict:
    return {"model": pick(cfg.model, "learning_rate", "global_batch", "max_length"),
            "train": train_with(cfg.train, cfg.model.train)}


def _arabic_ratio(ratio: float | None) -> float | None:
    """null and 1.0 both mean an all-Arabic SFT set: one key, so the default run is reused."""
    return None if ratio is None or ratio >= 1.0 else float(ratio)


def key_config(cfg: DictConfig) -> dict:
    return {**_student(cfg), "arabic_ratio": _arabic_ratio(cfg.data.mix.arabic_ratio), "seed": cfg.data.seed}


def sources_config(cfg: DictConfig, sources: DictConfig, mix: dict | None = None) -> dict:
    """`mix` (a language share of data.translated) joins the key only when set, so the keys of SFT
    runs on every row of their sources stay what they were."""
    return {**_student(cfg), "sources": {n: source_slice(s) for n, s in sources.items()},
            **({"mix": mix} if mix else {})}


DECLARED = (StageInfo("sft", 2, "hala_exp.stages.sft:run", key_config, partial="checkpoints",
                      trains=Trains("model", "train.bf16", "model"), headline=("train_loss",)),
            StageInfo("sft_sources", 2, "hala_exp.stages.sft:run_sources", sources_config, partial="checkpoints",
                      trains=Trains("model", "train.bf16", "model"), headline=("train_loss",)))
