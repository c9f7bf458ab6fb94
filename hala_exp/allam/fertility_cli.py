"""`hala-exp-fertility`: compare tokenizers' fertility without running a pipeline.

    hala-exp-fertility lfm2=LiquidAI/LFM2-1.2B allam=ALLaM-AI/ALLaM-7B-Instruct-preview --out fertility/
    hala-exp-fertility mine=/path/to/tokenizer --texts wiki   # texts from conf/allam/wiki.yaml

Tokenizers are LABEL=PATH_OR_HUB_ID; the texts are `allam.fertility.texts` of a config in
`conf/allam/` (default: tiny, the bundled Arabic, English and code samples). Writes fertility.json,
fertility.md and fertility.png (ALLaM's Figure 2) to --out and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hala_exp.allam.fertility import fertility_table, markdown, write_report


def parse_tokenizers(items: list[str]) -> dict[str, str]:
    """["lfm2=LiquidAI/LFM2-1.2B", ...] -> {"lfm2": "LiquidAI/LFM2-1.2B", ...}."""
    out: dict[str, str] = {}
    for item in items:
        label, sep, ref = item.partition("=")
        if not sep or not label or not ref:
            raise SystemExit(f"hala-exp-fertility: tokenizer {item!r} is not LABEL=PATH_OR_HUB_ID. "
                             "Fix: e.g. lfm2=LiquidAI/LFM2-1.2B")
        if label in out:
            raise SystemExit(f"hala-exp-fertility: label {label!r} is given twice. Fix: one label per tokenizer")
        out[label] = ref
    return out


def texts_from_config(name: str) -> dict[str, list[str]]:
    """allam.fertility.texts of conf/allam/<name>.yaml, each source read (its language -> documents)."""
    from hala_exp.config import compose
    from hala_exp.data.texts import check_text_source, load_texts

    try:
        cfg = compose(["recipe=allam", f"allam={name}"])
    except Exception as e:  # Hydra's own message names the missing option and the choices
        raise SystemExit(f"hala-exp-fertility: --texts {name!r}: {e}") from e
    sources = cfg.allam.fertility.texts
    for lang, src in sources.items():
        problem = check_text_source(f"allam.fertility.texts.{lang}", src)
        if problem:
            raise SystemExit(f"hala-exp-fertility: allam.fertility.texts.{lang}: {problem}")
    return {lang: load_texts(src) for lang, src in sources.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hala-exp-fertility", description=__doc__.split("\n\n")[0])
    ap.add_argument("tokenizers", nargs="+", metavar="LABEL=PATH_OR_HUB_ID")
    ap.add_argument("--texts", default="tiny", help="config in conf/allam/ whose fertility.texts to read")
    ap.add_argument("--out", type=Path, default=Path("outputs/fertility"))
    args = ap.parse_args(argv)
    refs = parse_tokenizers(args.tokenizers)  # bad input fails before any tokenizer loads
    texts = texts_from_config(args.texts)
    from hala_exp.models.loading import load_tokenizer

    rows = fertility_table({label: load_tokenizer(ref) for label, ref in refs.items()}, texts)
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(rows, args.out)
    print(markdown(rows))
    print(f"Written: {args.out / 'fertility.md'}, {args.out / 'fertility.json'}, {args.out / 'fertility.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
