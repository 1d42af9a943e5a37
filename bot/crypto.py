"""Encryption at rest for secrets and private text (feed URLs, tokens, reflections).

With ``HEEDFUL_ENCRYPTION_KEY`` set (one or more Fernet keys, comma-separated), values
are encrypted with cryptography's ``MultiFernet``: the first key encrypts, every key
decrypts, so keys rotate without rewriting old rows at once. Encrypted values carry a
``fernet:`` prefix; a value without it is plain text (written before a key was set)
and is still read. Without a key, values are stored as they are (``heedful run``
warns at start).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"


class CipherError(Exception):
    """A value could not be decrypted with any configured key."""


class Cipher:
    def __init__(self, keys: Sequence[str] = ()) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "HEEDFUL_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes each)"
            ) from exc

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, value: str) -> str:
        if self._fernet is None or not value:
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise CipherError("an encrypted value was found but HEEDFUL_ENCRYPTION_KEY is not set")
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise CipherError("no configured key decrypts this value") from None

    def rotate(self, value: str) -> str:
        """Re-encrypt with the first key (for a rotation sweep). Raises
        :class:`CipherError` for a value no configured key opens."""
        if self._fernet is None or not value.startswith(PREFIX):
            return self.encrypt(value)
        try:
            return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise CipherError("no configured key decrypts this value") from None
