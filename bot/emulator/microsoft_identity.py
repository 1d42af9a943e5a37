"""The fake Microsoft identity platform: OpenID metadata, authorize, token, id_token.

Follows "Microsoft identity platform and OAuth 2.0 authorization code flow"
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow), "OpenID
Connect on the Microsoft identity platform" (``/.well-known/openid-configuration``), "ID token
claims reference" and RFC 7636 (PKCE). Pure state without HTTP;
:class:`bot.emulator.microsoft.FakeMicrosoft` holds the lock around every call.

Refusals Microsoft makes itself:

* authorize: an unknown ``client_id`` (AADSTS700016) or a ``redirect_uri`` not registered
  exactly (AADSTS50011) is a 400 text page, never a redirect. Once client and redirect URI are
  known good, every other problem goes back to the redirect URI as
  ``error=invalid_request&error_description=AADSTS…&state=…``, as OAuth 2.0 §4.1.2.1 says
  and Microsoft does: ``response_type`` other than ``code``, a ``code_challenge_method`` other
  than ``S256`` (refusing ``plain`` is Heedful's policy, see below), a ``response_mode``
  other than ``query`` or ``form_post`` (``fragment`` never reaches a server). A declined
  consent is ``error=access_denied`` (AADSTS65004).
* token: the client authenticates with its secret in the form or with HTTP Basic (MSAL uses
  Basic); a wrong one is **401** ``invalid_client`` (AADSTS7000215; RFC 6749 §5.2 and
  Microsoft both answer 401 here, where the contract said 400). A code is single-use
  (AADSTS54005) and lives 10 minutes (AADSTS70008); ``redirect_uri`` must be the authorize
  request's (AADSTS50148 family: ``invalid_grant``); ``code_verifier`` must match the
  challenge (AADSTS501481). A refresh token of a revoked grant is ``invalid_grant``
  (AADSTS70000); asking a refresh for a scope never consented is ``invalid_grant``
  (AADSTS65001).
* A refresh answers a *new* refresh token (Microsoft rotates them); older ones keep working
  until the grant is revoked, as Microsoft's do until they expire.

Refusals that are Heedful's policy (the app must always do these): PKCE with ``S256``, a
``state``, ``Calendars.Read`` and ``offline_access`` among the scopes, nothing wider than
read on calendars.

The answer to a token request: ``token_type``, ``scope`` (the resource scopes as requested,
without ``offline_access`` and the OpenID scopes, as in Microsoft's documented example),
``expires_in`` and ``ext_expires_in`` 3600, an opaque ``access_token``, ``refresh_token``, an
RS256 ``id_token`` signed with a key published at ``jwks_uri`` (``kid`` in its header), and
``client_info`` (base64url JSON ``{"uid": oid, "utid": tid}``, unpadded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.emulator.fake_http import bearer_grant, expire_access_tokens, with_query

GRAPH_RESOURCE = "https://graph.microsoft.com/"
REQUIRED_SCOPE = "calendars.read"
OPENID_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
WIDER_CALENDAR_SCOPES = frozenset(
    {"calendars.readwrite", "calendars.readwrite.shared", "calendars.readbasic"}
)
TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})
CODE_LIFETIME = timedelta(minutes=10)
ACCESS_TOKEN_LIFETIME = timedelta(seconds=3600)
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class AuthorizeError(Exception):
    """An authorize request answered with a text page (bad client or redirect URI)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TokenError(Exception):
    """A token request refused: status, OAuth ``error`` and Microsoft's AADSTS code."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{code}")
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self, now: datetime) -> dict[str, Any]:
        """Microsoft's error JSON (``error``, ``error_description``, ``error_codes``, …)."""
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass
class Client:
    """An app registration in Entra ID: its id, one client secret, its web redirect URIs."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class Account:
    """A work account in the fake's tenant: its object id and mailbox time zone."""

    email: str
    oid: str
    tid: str
    name: str
    time_zone: str


@dataclass
class Grant:
    """One account's consent to one client, with every token issued under it."""

    account: Account
    client_id: str
    scopes: frozenset[str]
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, datetime] = field(default_factory=dict)
    revoked: bool = False


@dataclass
class Code:
    """An authorization code waiting for its redemption."""

    grant: Grant
    redirect_uri: str
    challenge: str
    expires: datetime
    nonce: str | None
    scope: str


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return _b64(digest)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def short_scope(scope: str) -> str:
    """``https://graph.microsoft.com/Calendars.Read`` -> ``calendars.read`` (Graph is the
    default resource, and scope names are case-insensitive)."""
    lowered = scope.lower()
    if lowered.startswith(GRAPH_RESOURCE):
        lowered = lowered[len(GRAPH_RESOURCE) :]
    return lowered


def valid_redirect_uri(uri: str) -> bool:
    """What Entra ID accepts for a web platform: https, or http on the loopback; no fragment."""
    parts = urlsplit(uri)
    loopback = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")
    return bool(parts.hostname) and not parts.fragment and (parts.scheme == "https" or loopback)


class IdentityServer:
    """Clients, accounts, grants and codes; every method runs with the fake's lock held."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.clients: dict[str, Client] = {}
        self.accounts: dict[str, Account] = {}
        self.grants: list[Grant] = []
        self.codes: dict[str, Code] = {}
        self.used_codes: set[str] = set()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = _b64(secrets.token_bytes(15))

    # discovery -----------------------------------------------------------------------------

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in TENANT_ALIASES or tenant.lower() == self.tenant_id

    def metadata(self, base: str, tenant: str) -> dict[str, Any]:
        """``/{tenant}/v2.0/.well-known/openid-configuration``, shaped like Microsoft's.

        For ``common``/``organizations``/``consumers`` the issuer is the template
        ``…/{tenantid}/v2.0``, as Microsoft publishes it; for the tenant id it is concrete.
        """
        issuer_tenant = "{tenantid}" if tenant.lower() in TENANT_ALIASES else self.tenant_id
        root = f"{base}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "nonce",
                "name",
                "oid",
                "preferred_username",
                "tid",
                "ver",
            ],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }

    def jwks(self) -> dict[str, Any]:
        """The signing keys (``/{tenant}/discovery/v2.0/keys``)."""
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        key.update({"kid": self.key_id, "use": "sig"})
        return {"keys": [key]}

    def issuer(self, base: str = "") -> str:
        return f"{base}/{self.tenant_id}/v2.0"

    # authorize -----------------------------------------------------------------------------

    def authorize(
        self, query: dict[str, str], account: Account | None, deny: bool, now: datetime
    ) -> str:
        """Validate an authorization request; return where to redirect the browser."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            raise AuthorizeError(
                400,
                f"AADSTS700016: Application with identifier '{query.get('client_id', '')}' "
                "was not found in the directory.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise AuthorizeError(
                400,
                f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does "
                f"not match the redirect URIs configured for the application "
                f"'{client.client_id}'.",
            )
        state = query.get("state")

        def refuse(error: str, description: str) -> str:
            params = {"error": error, "error_description": description}
            if state is not None:
                params["state"] = state
            return with_query(redirect_uri, params)

        if query.get("response_type") != "code":
            return refuse(
                "unsupported_response_type",
                "AADSTS700054: response_type 'code' is the only one this app may use.",
            )
        if query.get("response_mode", "query") not in ("query", "form_post"):
            return refuse(
                "invalid_request", "AADSTS900144: response_mode must be query or form_post."
            )
        scopes = query.get("scope", "").split()
        short = {short_scope(scope) for scope in scopes}
        if not scopes:
            return refuse("invalid_request", "AADSTS900144: The request body must contain scope.")
        if REQUIRED_SCOPE not in short or "offline_access" not in short:
            return refuse(
                "invalid_scope",
                "AADSTS70011: Heedful asks for Calendars.Read and offline_access.",
            )
        if short & WIDER_CALENDAR_SCOPES:
            return refuse("invalid_scope", "AADSTS70011: Heedful asks for read access only.")
        challenge = query.get("code_challenge", "")
        method = query.get("code_challenge_method", "")
        if not challenge or method != "S256" or not 43 <= len(challenge) <= 128:
            return refuse(
                "invalid_request",
                "AADSTS501491: Heedful must send a code_challenge with code_challenge_method=S256.",
            )
        if not state:
            return refuse("invalid_request", "Heedful must send a state.")
        if account is None:
            raise AuthorizeError(400, "No Microsoft account is signed in to the fake.")
        if deny:
            return refuse(
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
            )
        resource = frozenset(short - OPENID_SCOPES)
        grant = self._live_grant(account, client.client_id)
        if grant is None:
            grant = Grant(account=account, client_id=client.client_id, scopes=resource)
            self.grants.append(grant)
        else:
            grant.scopes = grant.scopes | resource
        code = "1.A" + secrets.token_urlsafe(48)
        self.codes[code] = Code(
            grant=grant,
            redirect_uri=redirect_uri,
            challenge=challenge,
            expires=now + CODE_LIFETIME,
            nonce=query.get("nonce"),
            scope=" ".join(scope for scope in scopes if short_scope(scope) not in OPENID_SCOPES),
        )
        params = {"code": code, "state": state, "session_state": str(uuid.uuid4())}
        if query.get("client_info") == "1":
            params["client_info"] = self.client_info(account)
        return with_query(redirect_uri, params)

    def _live_grant(self, account: Account, client_id: str) -> Grant | None:
        for grant in self.grants:
            if grant.account is account and grant.client_id == client_id and not grant.revoked:
                return grant
        return None

    # token ---------------------------------------------------------------------------------

    def authenticate(self, form: dict[str, str], basic: tuple[str, str] | None) -> Client:
        """The client from HTTP Basic or the form; 401 ``invalid_client`` otherwise."""
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
        )
        client = self.clients.get(client_id)
        if client is None:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if not secret or not hmac.compare_digest(client.client_secret, secret):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID.",
            )
        return client

    def token(
        self, form: dict[str, str], basic: tuple[str, str] | None, base: str, now: datetime
    ) -> dict[str, Any]:
        """Answer a token request (``authorization_code`` or ``refresh_token``)."""
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        client = self.authenticate(form, basic)
        if grant_type == "refresh_token":
            return self._refresh(client, form, base, now)
        if form.get("code", "") in self.used_codes:
            raise TokenError(
                400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
            )
        code = self.codes.get(form.get("code", ""))
        if code is None or code.grant.client_id != client.client_id:
            raise TokenError(
                400, "invalid_grant", 70000, "The provided authorization code is invalid."
            )
        if code.expires <= now:
            raise TokenError(
                400, "invalid_grant", 70008, "The provided authorization code has expired."
            )
        # Single-use from here on: a failed redemption burns the code too.
        del self.codes[form["code"]]
        self.used_codes.add(form["code"])
        if code.grant.revoked:
            raise TokenError(400, "invalid_grant", 70000, "The grant was revoked.")
        if form.get("redirect_uri") != code.redirect_uri:
            raise TokenError(
                400,
                "invalid_grant",
                500112,
                "The reply address does not match the reply address provided when "
                "requesting the authorization code.",
            )
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), code.challenge
        ):
            raise TokenError(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        return self._issue(code.grant, code.scope, code.nonce, base, now)

    def _refresh(
        self, client: Client, form: dict[str, str], base: str, now: datetime
    ) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        for grant in self.grants:
            if grant.client_id == client.client_id and token in grant.refresh_tokens:
                break
        else:
            raise TokenError(400, "invalid_grant", 9002313, "Invalid request. Malformed token.")
        if grant.revoked:
            raise TokenError(
                400,
                "invalid_grant",
                70000,
                "The provided grant has been revoked: the user removed the app's access.",
            )
        scopes = form.get("scope", "").split()
        wanted = {short_scope(scope) for scope in scopes} - OPENID_SCOPES
        if not wanted <= grant.scopes:
            raise TokenError(
                400,
                "invalid_grant",
                65001,
                "The user or administrator has not consented to use the application "
                f"for {sorted(wanted - grant.scopes)}.",
            )
        scope = " ".join(s for s in scopes if short_scope(s) not in OPENID_SCOPES) or " ".join(
            sorted(grant.scopes)
        )
        return self._issue(grant, scope, None, base, now)

    def _issue(
        self, grant: Grant, scope: str, nonce: str | None, base: str, now: datetime
    ) -> dict[str, Any]:
        access = "EwB" + secrets.token_urlsafe(48)
        refresh = "M.C" + secrets.token_urlsafe(64)
        grant.access_tokens[access] = now + ACCESS_TOKEN_LIFETIME
        grant.refresh_tokens.add(refresh)
        lifetime = int(ACCESS_TOKEN_LIFETIME.total_seconds())
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": self.id_token(grant, nonce, base, now),
            "client_info": self.client_info(grant.account),
        }

    def id_token(self, grant: Grant, nonce: str | None, base: str, now: datetime) -> str:
        """An RS256 v2.0 id_token (times on the fake's clock)."""
        account = grant.account
        stamp = int(now.timestamp())
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": self.issuer(base),
            "aud": grant.client_id,
            "tid": account.tid,
            "oid": account.oid,
            "sub": _b64(hashlib.sha256(f"{account.oid}:{grant.client_id}".encode()).digest()),
            "preferred_username": account.email,
            "name": account.name,
            "iat": stamp,
            "nbf": stamp,
            "exp": stamp + int(ACCESS_TOKEN_LIFETIME.total_seconds()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"}
        )

    @staticmethod
    def client_info(account: Account) -> str:
        raw = json.dumps({"uid": account.oid, "utid": account.tid}, separators=(",", ":"))
        return _b64(raw.encode())

    # revocation and lookup -----------------------------------------------------------------

    def revoke_account(self, email: str) -> None:
        """Revoke every grant of one account (the person removed the app's access)."""
        for grant in self.grants:
            if grant.account.email == email:
                grant.revoked = True

    def expire_access_tokens(self, now: datetime) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        expire_access_tokens(self.grants, now)

    def bearer(self, token: str, now: datetime) -> Grant | None:
        """The live grant whose unexpired access token this is, else None."""
        return bearer_grant(self.grants, token, now)
