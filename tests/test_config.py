"""Configuration: TOML + credentials + environment, validated, one-line errors, exit 78."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
BASE = f"""
[network]
name = "testnet"
[database]
url = "sqlite:///data/paywatch.db"
[[accounts]]
address = "{ACCOUNT}"
[assets.XLM]
native = true
[payments]
underpayment_tolerance_percent = 0.5
[[webhooks]]
url = "https://orders.example/hooks"
secret = "whsec_from_file"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "paywatch.toml"
    path.write_text(BASE)
    return path


def test_file_values_defaults_and_derived_values(config: Path) -> None:
    settings = load_settings(config, environ={})
    assert settings.network.passphrase == "Test SDF Network ; September 2015"
    assert settings.network.horizon_urls == ["https://horizon-testnet.stellar.org"]
    assert settings.payments.underpayment_tolerance_percent == Decimal("0.5")  # TOML float read as Decimal
    assert settings.default_account == ACCOUNT
    assert settings.database_url == f"sqlite:///{config.parent / 'data' / 'paywatch.db'}"
    assert settings.payments.timeout_minutes == 30


def test_environment_overrides_file_and_credentials(config: Path, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "paywatch_webhooks__0__secret").write_text("whsec_from_credential\n")
    (creds / "PAYWATCH_INBOUND_WEBHOOK__SECRET").write_text("inbound-secret")
    settings = load_settings(
        config,
        environ={"CREDENTIALS_DIRECTORY": str(creds), "PAYWATCH_PAYMENTS__TIMEOUT_MINUTES": "5"},
    )
    assert settings.webhooks[0].secret.get_secret_value() == "whsec_from_credential"
    assert settings.inbound_webhook.secret.get_secret_value() == "inbound-secret"
    assert settings.payments.timeout_minutes == 5
    env_wins = load_settings(
        config,
        environ={"CREDENTIALS_DIRECTORY": str(creds), "PAYWATCH_WEBHOOKS__0__SECRET": "whsec_from_env"},
    )
    assert env_wins.webhooks[0].secret.get_secret_value() == "whsec_from_env"


def test_secrets_never_appear_in_reprs(config: Path) -> None:
    settings = load_settings(config, environ={"PAYWATCH_DATABASE__URL": "postgresql://u:hunter2@db/pw"})
    assert "hunter2" not in repr(settings)
    assert "whsec_from_file" not in repr(settings)
    assert "whsec_from_file" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PAYWATCH_PAYMENTS__TIMEOUT_MINUTES": "soon"}, "payments.timeout_minutes"),
        ({"PAYWATCH_PAYMENTS__TIMEOUT_MINUTES": "0"}, "payments.timeout_minutes"),
        ({"PAYWATCH_PAYMENTS__COLOUR": "blue"}, "payments.colour: unknown key"),
        ({"PAYWATCH_ACCOUNTS__0__ADDRESS": ACCOUNT[:-1] + "A"}, "accounts.0.address"),
        ({"PAYWATCH_NETWORK__NAME": "custom"}, "passphrase is required"),
        ({"PAYWATCH_WEBHOOKS__0__SECRET": "plain"}, "whsec_"),
        ({"PAYWATCH_WEBHOOKS__5__URL": "https://x"}, "no list item 5"),
        ({"PAYWATCH_DATABASE__URL": "mysql://x"}, "database.url"),
        ({"PAYWATCH_ASSETS__USDC__CODE": "USDC"}, "needs both code and issuer"),
        ({"PAYWATCH_WATCHER__MODE": "fast"}, "watcher.mode"),
    ],
)
def test_bad_values_are_named_in_one_line(config: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=environ)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})


def test_cli_exits_78_with_one_line_naming_the_key(config: Path) -> None:
    env = {**os.environ, "PAYWATCH_PAYMENTS__LATE_WINDOW_MINUTES": "-1"}
    result = subprocess.run(
        [sys.executable, "-m", "paywatch.cli", "watch", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "payments.late_window_minutes" in lines[0]
    assert "Traceback" not in result.stderr


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(example, environ={})
    assert settings.assets["USDC"].issuer == "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"
