"""Checks of the HALA data group's mix and gates."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.errors import check_choice, fail
from hala_exp.data.dedup import DEDUP_MODES


def check_mix(data: DictConfig) -> None:
    """Mix and gate settings: choices and ranges."""
    mix, g = data.mix, data.gates
    check_choice("data.mix.dedup", mix.dedup, DEDUP_MODES[::-1])  # the default first, in the fix
    if mix.arabic_ratio is not None and not 0.0 <= mix.arabic_ratio <= 1.0:
        fail("data.mix.arabic_ratio", mix.arabic_ratio, "is a share and must lie in [0, 1]",
             "set data.mix.arabic_ratio=0.5 (half the SFT rows in Arabic, half in English), or null for Arabic only")
    if data.translated and mix.arabic_ratio is not None:
        langs = {s.lang for s in data.translated.values()}
        if mix.total_rows is None or mix.total_rows <= 0:
            fail("data.mix.total_rows", mix.total_rows, "data.mix.arabic_ratio shares a total among the "
                 "data.translated sources by their lang, and none is set",
                 "set data.mix.total_rows to the SFT set's size, or data.mix.arabic_ratio=null for every row")
        need = {"ar"} if mix.arabic_ratio == 1.0 else {"en"} if mix.arabic_ratio == 0.0 else {"ar", "en"}
        if need - langs:
            fail("data.mix.arabic_ratio", mix.arabic_ratio, f"needs data.translated sources with lang "
                 f"{' and '.join(sorted(need))}, but they have {', '.join(sorted(langs))}",
                 "add a source of the missing language under data.translated (the English originals: "
                 "data=hala_released_bilingual), or set data.mix.arabic_ratio=null")
    from hala_exp.stages.translate_corpus import arabic_sources

    arabic = sorted(arabic_sources({k: s for k, s in data.corpus.items() if k != data.leave_out}))
    if arabic and mix.arabic_ratio is not None and not data.translated:
        fail("data.mix.arabic_ratio", mix.arabic_ratio, f"trains some rows on their English originals, and the "
             f"corpus sources {arabic} are Arabic, with none", "set data.mix.arabic_ratio=null (every row in "
             "Arabic), or leave the Arabic sources out of the mix")
    if mix.bucket_rows <= 0:
        fail("data.mix.bucket_rows", mix.bucket_rows, "must be positive", "set data.mix.bucket_rows=100000")
    weighted = [k for k, s in data.corpus.items() if s.weight is not None]
    if weighted and (mix.total_rows is None or mix.total_rows <= 0):
        fail("data.mix.total_rows", mix.total_rows, f"sources {weighted} have weights, which share a total",
             "set data.mix.total_rows to the mix's size, or drop the weights and cap sources by rows")
    for f in ("min_arabic_ratio",):
        if not 0.0 <= g[f] <= 1.0:
            fail(f"data.gates.{f}", g[f], "is a share and must lie in [0, 1]", f"set data.gates.{f}=0.5")
    for f, default in (("leak_min_words", 4), ("trailing_min_words", 3)):
        if g[f] < 0:
            fail(f"data.gates.{f}", g[f], "is a word count and must be 0 (off) or more",
                 f"set data.gates.{f}={default}")
    if not 0.0 <= g.min_length_ratio < g.max_length_ratio:
        fail("data.gates.min_length_ratio", g.min_length_ratio,
             f"must be at least 0 and below data.gates.max_length_ratio ({g.max_length_ratio})",
             "set data.gates.min_length_ratio=0.3 and data.gates.max_length_ratio=3.0")
