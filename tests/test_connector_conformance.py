"""Every registered connector, against its fake server: the contract later connectors join.

Parametrised over ``aispend.connectors.connector_types()``: a new connector module is picked up
automatically and must register a fake in ``tests/fakes/__init__.py``.
"""

from __future__ import annotations

import json
import logging

import pytest

from aispend.config import SourceConfig
from aispend.connectors import connector_types
from aispend.store import open_store
from aispend.sync import renormalize, sync

from .conftest import run_cli
from .fakes import FAKES
from .sync_helpers import FAST, ledger, settings_for, write_config

TYPES = sorted(connector_types())
ENV = "CONFORMANCE_KEY"


@pytest.fixture(params=TYPES)
def spec(request, monkeypatch):
    assert request.param in FAKES, f"connector {request.param!r} has no fake server in tests/fakes/__init__.py"
    spec = FAKES[request.param]()
    with spec.server() as server:
        monkeypatch.setenv(ENV, server.key)
        yield request.param, spec, server


def test_the_contract_is_declared(spec):
    kind, _, _ = spec
    cls = connector_types()[kind]
    assert cls.type == kind and cls.default_base_url.startswith("https://")
    assert issubclass(cls.settings_model, SourceConfig) and cls.granularities
    assert "key" in cls.auth_hint


def test_settings_validate_and_refuse_literal_keys(workdir, spec):
    kind, fake_spec, server = spec
    settings = settings_for(workdir, {"s": fake_spec.settings(server.base_url, ENV)})
    assert settings.sources["s"].restatement_days == 3
    assert type(settings.sources["s"]) is connector_types()[kind].settings_model
    literal = {**fake_spec.settings(server.base_url, ENV), "api_key": server.key}
    from aispend.config import load_settings
    from aispend.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(workdir, {"s": literal}))
    assert server.key not in str(exc.value)


def test_sync_loads_valid_unique_rows_and_resync_is_idempotent(workdir, spec, caplog, ledger_url):
    _, fake_spec, server = spec
    caplog.set_level(logging.DEBUG)
    settings = settings_for(workdir, {"s": fake_spec.settings(server.base_url, ENV)})
    with open_store(ledger_url("l")) as store:
        [r] = sync(store, settings, None, *fake_spec.window, policy=FAST)
        assert r.status == "ok", r.error  # every landed record normalized without an _error
        assert r.rows > 0 and r.pages == store.query("SELECT count(*) FROM raw_pages")[0][0]
        total, unique = store.query("SELECT count(*), count(DISTINCT row_id) FROM ledger")[0]
        assert total == unique == r.rows  # natural keys are unique
        first = ledger(store)
        [again] = sync(store, settings, None, *fake_spec.window, policy=FAST)
        assert again.status == "ok" and ledger(store) == first
        store.query("DELETE FROM ledger")
        renormalize(store, settings)
        assert ledger(store) == first
        dump = caplog.text + repr(ledger(store, stable=False)) + repr(store.query("SELECT body FROM raw_pages"))
    assert server.key not in dump


def test_a_refused_key_is_masked_and_names_the_next_step(workdir, spec, monkeypatch, ledger_url):
    _, fake_spec, server = spec
    wrong = fake_spec.wrong_key(server)
    monkeypatch.setenv(ENV, wrong)
    settings = settings_for(workdir, {"s": fake_spec.settings(server.base_url, ENV)})
    with open_store(ledger_url("l")) as store:
        [r] = sync(store, settings, None, *fake_spec.window, policy=FAST)
    assert r.status == "failed" and ("401" in r.error or "403" in r.error)
    assert "check the" in r.error and f"env:{ENV}" in r.error and wrong not in r.error


def test_sources_list_masks_the_secret(workdir, spec):
    _, fake_spec, server = spec
    write_config(workdir, {"s": fake_spec.settings(server.base_url, ENV)})
    out = run_cli("sources", "list", "--format", "json", cwd=workdir, env={ENV: server.key})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["api_key"] == f"env:{ENV}"
    assert server.key not in out.stdout + out.stderr
