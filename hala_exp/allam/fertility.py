"""Tokenizer fertility: tokens per whitespace word and per character, per tokenizer and language.

A tokenizer that splits Arabic words into many pieces makes Arabic text longer, slower and costlier
to train on and to generate (ALLaM, Figure 2). Words are whitespace-separated strings; characters
are the non-whitespace ones. Special tokens are not counted.
"""

from __future__ import annotations

from pathlib import Path


def fertility(tokenizer, texts: list[str]) -> dict[str, float]:
    """Totals and ratios for one tokenizer on one list of texts."""
    if not texts:
        raise ValueError("fertility needs at least one text")
    tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    words = sum(len(t.split()) for t in texts)
    chars = sum(len("".join(t.split())) for t in texts)
    return {"tokens": float(tokens), "words": float(words), "chars": float(chars),
            "tokens_per_word": tokens / max(words, 1), "tokens_per_char": tokens / max(chars, 1)}


def fertility_table(tokenizers: dict[str, object], texts: dict[str, list[str]]) -> list[dict]:
    """One row per (tokenizer, language)."""
    return [{"tokenizer": name, "language": lang, **fertility(tok, t)}
            for name, tok in tokenizers.items() for lang, t in texts.items()]


def markdown(rows: list[dict]) -> str:
    from hala_exp.table_cells import Grid, to_markdown

    g = Grid(["tokenizer", "language", "tokens/word", "tokens/char", "tokens", "words"])
    for r in rows:
        g.add([r["tokenizer"], r["language"], f"{r['tokens_per_word']:.3f}", f"{r['tokens_per_char']:.3f}",
               str(int(r["tokens"])), str(int(r["words"]))])
    return to_markdown(g) + "\n"


def write_report(rows: list[dict], out: Path) -> None:
    """fertility.json, fertility.md and fertility.png (the bar plot) into `out`."""
    from hala_exp.json_files import write_json

    write_json(out / "fertility.json", rows)
    (out / "fertility.md").write_text(markdown(rows), encoding="utf-8")
    bar_plot(rows, out / "fertility.png")


def bar_plot(rows: list[dict], path: Path) -> None:
    """Grouped bars of tokens per word: one group per language, one bar per tokenizer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = list(dict.fromkeys(r["language"] for r in rows))
    names = list(dict.fromkeys(r["tokenizer"] for r in rows))
    value = {(r["tokenizer"], r["language"]): r["tokens_per_word"] for r in rows}
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(langs), 3.2))
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(langs))]
        ax.bar(xs, [value[(name, lang)] for lang in langs], width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(langs))], langs)
    ax.set_ylabel("tokens per word")
    ax.set_title("Tokenizer fertility")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
