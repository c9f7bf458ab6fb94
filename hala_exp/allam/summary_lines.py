"""The ALLaM stages' headline numbers for the CLI's end-of-run summary."""

from __future__ import annotations


def allam_summary(metrics: dict[str, float]) -> str:
    """Fertility per tokenizer and language, expansion, mixture, spikes, held-out loss and DPO margin."""
    lines = []
    fert = sorted(k for k in metrics if k.startswith("fertility.") and k.endswith(".tokens_per_word"))
    for k in fert:
        name, lang = k.split(".")[1:3]
        lines.append(f"fertility  {name:<12} {lang:<10} {metrics[k]:.3f} tokens/word")
    for k in sorted(k for k in metrics if k.startswith("expand_vocab.fertility.") and k.endswith(".before")):
        lang = k.split(".")[2]
        after = metrics.get(f"expand_vocab.fertility.{lang}.after")
        lines.append(f"expansion  {lang:<10} {metrics[k]:.3f} -> {after:.3f} tokens/word")
    if "expand_vocab.added_tokens" in metrics:
        lines.append(f"expansion  added {int(metrics['expand_vocab.added_tokens'])} tokens")
    if "cpt.train_loss" in metrics:
        shares = ", ".join(f"{k.removeprefix('cpt.mixture.share.')} {v:.3f}"
                           for k, v in sorted(metrics.items()) if k.startswith("cpt.mixture.share."))
        lines.append(f"cpt        token shares: {shares}; grad spikes {int(metrics['cpt.grad_spikes'])}")
        for k in sorted(k for k in metrics if k.startswith("cpt.heldout.") and k.endswith(".loss")):
            lang = k.split(".")[2]
            lines.append(f"cpt        held-out {lang} loss {metrics[k + '_before']:.3f} -> {metrics[k]:.3f}")
    if "dpo.margin_after" in metrics:
        lines.append(f"dpo        log p(chosen) - log p(rejected): {metrics['dpo.margin_before']:.2f} -> "
                     f"{metrics['dpo.margin_after']:.2f}")
    return "ALLaM studies\n" + "\n".join(lines) if lines else ""
