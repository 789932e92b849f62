"""aispend.toml, the environment, and secrets by reference only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aispend.config import SecretRef, load_settings
from aispend.errors import ConfigError, SecretError


def test_defaults_without_a_file(workdir, monkeypatch):
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)  # PostgreSQL test mode sets it; this is about defaults
    settings = load_settings(None)
    assert settings.store.url == "./aispend.duckdb"
    assert settings.pricing.tier_multipliers == {"batch": Decimal("0.5")}
    assert settings.path is None
    assert set(settings.csv_mappings) >= {"openrouter-activity"}  # built-in presets


def test_a_user_mapping_overrides_a_preset_of_the_same_name(workdir):
    (workdir / "aispend.toml").write_text(
        '[csv_mappings.openrouter-activity]\ncolumns = { period_start = "d", billed_cost = "c" }\n'
        'constants = { provider = "openrouter" }\n'
    )
    assert load_settings(None).csv_mappings["openrouter-activity"].columns == {"period_start": "d", "billed_cost": "c"}


def test_environment_overrides_the_store_url(workdir, monkeypatch):
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)  # PostgreSQL test mode sets it; the file must speak first
    (workdir / "aispend.toml").write_text('[store]\nurl = "a.duckdb"\n')
    assert load_settings(None).store.url == "a.duckdb"
    monkeypatch.setenv("AISPEND_STORE_URL", "b.duckdb")
    assert load_settings(None).store.url == "b.duckdb"


def test_a_named_config_that_does_not_exist_is_an_error(workdir):
    with pytest.raises(ConfigError, match="nope.toml does not exist"):
        load_settings("nope.toml")


def test_errors_name_the_setting_but_never_echo_values(workdir):
    (workdir / "aispend.toml").write_text('[pricing]\ndiscounts = { openai = "sk-live-abcdef" }\n')
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert "pricing.discounts.openai" in str(info.value)
    assert "sk-live-abcdef" not in str(info.value)


def test_unknown_keys_are_refused(workdir):
    (workdir / "aispend.toml").write_text('[store]\nurll = "x"\n')
    with pytest.raises(ConfigError, match="store.urll"):
        load_settings(None)


def test_secret_from_env_and_file_never_shows_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("AISPEND_TEST_KEY", "s3cr3t-value")
    secret = SecretRef(env="AISPEND_TEST_KEY").resolve()
    assert secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    path = tmp_path / "key"
    path.write_text("from-file\n")
    assert SecretRef(file=str(path)).resolve().get_secret_value() == "from-file"
    assert SecretRef(file=str(path)).describe() == f"file:{path}"


def test_missing_secrets_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("AISPEND_ABSENT", raising=False)
    with pytest.raises(SecretError, match="environment variable AISPEND_ABSENT is not set"):
        SecretRef(env="AISPEND_ABSENT").resolve()
    with pytest.raises(SecretError, match="cannot read secret file"):
        SecretRef(file=str(tmp_path / "absent")).resolve()
    with pytest.raises(ValueError):
        SecretRef(env="A", file="/b")
