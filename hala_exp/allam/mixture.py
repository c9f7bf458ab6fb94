"""Sample a pre-training mixture with a given Arabic/English ratio, measured in tokens.

Each language's documents are shuffled once (fixed seed) and taken in turn, cycling when a pool
runs out; each next document comes from the language furthest below its target share, so the
realised token shares stay within one document of the targets at every point of the stream.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def shares(ratio: float, translated: bool, translated_fraction: float) -> dict[str, float]:
    """Target token shares: `ratio` Arabic (part of it translated when on), the rest English."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"allam.cpt.ratio = {ratio}: the Arabic share must lie in [0, 1]")
    if not translated:
        return {"arabic": ratio, "english": 1.0 - ratio}
    return {"arabic": ratio * (1.0 - translated_fraction), "translated": ratio * translated_fraction,
            "english": 1.0 - ratio}


def sample_mixture(pools: dict[str, list[str]], targets: dict[str, float], total_tokens: int,
                   length: Callable[[str], int], seed: int) -> tuple[list[dict], dict[str, float]]:
    """Documents `{"lang", "text"}` until `total_tokens`, and stats (token share and repeats per lang)."""
    active = {k: v for k, v in targets.items() if v > 0}
    for lang, share in active.items():
        if not pools.get(lang):
            raise ValueError(f"the mixture wants {lang} text (share {share:.2f}) but that pool is empty")
    rng = random.Random(seed)
    order = {lang: rng.sample(range(len(pools[lang])), len(pools[lang])) for lang in active}
    cursor = dict.fromkeys(active, 0)
    tokens = dict.fromkeys(active, 0)
    docs: list[dict] = []
    total = 0
    while total < total_tokens:
        lang = min(active, key=lambda k: (tokens[k] - active[k] * total) / active[k])
        idx = order[lang][cursor[lang] % len(order[lang])]
        cursor[lang] += 1
        text = pools[lang][idx]
        n = length(text)
        docs.append({"lang": lang, "text": text})
        tokens[lang] += n
        total += n
    stats: dict[str, float] = {"documents": float(len(docs)), "tokens": float(total)}
    for lang in active:
        stats[f"share.{lang}"] = tokens[lang] / total
        stats[f"epochs.{lang}"] = cursor[lang] / len(pools[lang])
    return docs, stats
