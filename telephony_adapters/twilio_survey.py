"""Twilio's post-call survey: after the agent hangs up, the caller presses 1 to 5.

With the option ``survey=dtmf`` the `<Dial action>` request of an answered call is answered
with a `<Gather>` instead of `<Hangup>`: Twilio reads ``survey_prompt`` (in
``survey_language``) and posts the key pressed as ``Digits`` to the webhook URL + ``/survey``,
signed like every other request. The caller's call keeps its ``CallSid``, so the score finds
the call Stamgast already recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

SURVEY_OPTIONS = ("survey", "survey_prompt", "survey_language")
SURVEY_MODES = ("off", "dtmf")
DEFAULT_PROMPT = (
    "Hoe tevreden bent u over dit gesprek? "
    "Toets 1 voor zeer ontevreden tot en met 5 voor zeer tevreden."
)
DEFAULT_LANGUAGE = "nl-NL"
# Long enough to find the keypad after the agent's goodbye; a silent caller is simply done.
GATHER_TIMEOUT_SECONDS = 8
# Twilio's <Say> takes at most 4,096 characters; a prompt is a sentence or two.
MAX_PROMPT = 500
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _text(options: Mapping[str, str], name: str) -> str:
    value = options.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def survey_enabled(options: Mapping[str, str]) -> bool:
    """True when answered callers are asked for a score."""
    return _text(options, "survey").lower() == "dtmf"


def check_survey_options(options: Mapping[str, str]) -> list[str]:
    """Problems with the survey options, for the person configuring them."""
    problems = []
    mode = _text(options, "survey").lower()
    if mode and mode not in SURVEY_MODES:
        problems.append(f"survey {mode!r} is not one of {', '.join(SURVEY_MODES)}")
    prompt = _text(options, "survey_prompt")
    if len(prompt) > MAX_PROMPT:
        problems.append(f"survey_prompt may be at most {MAX_PROMPT} characters")
    language = _text(options, "survey_language")
    if language and not (2 <= len(language) <= 10 and language.replace("-", "").isalpha()):
        problems.append(f"survey_language {language!r} is not a language tag like nl-NL or en-GB")
    return problems


def survey_url(webhook_url: str) -> str:
    """Where Twilio posts the key pressed: the tenant's Twilio webhook URL + ``/survey``."""
    parts = urlsplit(webhook_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/survey"))


def survey_twiml(options: Mapping[str, str], webhook_url: str) -> str:
    """Ask for a score, then hang up whether or not a key was pressed."""
    prompt = _text(options, "survey_prompt") or DEFAULT_PROMPT
    if len(prompt) > MAX_PROMPT:
        prompt = DEFAULT_PROMPT
    language = _text(options, "survey_language") or DEFAULT_LANGUAGE
    return (
        f"{_XML_DECLARATION}<Response>"
        f'<Gather action={quoteattr(survey_url(webhook_url))} method="POST" numDigits="1" '
        f'timeout="{GATHER_TIMEOUT_SECONDS}">'
        f"<Say language={quoteattr(language)}>{escape(prompt)}</Say></Gather>"
        "<Hangup/></Response>"
    )
