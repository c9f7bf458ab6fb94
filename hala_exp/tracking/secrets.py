"""Keep tokens and keys out of anything sent to W&B or written beside a run."""

from __future__ import annotations

import os
import re
from typing import Any

# Config keys whose values are never logged, whatever they hold.
SECRET_KEY = re.compile(r"(token|secret|password|api_?key|credential)", re.IGNORECASE)
# Environment variables whose values are scrubbed wherever they appear in a logged string.
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|APIKEY|CREDENTIAL)", re.IGNORECASE)
REDACTED = "<redacted>"


def secret_values() -> list[str]:
    """Values of secret-looking environment variables (long enough not to match by accident)."""
    return [v for k, v in os.environ.items() if SECRET_ENV.search(k) and len(v) >= 8]


def scrub(flat: dict[str, Any]) -> dict[str, Any]:
    """Drop secret-named keys; replace any secret environment value inside strings."""
    values = secret_values()
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if SECRET_KEY.search(key.rsplit(".", 1)[-1]):
            continue
        out[key] = scrub_text(value, values) if isinstance(value, str) else value
    return out


def scrub_text(text: str, values: list[str] | None = None) -> str:
    for v in secret_values() if values is None else values:
        text = text.replace(v, REDACTED)
    return text
