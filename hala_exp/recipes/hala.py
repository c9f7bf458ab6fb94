"""Translate-and-tune (HALA): stages 1-5 (unless `data.translated` gives the Arabic data; only stage 5
when `translator.base` says the translator is already trained), then the student's SFT, the optional
DPO, the merge with its base, and every evaluation."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.recipes.common import dpo, heldout, lighteval, sft_sources, translated_mix
from hala_exp.recipes.graph import Builder, Ref, Step


def translation_chain(b: Builder) -> tuple[Ref, dict[str, tuple[Ref | str, str, str]]]:
    """Stages 1-5: the teacher (FP8), bootstrap translation, judge, translator and the corpus it
    translates. Returns the corpus and the translation systems to evaluate (model, prompt, the
    dtype the model runs in)."""
    cfg = b.cfg
    eval_prompt = cfg.eval.translation.prompt
    if cfg.translator.base:
        return trained_translator(b)
    teacher = b.model("teacher", "teacher", [cfg.teacher.prompt, eval_prompt])
    systems: dict[str, tuple[Ref | str, str, str]] = {"teacher": (teacher, eval_prompt, cfg.teacher.dtype)}
    teacher_used = teacher
    if cfg.teacher.fp8:
        probe = b.source("translation", "eval.translation.source", "parallel", cfg.eval.translation.source,
                         "translation")
        b.add("quantize_teacher", "quantize_teacher", {"model": teacher, "probe": probe})
        teacher_used = Ref("quantize_teacher", "model")
        b.add("validate_teacher", "validate_teacher", {"model": teacher, "fp8": teacher_used, "probe": probe})
        systems["teacher_fp8"] = (teacher_used, eval_prompt, cfg.teacher.dtype)

    b.add("translate_bootstrap", "translate_bootstrap",
          {"model": teacher_used,
           "source": b.source("bootstrap", "data.bootstrap", "chat", cfg.data.bootstrap, "bootstrap")})

    judge = b.model("judge", "judge", [cfg.judge.prompt])
    b.add("judge", "judge",
          {"model": judge, "source": b.source("parallel", "data.parallel", "parallel", cfg.data.parallel, "parallel")})

    translator_base = b.model("translator", "translator_base", [eval_prompt, cfg.translator.prompt])
    systems["translator_base"] = (translator_base, eval_prompt, cfg.translator.dtype)
    b.add("train_translator", "train_translator",
          {"model": translator_base, "tuples": Ref("translate_bootstrap", "tuples.jsonl"),
           "accepted": Ref("judge", "accepted.jsonl")})
    translator = Ref("train_translator", "model")
    systems["translator"] = (translator, cfg.translator.prompt, cfg.translator.dtype)  # TRL saves float32

    return translate_corpus(b, translator), systems


def trained_translator(b: Builder) -> tuple[Ref, dict[str, tuple[Ref | str, str, str]]]:
    """Stage 5 with a translator already trained (`translator.base` set, e.g. HALA's released one):
    nothing is trained or judged; it translates the corpus and is evaluated beside its base."""
    cfg = b.cfg
    translator = b.model("translator", "translator")
    base = cfg.translator.base
    systems: dict[str, tuple[Ref | str, str, str]] = {
        "translator_base": (base, cfg.eval.translation.prompt, cfg.translator.dtype),
        "translator": (translator, cfg.translator.prompt, cfg.translator.dtype)}
    return translate_corpus(b, translator), systems


def translate_corpus(b: Builder, translator: Ref | str) -> Ref:
    """`translate_corpus`: the translator over every corpus source but `data.leave_out`."""
    cfg = b.cfg
    corpus = {f"corpus.{k}": b.source(f"corpus.{k}", f"data.corpus.{k}", "chat", v, k)
              for k, v in cfg.data.corpus.items() if k != cfg.data.leave_out}
    b.add("translate_corpus", "translate_corpus", {"model": translator, **corpus})
    return Ref("translate_corpus", "corpus.jsonl")


def build(cfg: DictConfig) -> list[Step]:
    b = Builder(cfg)
    systems: dict[str, tuple[Ref | str, str, str]] = {}
    if cfg.data.translated:
        student = b.model("model", "student_base")
        sft_sources(b, cfg.data.translated, student, "data.translated", "translated", translated_mix(cfg))
    else:
        corpus, systems = translation_chain(b)
        student = b.model("model", "student_base")
        b.add("sft", "sft", {"model": student, "corpus": corpus})
    students: dict[str, Ref | str] = {"student_base": student, "student_sft": Ref("sft", "model")}
    tuned: Ref | str = Ref("sft", "model")
    if cfg.dpo.enabled:
        tuned = students["student_dpo"] = dpo(b, tuned)
    if cfg.merge.method != "none":
        b.add("merge", "merge", {"base": student, "tuned": tuned})
        students["student_merged"] = Ref("merge", "model")

    pairs: dict[str, Ref] = {}
    if systems and not cfg.eval.translation.get("mmlu"):
        pairs["source"] = b.source("translation", "eval.translation.source", "parallel", cfg.eval.translation.source,
                                   "translation")
    for system, (model, prompt, dtype) in systems.items():
        b.add(f"evaluate.{system}", "evaluate_translation", {"model": model, **pairs}, system, prompt, dtype)
    lighteval(b, students)
    heldout(b, {**{s: m for s, (m, _, _) in systems.items()}, **students})
    return b.steps
