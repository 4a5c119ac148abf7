"""Credentials never travel in the clear: scrub them from payloads, texts and log records, pure."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"token|password|passwd|credential|secret", re.IGNORECASE)
DEVICE_CREDENTIAL = re.compile(r"cnd_[A-Za-z0-9_\-]+")
_CREDENTIAL_BYTES = re.compile(rb"cnd_[A-Za-z0-9_\-]+")
# userinfo in URLs (scheme://user:secret@host) and key=value secrets
_URL_SECRET = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_KEY_SECRET = re.compile(
    r"(?P<key>password|passwd|secret|token|accountkey|api[_-]?key)(?P<sep>\s*[=:]\s*)[^\s;,'\"]+",
    re.IGNORECASE,
)


def scrub_text(text: str) -> str:
    """The text with device credentials (cnd_...), URL userinfo and key=value secrets replaced."""
    text = DEVICE_CREDENTIAL.sub(REDACTED, text) if "cnd_" in text else text
    text = _URL_SECRET.sub(rf"\g<scheme>{REDACTED}@", text) if "@" in text else text
    return _KEY_SECRET.sub(rf"\g<key>\g<sep>{REDACTED}", text)


def scrub_value(value: Any) -> Any:
    """JSON data with the values of secret-named keys and every device credential replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED if SECRET_KEY.search(str(key)) and item is not None else scrub_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub_value(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_payload(raw: bytes) -> bytes:
    """A payload with its credentials scrubbed: JSON keys by name and values, other bytes by pattern."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _CREDENTIAL_BYTES.sub(REDACTED.encode(), raw)
    scrubbed = scrub_value(data)
    return raw if scrubbed == data else json.dumps(scrubbed, separators=(",", ":")).encode()


class RedactingFilter(logging.Filter):
    """A log filter that takes device credentials out of every record's message before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message (and any traceback) once, scrubbed; drop the arguments it came from."""
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(level: str) -> None:
    """Log to stderr at `level`, with device credentials scrubbed from every line."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
