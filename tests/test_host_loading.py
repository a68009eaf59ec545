"""Loading plugins: entry points, explicit plugins, broken ones, the env restriction."""

from __future__ import annotations

import pytest

from hostapi import ENV_DISABLE, ENV_ONLY, Host
from tests.plugins.broken import BadSignaturePlugin, UnknownHookPlugin, WrapperPlugin
from tests.plugins.dummy import DummyComposer

pytest_plugins = ["tests.host_fixtures"]

GOOD_EP = """
from hostapi import StyleInfo, hookimpl

@hookimpl
def list_styles():
    return [StyleInfo(name="from-entry-point", title="Entry point style", installed=True)]
"""
BROKEN_EP = 'raise ImportError("needs the unobtainium library")\n'
EXITING_EP = "import sys\nsys.exit(3)\n"


def _by_name(records):
    return {r.name: r for r in records}


def test_working_plugin_is_listed_with_version_and_hooks(dummy_host):
    [info] = dummy_host.plugins
    assert info.name == "dummy"
    assert info.version == "0.0.1"
    assert info.hooks == ["check_runtime", "compose", "list_styles", "manage_models", "train"]
    assert dummy_host.broken == []


def test_entry_point_that_fails_to_import_is_reported_and_others_load(fake_distribution):
    fake_distribution(
        {
            "good_ep": "lstmc_test_good_ep",
            "broken_ep": "lstmc_test_broken_ep",
            "exiting_ep": "lstmc_test_exiting_ep",
        },
        {
            "lstmc_test_good_ep": GOOD_EP,
            "lstmc_test_broken_ep": BROKEN_EP,
            "lstmc_test_exiting_ep": EXITING_EP,
        },
    )
    # The real LSTM plugin is installed in the same group; this test is about ours.
    host = Host(env={ENV_DISABLE: "lstm"})

    broken = _by_name(host.broken)
    assert broken["broken_ep"].stage == "import"
    assert broken["broken_ep"].reason == "ImportError: needs the unobtainium library"
    assert broken["broken_ep"].source == "entry point lstmc_test_broken_ep (lstmc-test-plugins 0.1)"
    assert "Traceback" in broken["broken_ep"].traceback
    assert (
        broken["exiting_ep"].reason == "SystemExit: 3"
    )  # sys.exit() on import must not end the host

    assert [p.name for p in host.plugins] == ["good_ep"]
    assert host.plugins[0].version == "0.1"
    assert [s.name for s in host.list_styles()] == ["from-entry-point"]
    assert [s.name for s in host.skipped] == ["lstm"]


def test_explicit_module_string_that_fails_to_import_is_broken(make_host, dummy_plugin):
    host = make_host("tests.plugins.broken_import", dummy_plugin)
    [broken] = host.broken
    assert (broken.name, broken.stage) == ("broken_import", "import")
    assert "unobtainium" in broken.reason
    assert [p.name for p in host.plugins] == ["dummy"]


def test_module_string_with_name_and_attribute(make_host):
    host = make_host("mine=tests.plugins.dummy:plugin")
    assert [p.name for p in host.plugins] == ["mine"]
    assert host.plugins[0].source == "module tests.plugins.dummy:plugin"


def test_unknown_hookimpl_is_reported_broken_not_fatal(make_host, dummy_plugin):
    host = make_host(UnknownHookPlugin(), dummy_plugin)
    [broken] = host.broken
    assert (broken.name, broken.stage) == ("unknown_hook", "validate")
    assert "compose_symphony" in broken.reason
    assert "\n" not in broken.reason
    # It was unregistered completely: none of its other hooks run.
    assert [s.name for s in host.list_styles()] == ["waltz", "shared"]
    host.pm.check_pending()  # the remaining plugins satisfy the specs


def test_hookimpl_with_argument_not_in_spec_is_broken(make_host, dummy_plugin):
    host = make_host(BadSignaturePlugin(), dummy_plugin)
    [broken] = host.broken
    assert (broken.name, broken.stage) == ("bad_signature", "register")
    assert "colour" in broken.reason
    assert host.call_order("compose") == ["dummy"]


def test_hook_wrapper_is_refused(make_host, dummy_plugin):
    host = make_host(WrapperPlugin(), dummy_plugin)
    assert [(b.name, b.stage) for b in host.broken] == [("wrapper", "validate")]
    assert host.call_order("compose") == ["dummy"]


def test_two_plugins_with_one_name_second_is_broken(make_host):
    host = make_host(DummyComposer("twin"), DummyComposer("twin"))
    assert len(host.plugins) == 1
    [broken] = host.broken
    assert (broken.name, broken.stage) == ("twin", "register")
    assert "already loaded" in broken.reason


def test_env_only_restricts_plugins(make_host):
    plugins = [DummyComposer("a"), DummyComposer("b"), DummyComposer("c")]
    host = make_host(*plugins, env={ENV_ONLY: "a, c,typo"})
    assert [p.name for p in host.plugins] == ["a", "c"]
    assert [(s.name, s.reason) for s in host.skipped] == [("b", f"not listed in {ENV_ONLY}")]
    # A name that matches nothing is visible, not silently ignored.
    assert [(b.name, b.stage) for b in host.broken] == [("typo", "missing")]


def test_env_disable_skips_without_importing(make_host, dummy_plugin):
    # Disabled plugins are not even imported: the way out of a plugin that crashes on import.
    host = make_host(
        "tests.plugins.broken_import", dummy_plugin, env={ENV_DISABLE: "broken_import"}
    )
    assert host.broken == []
    assert [s.name for s in host.skipped] == ["broken_import"]
    assert [p.name for p in host.plugins] == ["dummy"]


def test_env_restriction_applies_to_entry_points(fake_distribution):
    fake_distribution(
        {"good_ep": "lstmc_test_good_ep", "broken_ep": "lstmc_test_broken_ep"},
        {"lstmc_test_good_ep": GOOD_EP, "lstmc_test_broken_ep": BROKEN_EP},
    )
    host = Host(env={ENV_ONLY: "good_ep"})
    assert [p.name for p in host.plugins] == ["good_ep"]
    assert host.broken == []
    skipped = {s.name for s in host.skipped}
    assert {"broken_ep", "lstm"} <= skipped


def test_environment_is_read_from_os_environ_by_default(monkeypatch, dummy_plugin):
    monkeypatch.setenv(ENV_DISABLE, "dummy")
    host = Host(plugins=[dummy_plugin], load_entry_points=False)
    assert host.plugins == []


@pytest.mark.parametrize("spec", ["tests.plugins.dummy:plugin", ("named", DummyComposer())])
def test_explicit_plugin_forms(make_host, spec):
    host = make_host(spec)
    assert len(host.plugins) == 1 and host.broken == []


def test_same_plugin_object_under_two_names_is_reported(make_host, dummy_plugin):
    host = make_host(dummy_plugin, ("again", dummy_plugin))
    assert [p.name for p in host.plugins] == ["dummy"]
    [broken] = host.broken
    assert (broken.name, broken.reason) == ("again", "the same plugin is already loaded as 'dummy'")
