"""The remotes file and how a remote's key is chosen; the CLI never prints a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from heimdall_cli.main import cli

from heimdall_io.errors import ConfigError, NotFoundError
from heimdall_io.transfer.moves import Place, parse_place
from heimdall_io.transfer.remotes import (
    RemotesConfig,
    config_path,
    read_key_file,
    resolve_remote,
)

SECRET = "s3cr3t-key-0123456789"


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("HEIMDALL_API_KEY", raising=False)
    return tmp_path


def test_config_round_trip_and_precedence(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path() == xdg / "cfg" / "heimdall" / "remotes.json"
    config = RemotesConfig()
    config.add("prod", "https://models.example.com:8443/", SECRET)
    config.save()
    assert config_path().stat().st_mode & 0o777 == 0o600
    remote = resolve_remote("prod")
    assert (remote.url, remote.api_key) == ("https://models.example.com:8443", SECRET)
    assert SECRET not in repr(remote)
    monkeypatch.setenv("HEIMDALL_API_KEY", "from-env")
    assert resolve_remote("prod").api_key == "from-env"
    assert resolve_remote("prod", "from-flag").api_key == "from-flag"
    assert resolve_remote("http://127.0.0.1:9").api_key == "from-env"
    config = RemotesConfig()
    config.remove("prod")
    config.save()
    with pytest.raises(NotFoundError):
        RemotesConfig().remove("prod")


@pytest.mark.parametrize("name,url", [("local", "http://h"), ("1x", "http://h"),
                                      ("ok", "ftp://h"), ("ok", "http://u:p@h"),
                                      ("ok", "http://h/?key=1")])  # fmt: skip
def test_invalid_remotes(xdg: Path, name: str, url: str) -> None:
    with pytest.raises(ConfigError):
        RemotesConfig().add(name, url, None)


def test_key_file(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(f"{SECRET}\nignored\n")
    assert read_key_file(str(tmp_path / "k")) == SECRET
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError):
        read_key_file(str(tmp_path / "empty"))
    with pytest.raises(NotFoundError):
        read_key_file(str(tmp_path / "missing"))


def test_places(xdg: Path) -> None:
    config = RemotesConfig()
    config.add("prod", "http://h:1", None)
    assert parse_place("local:abc", config) == Place("local", "", "abc")
    assert parse_place("local:", config) == Place("local", "", None)
    assert parse_place("prod:abc", config) == Place("remote", "prod", "abc")
    assert parse_place("other:abc", config) == Place("bundle", "other:abc")
    assert parse_place("s3://b/k", config) == Place("bundle", "s3://b/k")
    assert parse_place("./dir/x.heimdall", config).kind == "bundle"


def test_cli_remote_commands_never_print_the_key(xdg: Path) -> None:
    key_file = xdg / "key"
    key_file.write_text(SECRET)
    runner = CliRunner()
    out = []
    for args in (["remote", "add", "prod", "http://127.0.0.1:9", "--key-file", str(key_file)],
                 ["remote", "list"], ["remote", "list", "--json"],
                 ["remote", "add", "prod", "http://127.0.0.1:9"]):  # fmt: skip
        result = runner.invoke(cli, args)
        out.append(result.output)
    assert "prod" in out[1] and '"api_key": true' in out[2]
    assert "exists" in out[3]
    assert all(SECRET not in text for text in out)
    result = runner.invoke(cli, ["remote", "remove", "prod"])
    assert result.exit_code == 0 and RemotesConfig().remotes == {}
