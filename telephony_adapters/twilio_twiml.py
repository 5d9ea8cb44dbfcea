"""The TwiML Stamgast answers Twilio with, and the options that choose it.

Twilio runs the TwiML the number's voice URL returns; an empty ``<Response/>`` ends the call,
so no option leads there. ``voice_response`` picks what happens to a caller:

- ``dial``: ``<Dial>`` to ``dial_target`` (``+31…`` → ``<Number>``, ``sip:…`` → ``<Sip>``,
  ``client:…`` → ``<Client>``). The dialled leg reports initiated/ringing/answered/completed
  and the ``<Dial action>`` reports the outcome, both to the URL Twilio called, so Stamgast
  sees who answered. ``dial_answer=application`` says the target (a PBX queue, an IVR)
  answers before a person does.
- ``redirect``: ``<Redirect>`` to ``redirect_url``, the customer's own TwiML app. Stamgast then
  sees only the call's own status callbacks (ringing, completed), not who answered.
- ``enqueue``: ``<Enqueue>`` into the Twilio queue ``queue_name`` (default ``stamgast``); the
  caller hears hold music until an agent's app dequeues them with ``<Dial><Queue>``.

Without ``voice_response`` the mode follows what is set: ``dial_target`` → dial, else
``redirect_url`` → redirect, else enqueue (`check_options` reports that as a problem).
After a ``<Dial>`` nobody answered, the caller goes to ``redirect_url`` when set (voicemail),
else the call ends and Stamgast opens a callback request for the missed call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from telephony_adapters.base import AdapterConfig, AdapterRequest, url_for_signature
from telephony_adapters.twilio_survey import (
    SURVEY_OPTIONS,
    check_survey_options,
    survey_enabled,
    survey_twiml,
)

logger = logging.getLogger(__name__)

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# For status callbacks only: Twilio ignores their response body, and ends a call on it.
EMPTY_TWIML = f"{_XML_DECLARATION}<Response/>"
HANGUP_TWIML = f"{_XML_DECLARATION}<Response><Hangup/></Response>"
DEFAULT_QUEUE = "stamgast"
# What fail-open answers when even the options cannot be read: it needs no option and keeps
# the caller on the line.
LAST_RESORT_TWIML = f"{_XML_DECLARATION}<Response><Enqueue>{DEFAULT_QUEUE}</Enqueue></Response>"
MODES = ("dial", "redirect", "enqueue")
OPTIONS = (
    "voice_response",
    "dial_target",
    "dial_answer",
    "redirect_url",
    "queue_name",
    *SURVEY_OPTIONS,
)
DIAL_ANSWERS = ("person", "application")
# All four, on every noun: <Client>/<Sip> report none by default and <Number> only completed.
_LEG_EVENTS = "initiated ringing answered completed"
# Characters XML 1.0 cannot carry even escaped; a value holding one is a broken option.
_NOT_XML = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_MAX_QUEUE_NAME = 64  # Twilio's limit on a queue's FriendlyName
# DialCallStatus values saying the dialled party picked up ("answered" is for conferences).
DIAL_ANSWERED = frozenset({"completed", "answered"})
# Fields only status callbacks carry, never a request that asks for TwiML.
_CALLBACK_MARKERS = ("StatusCallbackEvent", "CallbackSource", "ParentCallSid")


def _option(options: Mapping[str, str], name: str) -> str:
    value = options.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _target_problem(target: str) -> str | None:
    """Why `target` cannot be dialled, or None."""
    if _NOT_XML.search(target):
        return "dial_target holds a control character"
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        user, at, host = target.partition(":")[2].partition("@")
        if not (user and at and host) or any(c.isspace() for c in target):
            return f"dial_target {target!r} is not a SIP URI like sip:queue@pbx.example"
        return None
    if lowered.startswith("client:"):
        identity = target[len("client:") :]
        if not identity or any(c.isspace() for c in identity):
            return f"dial_target {target!r} is not a client identity like client:alice"
        return None
    if not _E164.fullmatch(target):
        return (
            f"dial_target {target!r} is neither an E.164 number (+31201234567), "
            "a SIP URI (sip:queue@pbx.example) nor a client (client:alice)"
        )
    return None


def _url_problem(name: str, url: str) -> str | None:
    parts = urlsplit(url)
    if _NOT_XML.search(url) or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"{name} {url!r} is not an absolute http(s) URL"
    return None


def _usable(mode: str, options: Mapping[str, str]) -> bool:
    if mode == "dial":
        target = _option(options, "dial_target")
        return bool(target) and _target_problem(target) is None
    if mode == "redirect":
        url = _option(options, "redirect_url")
        return bool(url) and _url_problem("redirect_url", url) is None
    return mode == "enqueue"


def voice_mode(options: Mapping[str, str]) -> str:
    """The mode the voice URL answers in: the configured one if usable, else the best left."""
    chosen = _option(options, "voice_response").lower()
    if chosen in MODES and _usable(chosen, options):
        return chosen
    fallback = next(mode for mode in MODES if _usable(mode, options))
    if chosen:
        logger.warning("twilio voice_response %r is not usable; answering %s", chosen, fallback)
    return fallback


def check_options(options: Mapping[str, str]) -> list[str]:
    """Problems with a tenant's Twilio options, for people; empty when they are fine."""
    problems = [
        f"option {name!r} must be a string" for name, v in options.items() if not isinstance(v, str)
    ]
    problems += [
        f"unknown option {name!r} (known: {', '.join(OPTIONS)})"
        for name in options
        if name not in OPTIONS
    ]
    chosen = _option(options, "voice_response").lower()
    target = _option(options, "dial_target")
    redirect = _option(options, "redirect_url")
    if chosen == "empty":
        problems.append("voice_response 'empty' is gone: an empty <Response/> ends every call")
    elif chosen and chosen not in MODES:
        problems.append(f"voice_response {chosen!r} is not one of {', '.join(MODES)}")
    if target and (problem := _target_problem(target)):
        problems.append(problem)
    if redirect and (problem := _url_problem("redirect_url", redirect)):
        problems.append(problem)
    if chosen == "dial" and not target:
        problems.append("voice_response 'dial' needs dial_target")
    if chosen == "redirect" and not redirect:
        problems.append("voice_response 'redirect' needs redirect_url")
    if chosen not in MODES and not target and not redirect:
        problems.append(
            "say where callers go: dial_target (e.g. sip:queue@pbx.example), redirect_url "
            "(your own TwiML), or voice_response=enqueue to let them wait in the Twilio queue "
            f"{_queue(options)!r} until an agent's app dequeues them"
        )
    dial_answer = _option(options, "dial_answer").lower()
    if dial_answer and dial_answer not in DIAL_ANSWERS:
        problems.append(f"dial_answer {dial_answer!r} is not one of {', '.join(DIAL_ANSWERS)}")
    queue = _option(options, "queue_name")
    if queue and (_NOT_XML.search(queue) or len(queue) > _MAX_QUEUE_NAME):
        problems.append(f"queue_name must be at most {_MAX_QUEUE_NAME} printable characters")
    return problems + check_survey_options(options)


def target_answers_as_application(options: Mapping[str, str]) -> bool:
    """True when the dial target (PBX queue, IVR) answers before a person does."""
    return _option(options, "dial_answer").lower() == "application"


def _queue(options: Mapping[str, str]) -> str:
    queue = _option(options, "queue_name")
    if not queue or _NOT_XML.search(queue) or len(queue) > _MAX_QUEUE_NAME:
        return DEFAULT_QUEUE
    return queue


def _dial(target: str, webhook_url: str | None) -> str:
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        noun, text = "Sip", target
    elif lowered.startswith("client:"):
        noun, text = "Client", target[len("client:") :]
    else:
        noun, text = "Number", target
    dial_attrs = leg_attrs = ""
    if webhook_url is not None:
        url = quoteattr(webhook_url)
        dial_attrs = f' action={url} method="POST"'
        leg_attrs = (
            f' statusCallback={url} statusCallbackEvent="{_LEG_EVENTS}" statusCallbackMethod="POST"'
        )
    return (
        f"{_XML_DECLARATION}<Response><Dial{dial_attrs}>"
        f"<{noun}{leg_attrs}>{escape(text)}</{noun}></Dial></Response>"
    )


def _redirect(url: str) -> str:
    return (
        f'{_XML_DECLARATION}<Response><Redirect method="POST">{escape(url)}</Redirect></Response>'
    )


def voice_twiml(options: Mapping[str, str], webhook_url: str | None) -> str:
    """The TwiML for the voice URL; `webhook_url` receives the dialled leg's reports."""
    if webhook_url is not None and _url_problem("webhook URL", webhook_url):
        webhook_url = None  # still put the caller through, unreported
    mode = voice_mode(options)
    if mode == "dial":
        return _dial(_option(options, "dial_target"), webhook_url)
    if mode == "redirect":
        return _redirect(_option(options, "redirect_url"))
    return f"{_XML_DECLARATION}<Response><Enqueue>{escape(_queue(options))}</Enqueue></Response>"


def after_dial_twiml(
    options: Mapping[str, str], answered: bool, webhook_url: str | None = None
) -> str:
    """The answer to the `<Dial action>` request: what the caller gets once the dial is over."""
    if not answered and _usable("redirect", options):
        return _redirect(_option(options, "redirect_url"))
    survey = answered and webhook_url is not None and survey_enabled(options)
    if survey and webhook_url is not None and _url_problem("webhook URL", webhook_url) is None:
        return survey_twiml(options, webhook_url)
    # Answered: the conversation is over. Unanswered with nowhere to go: the missed call
    # becomes a callback request, and ringing the same agents again would only loop.
    return HANGUP_TWIML


def _request_kind(fields: Mapping[str, str]) -> str:
    """Which request this is: dial_action, callback (answer ignored) or voice (TwiML runs)."""
    if "DialCallStatus" in fields:
        return "dial_action"
    if any(marker in fields for marker in _CALLBACK_MARKERS):
        return "callback"
    return "voice"


def _webhook_url(request: AdapterRequest, config: AdapterConfig) -> str:
    """The URL Twilio called (and signs), for the dialled leg's reports to come back to."""
    url = url_for_signature(request, config)
    if request.method.upper() in ("GET", "HEAD"):
        # Twilio appended its fields to the query; they must not ride along on the callbacks.
        url = urlunsplit(urlsplit(url)._replace(query=""))
    return url


def twiml_for(request: AdapterRequest, config: AdapterConfig, fields: Mapping[str, str]) -> str:
    """What Twilio is told to do next after the request with these fields."""
    kind = _request_kind(fields)
    if kind == "callback":
        return EMPTY_TWIML
    if kind == "dial_action":
        answered = fields["DialCallStatus"].strip().lower() in DIAL_ANSWERED
        return after_dial_twiml(config.options, answered, _webhook_url(request, config))
    return voice_twiml(config.options, _webhook_url(request, config))
