"""The [web] settings: loopback by default, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.errors import ConfigError
from pipeline.config.settings import from_dict


def test_the_desk_listens_on_loopback_by_default():
    web = from_dict({}, Path.cwd()).settings.web
    assert web.host == "127.0.0.1" and web.secret_env is None and web.session_max_age == "8h"


@pytest.mark.parametrize(("web", "key"), [
    ({"session_max_age": "soon"}, "web.session_max_age"),
    ({"base_url": "confere.example.com.br"}, "web.base_url"),
    ({"port": 0}, "web.port"),
    ({"hots": "0.0.0.0"}, "web.hots"),
])
def test_bad_web_settings_name_the_key(web, key):
    with pytest.raises(ConfigError) as err:
        from_dict({"web": web}, Path.cwd())
    assert f"  {key}: " in str(err.value)


def test_the_signing_key_comes_from_the_named_variable(monkeypatch):
    from pipeline.web.app import signing_key

    config = from_dict({"web": {"secret_env": "DESK_SECRET_TEST"}}, Path.cwd())
    monkeypatch.setenv("DESK_SECRET_TEST", "s" * 32)
    assert signing_key(config) == "s" * 32
    monkeypatch.setenv("DESK_SECRET_TEST", "short")  # too short: a random key instead
    first, second = signing_key(config), signing_key(config)
    assert first != second and len(first) >= 32
