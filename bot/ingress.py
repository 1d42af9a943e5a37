"""``POST /slack/events``: Slack's way in over HTTP (Events API, slash commands, interactivity).

Every request passes three gates before Bolt sees it, each answering a 4xx with at most
one fixed log line that holds no body and no header value:

1. **Signature** (401): ``X-Slack-Request-Timestamp`` must be digits within five minutes
   of now and ``X-Slack-Signature`` must be ``v0=`` and 64 hex digits that slack-sdk's
   :class:`~slack_sdk.signature.SignatureVerifier` accepts for this body. Nothing of an
   unsigned body is parsed. Bolt's own check is switched off in the ingress app
   (``bot.app.build_bolt_app``) because this one has run: Bolt's logs the refused body.
2. **Parse** (400): UTF-8, then JSON, or a form (a slash command) or a form whose
   ``payload`` field is JSON (interactivity). Nesting deeper than Python's recursion
   limit is refused like any other broken JSON.
3. **Shape** (400): :func:`payload_problem`. The fields Bolt reads to route a request and
   find its workspace and user must have the types Slack documents, so neither Bolt
   nor a listener meets a list where it expects an object.

Bolt is then handed the checked payload itself, not the text, so it never parses the
body again (its form parser drops a command whose text merely contains "payload").
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.server import HttpRequest, HttpResponse, Route

logger = logging.getLogger(__name__)

# Slack's window: a request older (or newer) than this is a replay or a skewed clock.
MAX_SKEW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def slack_events_route(app: App, *, signing_secret: str) -> Route:
    """The route that verifies, parses and checks a request, then dispatches it to ``app``.

    ``app`` must be built with ``request_verification_enabled=False``: this route is its
    only way in over HTTP, and Socket Mode requests carry no signature (the socket was
    opened by Heedful with its app token).
    """
    verifier = SignatureVerifier(signing_secret)

    def handle_slack_events(request: HttpRequest) -> HttpResponse:
        refusal = signature_problem(verifier, request)
        if refusal is not None:
            logger.info("refused a request to %s: %s", request.path, refusal)
            return HttpResponse.json(401, {"error": "invalid request"})
        try:
            text = request.text()
            payload = parse_payload(text, request.headers.get("content-type"))
            problem = payload_problem(payload)
        except ValueError:  # not UTF-8, not JSON, not a form
            problem = "the body is not a Slack payload"
        except RecursionError:
            problem = "the body is nested too deeply"
        if problem is not None:
            logger.info("refused a signed request to %s: %s", request.path, problem)
            return HttpResponse.text(400, "the body is not a Slack payload")
        # The parsed, checked payload; `mode` only tells Bolt to skip its own signature
        # check (ours ran) and to copy this payload rather than re-parse a raw body.
        bolt_request = BoltRequest(
            body=payload, query=request.query, headers=dict(request.headers), mode="socket_mode"
        )
        bolt_request.raw_body = text  # what the inbox stores
        bolt_response = app.dispatch(bolt_request)
        headers = {
            k: ", ".join(v)
            for k, v in bolt_response.headers.items()
            if k.lower() != "content-length"
        }
        body_out = bolt_response.body
        return HttpResponse(
            bolt_response.status,
            body_out.encode() if isinstance(body_out, str) else body_out,
            headers,
        )

    return handle_slack_events


def signature_problem(verifier: SignatureVerifier, request: HttpRequest) -> str | None:
    """Why the request is not signed by Slack (a fixed phrase, no header value), or None."""
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if not timestamp or not signature:
        return "no Slack signature"
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return "a malformed Slack signature or timestamp"
    if abs(verifier.clock.now() - int(timestamp)) > MAX_SKEW_SECONDS:
        return "a stale Slack signature (a replay, or a clock over 5 minutes off)"
    try:
        valid = verifier.is_valid(request.body, timestamp, signature)
    except UnicodeDecodeError:  # Slack signs UTF-8; these bytes cannot be its
        valid = False
    if not valid:
        return "a wrong Slack signature (is SLACK_SIGNING_SECRET the app's?)"
    return None


def parse_payload(text: str, content_type: str | None) -> Any:
    """The JSON value of a Slack request: an Events API body, an interactivity
    ``payload=`` field, or a slash command's form fields. ``ValueError`` when it is none."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/json" or text.lstrip().startswith(("{", "[")):
        return json.loads(text)
    fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    if "payload" in fields:
        return json.loads(fields["payload"])
    return fields


# Fields that, where present and not null, are strings (Bolt compares or copies them),
# at the top level and in the nested objects below.
_STRINGS = (
    "type",
    "subtype",
    "token",
    "team_id",
    "enterprise_id",
    "user_id",
    "user_team",
    "channel_id",
    "api_app_id",
    "app_installed_team_id",
    "trigger_id",
    "response_url",
    "event_id",
    "callback_id",
    "command",
    "thread_ts",
    "challenge",
    "action_id",
    "block_id",
)
# An id, or an object whose ids are strings (``user`` is an object in interactivity
# payloads and in ``user_change``, a string in most events).
_IDS_OR_OBJECTS = ("team", "enterprise", "user", "channel")
_ID_KEYS = ("id", "team_id", "enterprise_id")
_OBJECTS = ("event", "message", "previous_message", "view", "item", "assistant_thread", "state")
_LISTS_OF_OBJECTS = ("authorizations", "actions", "response_urls")
# Nested objects Bolt reads the same fields from.
_NESTED = frozenset({"event", "message", "previous_message", "item", "assistant_thread", "view"})
_STRING, _ID_OR_OBJECT, _OBJECT, _LIST_OF_OBJECTS = "string", "id-or-object", "object", "list"
_KINDS = {
    **dict.fromkeys(_STRINGS, _STRING),
    **dict.fromkeys(_IDS_OR_OBJECTS, _ID_OR_OBJECT),
    **dict.fromkeys(_OBJECTS, _OBJECT),
    **dict.fromkeys(_LISTS_OF_OBJECTS, _LIST_OF_OBJECTS),
}


def payload_problem(payload: Any) -> str | None:
    """Why ``payload`` cannot be a Slack request (a fixed phrase naming a field), or None.

    Checks the fields Bolt reads before any listener runs (to route the request and to
    find its workspace, user and channel) and what each kind of request needs: an
    ``event_callback`` an ``event_id`` and an ``event`` with a ``type``; a slash command
    its ``command``, ``team_id`` and ``user_id``; ``block_actions`` at least one action
    with an ``action_id``; ``view_submission`` a view with a ``callback_id`` and its
    ``state.values``. The rest of a payload is the listeners' business.
    """
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    problem = _field_types(payload, "")
    if problem is not None:
        return problem
    kind = payload.get("type")
    if kind == "event_callback":
        event = payload.get("event")
        if not payload.get("event_id") or not isinstance(event, dict) or not event.get("type"):
            return "an event_callback needs an event_id and an event with a type"
    elif kind == "url_verification":
        if not payload.get("challenge"):
            return "url_verification needs a challenge"
    elif "command" in payload:
        if not (payload.get("command") and payload.get("team_id") and payload.get("user_id")):
            return "a slash command needs command, team_id and user_id"
        if not isinstance(payload.get("text", ""), str):
            return "a slash command's text is not a string"
    elif kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        user = payload.get("user")
        if not isinstance(user, dict) or not user.get("id"):
            return f"{kind} needs a user with an id"
        if kind == "block_actions":
            actions = payload.get("actions")
            if not actions or not all(action.get("action_id") for action in actions):
                return "block_actions needs actions, each with an action_id"
        if kind in ("view_submission", "view_closed"):
            view = payload.get("view")
            if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
                return f"{kind} needs a view with a callback_id"
            state = view.get("state")
            if kind == "view_submission" and not (
                isinstance(state, dict) and isinstance(state.get("values"), dict)
            ):
                return "view_submission needs view.state.values"
    return None


def _field_types(obj: dict[str, Any], where: str) -> str | None:
    # One pass over the keys the object has (a few), not over every field name we know
    # (about forty, at each level): this runs on every request Slack sends (bench/ack.py).
    nested: list[tuple[str, Any]] = []
    for name, value in obj.items():
        if value is None:
            continue
        kind = _KINDS.get(name)
        if kind is None:
            continue
        if kind is _STRING:
            if not isinstance(value, str):
                return f"{where}{name} is not a string"
        elif kind is _ID_OR_OBJECT:
            if isinstance(value, str):
                continue
            if not isinstance(value, dict):
                return f"{where}{name} is neither an id nor an object"
            for key in _ID_KEYS:
                if value.get(key) is not None and not isinstance(value[key], str):
                    return f"{where}{name}.{key} is not a string"
        elif kind is _LIST_OF_OBJECTS:
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                return f"{where}{name} is not a list of objects"
            nested.extend((f"{where}{name}[{i}].", item) for i, item in enumerate(value))
        else:  # an object, maybe one whose fields Bolt reads too
            if not isinstance(value, dict):
                return f"{where}{name} is not an object"
            if name in _NESTED:
                nested.append((f"{where}{name}.", value))
    for inner, value in nested:
        problem = _field_types(value, inner)
        if problem is not None:
            return problem
    return None
