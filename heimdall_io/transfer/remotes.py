"""Remotes: other ``heimdall serve`` instances, by name, with their API keys.

``remotes.json`` in the XDG config directory (``$XDG_CONFIG_HOME/heimdall``, by default
``~/.config/heimdall``) holds ``{"remotes": {NAME: {"url": ..., "api_key": ...}}}``,
written with mode 0600 since it holds keys; nothing prints a key. A remote is named by
that NAME or given as its base URL. Its key is, first found: ``--api-key``, then
``HEIMDALL_API_KEY``, then the config entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from heimdall_io.errors import ConfigError, FileAccessError, NotFoundError

__all__ = [
    "API_KEY_ENV",
    "Remote",
    "RemotesConfig",
    "config_path",
    "read_key_file",
    "resolve_remote",
]

API_KEY_ENV = "HEIMDALL_API_KEY"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Remote:
    """A remote instance: its name (or URL), base URL and API key (never printed)."""

    name: str
    url: str
    api_key: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"Remote(name={self.name!r}, url={self.url!r}, api_key={key})"


def config_path() -> Path:
    """``remotes.json`` in the user's config directory for "heimdall"."""
    import platformdirs

    return Path(platformdirs.user_config_dir("heimdall")) / "remotes.json"


def check_url(url: str) -> str:
    """A remote's base URL: http(s)://HOST[:PORT][/PREFIX], without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"a remote URL is http(s)://HOST[:PORT], got {url!r}")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ConfigError("a remote URL has no credentials, query or fragment (use --key-file)")
    return url.strip().rstrip("/")


def read_key_file(path: str) -> str:
    """The API key in ``path`` (its first line; ``-``: stdin)."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except FileNotFoundError:
        raise NotFoundError(f"Key file not found: {path}") from None
    except (PermissionError, IsADirectoryError):
        raise FileAccessError(f"Cannot read key file: {path}") from None
    lines = text.strip().splitlines()
    key = lines[0].strip() if lines else ""
    if not key or any(c.isspace() or ord(c) < 33 for c in key):
        raise ConfigError(f"Key file {path} holds no API key (one key on its first line)")
    return key


class RemotesConfig:
    """The remotes file: read, change, write back (atomically, mode 0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()
        self.remotes: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from None
        remotes = data.get("remotes") if isinstance(data, dict) else None
        if not isinstance(remotes, dict):
            raise ConfigError(f'{self.path}: expected {{"remotes": {{...}}}}')
        self.remotes = {k: v for k, v in remotes.items() if isinstance(v, dict)}

    def add(self, name: str, url: str, api_key: str | None) -> Remote:
        if not _NAME.match(name) or name == "local":
            raise ConfigError(f"invalid remote name {name!r}: a letter, then letters, digits, "
                              "'_', '.' or '-' ('local' is the local registry)")  # fmt: skip
        entry: dict[str, Any] = {"url": check_url(url)}
        if api_key:
            entry["api_key"] = api_key
        self.remotes[name] = entry
        return self.get(name)

    def remove(self, name: str) -> None:
        if self.remotes.pop(name, None) is None:
            raise NotFoundError(f"No remote named {name!r}")

    def get(self, name: str) -> Remote:
        entry = self.remotes.get(name)
        if entry is None or not isinstance(entry.get("url"), str):
            known = ", ".join(sorted(self.remotes)) or "none; add one with `heimdall remote add`"
            raise NotFoundError(f"No remote named {name!r} (remotes: {known})")
        key = entry.get("api_key")
        return Remote(name, entry["url"], key if isinstance(key, str) else None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"remotes": self.remotes}, indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".remotes.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def resolve_remote(spec: str, api_key: str | None = None, config: RemotesConfig | None = None
                   ) -> Remote:  # fmt: skip
    """A remote from a configured NAME or a base URL; the key by the precedence above."""
    key = api_key or os.environ.get(API_KEY_ENV) or None
    if "://" in spec:
        return Remote(spec, check_url(spec), key)
    remote = (config or RemotesConfig()).get(spec)
    return Remote(remote.name, remote.url, key or remote.api_key)
