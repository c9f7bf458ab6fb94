"""Preference pairs (prompt, chosen, rejected) from a local file or hub dataset, for DPO."""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import DictConfig

from hala_exp.data.adapters import Counts, SchemaError, not_text_error
from hala_exp.data.sources import NotText, iter_raw, text_field

FIELDS = ("prompt_field", "chosen_field", "rejected_field")


def iter_pairs(src: DictConfig, counts: Counts | None = None) -> Iterator[dict[str, str]]:
    """Rows {prompt, chosen, rejected}; a pair with an empty side or two equal replies is dropped."""
    counts = counts if counts is not None else Counts()
    for i, raw in enumerate(iter_raw(src)):
        counts.read += 1
        try:
            prompt, chosen, rejected = (text_field(raw, src[f]).strip() for f in FIELDS)
        except NotText as e:
            raise not_text_error(f"preference source {src.path}", src, e, i) from None
        except KeyError as e:
            raise SchemaError(f"preference source {src.path}: row {src.offset + i} has no column {e} (named by "
                              f"prompt_field / chosen_field / rejected_field); its columns are {sorted(raw)}. "
                              f"Fix: name existing columns, or repair the row") from None
        if not (prompt and chosen and rejected):
            counts.dropped["empty"] += 1
        elif chosen == rejected:
            counts.dropped["same_reply"] += 1
        else:
            counts.kept += 1
            yield {"prompt": prompt, "chosen": chosen, "rejected": rejected}
