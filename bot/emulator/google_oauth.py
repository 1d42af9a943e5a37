"""The fake Google's OAuth 2.0 server: consent, the token endpoint, revocation.

Follows "Using OAuth 2.0 for Web Server Applications" (Google Identity) and RFC 7636 (PKCE).
Pure state without HTTP; :class:`bot.emulator.google.FakeGoogle` holds the lock. Refusals
that Google makes itself:

* consent: an unknown ``client_id`` (401 ``invalid_client``), a ``redirect_uri`` not registered
  exactly for the client (400 ``redirect_uri_mismatch``), ``response_type`` other than
  ``code``, a missing ``scope``, an unknown scope (``invalid_scope``), a ``code_challenge_method``
  other than ``S256``/``plain``: each an HTML error page, never a redirect.
* token: client credentials in the form or HTTP Basic, a wrong secret is 401 ``invalid_client``;
  a code is single-use and lives 10 minutes; its ``redirect_uri`` must be the consent's
  (``redirect_uri_mismatch``); the ``code_verifier`` must match the challenge
  (``invalid_grant``); a refresh token is issued only with ``access_type=offline`` and only on
  the first consent of a grant unless ``prompt=consent`` asks again.
* revoke: ``token`` (access or refresh) revokes the whole grant; an unknown one is 400
  ``invalid_token``.

Refusals that are Heedful's policy rather than Google's (the app must always do these):
``state`` present, PKCE with ``S256``, ``access_type=offline``, and the read-only calendar
scope, with no wider calendar scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.emulator.fake_http import bearer_grant, expire_access_tokens, with_query

READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
WIDER_CALENDAR_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.app.created",
        "https://www.googleapis.com/auth/calendar.calendars",
    }
)
KNOWN_SCOPES = frozenset(
    {
        READONLY_SCOPE,
        "https://www.googleapis.com/auth/calendar.events.readonly",
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
        "https://www.googleapis.com/auth/calendar.settings.readonly",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        "openid",
        "email",
        "profile",
    }
    | WIDER_CALENDAR_SCOPES
)
CODE_LIFETIME = timedelta(minutes=10)
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
ACCESS_TOKEN_LIFETIME = timedelta(seconds=3599)


class ConsentError(Exception):
    """A consent request Google answers with an error page (status, error code, detail)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class TokenError(Exception):
    """A token or revoke request refused: HTTP status and the OAuth ``error`` code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Client:
    """A registered OAuth client (Google Cloud console: a "Web application" client)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class Grant:
    """One account's consent to one client, with every token issued under it."""

    email: str
    client_id: str
    scope: str
    refresh_token: str | None = None
    access_tokens: dict[str, datetime] = field(default_factory=dict)
    revoked: bool = False


@dataclass
class Code:
    """An authorization code waiting for its exchange."""

    grant: Grant
    redirect_uri: str
    challenge: str
    method: str
    expires: datetime
    offline: bool
    new_refresh: bool


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class OAuthServer:
    """Clients, grants and codes; every method is called with the fake's lock held."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.grants: list[Grant] = []
        self.codes: dict[str, Code] = {}

    # consent -------------------------------------------------------------------------------

    def consent(self, query: dict[str, str], email: str | None, deny: bool, now: datetime) -> str:
        """Validate an authorization request; return where to redirect the browser."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            raise ConsentError(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise ConsentError(
                400,
                "redirect_uri_mismatch",
                f"redirect_uri={redirect_uri} is not registered for this client.",
            )
        if query.get("response_type") != "code":
            raise ConsentError(400, "invalid_request", "response_type must be code.")
        scopes = query.get("scope", "").split()
        if not scopes:
            raise ConsentError(400, "invalid_request", "Missing required parameter: scope")
        unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
        if unknown:
            raise ConsentError(
                400, "invalid_scope", f"Some requested scopes were invalid: {unknown}"
            )
        if READONLY_SCOPE not in scopes or WIDER_CALENDAR_SCOPES.intersection(scopes):
            raise ConsentError(
                400, "invalid_scope", f"Heedful asks for {READONLY_SCOPE} and nothing wider."
            )
        method = query.get("code_challenge_method", "")
        challenge = query.get("code_challenge", "")
        if method not in ("", "S256", "plain"):
            raise ConsentError(400, "invalid_request", "Invalid code_challenge_method.")
        if not challenge or method != "S256":
            raise ConsentError(400, "invalid_request", "Heedful must use PKCE with S256.")
        if not 43 <= len(challenge) <= 128:
            raise ConsentError(400, "invalid_request", "Invalid code_challenge.")
        access_type = query.get("access_type", "online")
        if access_type not in ("online", "offline"):
            raise ConsentError(400, "invalid_request", "Invalid access_type.")
        if access_type != "offline":
            raise ConsentError(400, "invalid_request", "Heedful must ask for access_type=offline.")
        state = query.get("state")
        if not state:
            raise ConsentError(400, "invalid_request", "Heedful must send a state.")
        if email is None:
            raise ConsentError(400, "invalid_request", "No Google account signed in to the fake.")
        if deny:
            return with_query(redirect_uri, {"error": "access_denied", "state": state})
        grant = self._live_grant(email, client.client_id)
        new_refresh = grant is None or "consent" in query.get("prompt", "").split()
        if grant is None:
            grant = Grant(email=email, client_id=client.client_id, scope=" ".join(scopes))
            self.grants.append(grant)
        code = "4/0" + secrets.token_urlsafe(32)
        self.codes[code] = Code(
            grant=grant,
            redirect_uri=redirect_uri,
            challenge=challenge,
            method=method,
            expires=now + CODE_LIFETIME,
            offline=True,
            new_refresh=new_refresh,
        )
        return with_query(redirect_uri, {"code": code, "scope": grant.scope, "state": state})

    def _live_grant(self, email: str, client_id: str) -> Grant | None:
        for grant in self.grants:
            if grant.email == email and grant.client_id == client_id and not grant.revoked:
                return grant
        return None

    # token endpoint ------------------------------------------------------------------------

    def authenticate(self, form: dict[str, str], basic: tuple[str, str] | None) -> Client:
        """The client from HTTP Basic or the form; 401 ``invalid_client`` otherwise."""
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
        )
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            raise TokenError(401, "invalid_client", "Unauthorized")
        return client

    def token(
        self, form: dict[str, str], basic: tuple[str, str] | None, now: datetime
    ) -> dict[str, object]:
        """Answer a token request (``authorization_code`` or ``refresh_token``)."""
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        client = self.authenticate(form, basic)
        if grant_type == "refresh_token":
            return self._refresh(client, form.get("refresh_token", ""), now)
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code.expires <= now or code.grant.revoked:
            raise TokenError(400, "invalid_grant", "Bad Request")
        if code.grant.client_id != client.client_id:
            raise TokenError(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            raise TokenError(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier")
        if not verifier:
            raise TokenError(400, "invalid_grant", "Missing code verifier.")
        if not _VERIFIER.fullmatch(verifier):  # RFC 7636 §4.1: 43-128 unreserved characters
            raise TokenError(400, "invalid_grant", "Invalid code verifier.")
        if not hmac.compare_digest(s256(verifier), code.challenge):
            raise TokenError(400, "invalid_grant", "Invalid code verifier.")
        grant = code.grant
        answer = self._access(grant, now)
        if code.offline and code.new_refresh:
            grant.refresh_token = "1//0" + secrets.token_urlsafe(40)
            answer["refresh_token"] = grant.refresh_token
        return answer

    def _refresh(self, client: Client, refresh_token: str, now: datetime) -> dict[str, object]:
        for grant in self.grants:
            if (
                grant.refresh_token
                and hmac.compare_digest(grant.refresh_token, refresh_token)
                and grant.client_id == client.client_id
                and not grant.revoked
            ):
                return self._access(grant, now)
        raise TokenError(400, "invalid_grant", "Token has been expired or revoked.")

    @staticmethod
    def _access(grant: Grant, now: datetime) -> dict[str, object]:
        token = "ya29.fake-" + secrets.token_urlsafe(40)
        grant.access_tokens[token] = now + ACCESS_TOKEN_LIFETIME
        return {
            "access_token": token,
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "scope": grant.scope,
            "token_type": "Bearer",
        }

    # revocation and lookup -----------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """Revoke the grant a token belongs to; 400 ``invalid_token`` when none does."""
        for grant in self.grants:
            if grant.revoked:
                continue
            if token and (token == grant.refresh_token or token in grant.access_tokens):
                grant.revoked = True
                return
        raise TokenError(400, "invalid_token", "Token expired or revoked")

    def revoke_account(self, email: str) -> None:
        """Revoke every grant of one account (the person removed the app's access)."""
        for grant in self.grants:
            if grant.email == email:
                grant.revoked = True

    def expire_access_tokens(self, now: datetime) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        expire_access_tokens(self.grants, now)

    def bearer(self, token: str, now: datetime) -> Grant | None:
        """The live grant whose unexpired access token this is, else None."""
        return bearer_grant(self.grants, token, now)
