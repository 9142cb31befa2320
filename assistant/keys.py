"""API keys: shown once, stored only as hashes, bound to origins, rate-limited.

Two kinds:
- widget keys (`--origin https://site`): public by nature (they sit in page HTML), so a
  request must come from a browser page on an allowed origin; an empty allowlist allows
  nothing;
- server keys (`--server`): secret, for back ends and the OpenAI client; they are refused
  when a browser page sends them, so a leaked page cannot use them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError

from assistant.config import Settings
from assistant.database import connect, transaction

KEY_PREFIX = "mia_"


class KeyConfigError(ValueError):
    """A key cannot be created or changed as asked; the message says why."""


@dataclass
class ApiKey:
    """A stored key (never the key itself)."""

    name: str
    prefix: str
    origins: list[str] = field(default_factory=list)
    allow_server: bool = False
    rate_limit: int | None = None
    created_at: float = 0.0
    revoked: bool = False

    def allows_origin(self, origin: str | None) -> bool:
        """Browser requests need a listed origin; others need a server key."""
        if origin is None:
            return self.allow_server
        try:
            return normalise_origin(origin) in self.origins
        except ValueError:  # "null" (sandboxed iframes, file:// pages), "ftp://x", "http://[::1"
            return False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def normalise_origin(origin: str) -> str:
    """`https://Example.com:443/` -> `https://example.com`; raises on anything else."""
    parsed = urlparse(origin.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise KeyConfigError(f"'{origin}' is not an origin like https://example.com")
    default_port = {"http": 80, "https": 443}[parsed.scheme]
    port = f":{parsed.port}" if parsed.port and parsed.port != default_port else ""
    return f"{parsed.scheme}://{parsed.hostname.lower()}{port}"


def create_key(
    settings: Settings,
    name: str,
    origins: list[str],
    allow_server: bool = False,
    rate_limit: int | None = None,
) -> str:
    """Create a key and return it; only its hash is stored, so it cannot be shown again."""
    if not name.strip():
        raise KeyConfigError("A key needs a --name (the site or service it is for).")
    if not origins and not allow_server:
        raise KeyConfigError(
            "A key with no --origin and no --server would allow nothing: give the site's "
            "origin (--origin https://example.com) or make a server key (--server)."
        )
    normalised = sorted({normalise_origin(origin) for origin in origins})
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    try:
        with transaction(settings) as db:
            db.execute(
                text(
                    "INSERT INTO api_keys (name, key_hash, prefix, origins, allow_server, rate_limit, "
                    "created_at) VALUES (:name, :key_hash, :prefix, :origins, :allow_server, "
                    ":rate_limit, :created_at)"
                ),
                {
                    "name": name,
                    "key_hash": hash_key(key),
                    "prefix": key[:8],
                    "origins": json.dumps(normalised),
                    "allow_server": int(allow_server),
                    "rate_limit": rate_limit,
                    "created_at": time.time(),
                },
            )
    except IntegrityError:
        # The name is unique in the table, so two processes creating the same name at once
        # cannot both succeed (the key hash is random and never collides in practice).
        raise KeyConfigError(_name_taken(settings, name)) from None
    return key


def _name_taken(settings: Settings, name: str) -> str:
    """Why `name` cannot name a new key. A revoked key keeps its row (the record of who
    had access), and with it its name, so "revoke it first" would not free the name."""
    if any(key.revoked for key in list_keys(settings, include_revoked=True) if key.name == name):
        return f"A revoked key was named '{name}', and names are not reused; pick another name."
    return (
        f"A key named '{name}' exists; pick another name (names are not reused, even after "
        f"`assistant keys revoke {name}`)."
    )


def _from_row(row: RowMapping) -> ApiKey:
    return ApiKey(
        name=row["name"],
        prefix=row["prefix"],
        origins=json.loads(row["origins"]),
        allow_server=bool(row["allow_server"]),
        rate_limit=row["rate_limit"],
        created_at=row["created_at"],
        revoked=row["revoked_at"] is not None,
    )


def find_key(settings: Settings, key: str) -> ApiKey | None:
    """The active key matching `key`, or None."""
    with connect(settings) as db:
        row = (
            db.execute(
                text("SELECT * FROM api_keys WHERE key_hash = :key_hash AND revoked_at IS NULL"),
                {"key_hash": hash_key(key)},
            )
            .mappings()
            .first()
        )
    return _from_row(row) if row else None


def list_keys(settings: Settings, include_revoked: bool = False) -> list[ApiKey]:
    query = "SELECT * FROM api_keys"
    if not include_revoked:
        query += " WHERE revoked_at IS NULL"
    with connect(settings) as db:
        rows = db.execute(text(query + " ORDER BY created_at, id")).mappings().all()
    return [_from_row(row) for row in rows]


def revoke_key(settings: Settings, name: str) -> bool:
    """Revoke a key by name; False when there is no active key of that name."""
    with transaction(settings) as db:
        result = db.execute(
            text("UPDATE api_keys SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL"),
            {"now": time.time(), "name": name},
        )
    return result.rowcount > 0


def allowed_origins(settings: Settings) -> set[str]:
    """Every origin some active key allows: what CORS preflights may be answered for."""
    return {origin for key in list_keys(settings) for origin in key.origins}
