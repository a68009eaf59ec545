"""Calling hooks through the host: results, ordering, and surviving plugin failures."""

from __future__ import annotations

import mido
import pytest

from hostapi import (
    ComposeOptions,
    ModelsRequest,
    NoAnswerError,
    PluginCallError,
    Progress,
    StyleInfo,
    TrainOptions,
    UnknownPluginError,
)
from tests.plugins.broken import FailingStyles, UserErrorComposer, WrongTypeComposer
from tests.plugins.dummy import DummyComposer, EagerComposer

pytest_plugins = ["tests.host_fixtures"]


def test_list_styles_through_the_host(make_host, dummy_plugin):
    other = DummyComposer("other", styles=("jig",))
    host = make_host(dummy_plugin, other)
    styles = host.list_styles()
    assert all(isinstance(s, StyleInfo) for s in styles)
    # Call order: last registered first (pluggy's LIFO).
    assert [(s.plugin, s.name) for s in styles] == [
        ("other", "jig"),
        ("dummy", "waltz"),
        ("dummy", "shared"),
    ]


def test_compose_writes_a_real_midi_file(dummy_host, dummy_plugin, tmp_path):
    out = tmp_path / "piece.mid"
    seen: list[Progress] = []
    result = dummy_host.compose(
        "waltz", ComposeOptions(out_path=out, length=8, seed=3, variations=2), progress=seen.append
    )
    assert result.path == out and result.plugin == "dummy" and result.seed == 3
    midi = mido.MidiFile(out)
    notes = [m for m in midi if m.type == "note_on"]
    assert len(notes) == 8
    assert result.duration_seconds == pytest.approx(midi.length) and midi.length > 0
    assert [p.name for p in result.variations] == ["piece.mid", "piece-2.mid"]
    assert (tmp_path / "piece-2.mid").is_file()
    assert seen[-1] == Progress("compose", 8, 8, "event", "variation 2")
    [(hook, kwargs)] = dummy_plugin.calls
    assert hook == "compose" and kwargs["options"].length == 8


def test_compose_without_progress_gets_a_callable(dummy_host, tmp_path):
    # Plugins may call progress unconditionally.
    result = dummy_host.compose("waltz", ComposeOptions(out_path=tmp_path / "a.mid"))
    assert result.events == 16


def test_unknown_style_is_no_answer(dummy_host):
    with pytest.raises(NoAnswerError, match="no plugin composes in style 'polka'"):
        dummy_host.compose("polka")
    assert dummy_host.failures == []


def test_no_plugins_at_all_says_so(make_host):
    host = make_host("tests.plugins.broken_import")
    with pytest.raises(
        NoAnswerError, match=r"no loaded plugin implements compose; 1 plugin\(s\) broken"
    ):
        host.compose("waltz")


def test_compose_that_raises_is_reported_and_the_other_plugin_answers(
    make_host, dummy_plugin, broken_plugin, tmp_path
):
    # broken_plugin is registered last, so it is asked first and raises.
    host = make_host(dummy_plugin, broken_plugin)
    assert host.call_order("compose") == ["raising", "dummy"]
    result = host.compose("shared", ComposeOptions(out_path=tmp_path / "s.mid"))
    assert result.plugin == "dummy"
    [failure] = host.failures
    assert (failure.plugin, failure.hook, failure.error_type) == (
        "raising",
        "compose",
        "RuntimeError",
    )
    assert failure.error == "model weights are corrupt; (and this message has a second line)"
    assert failure.line() == (
        "raising: compose failed: RuntimeError: model weights are corrupt; "
        "(and this message has a second line)"
    )
    assert "Traceback" in failure.traceback


def test_when_every_plugin_fails_the_error_names_them(make_host, broken_plugin):
    host = make_host(broken_plugin)
    with pytest.raises(PluginCallError) as info:
        host.compose("shared")
    assert str(info.value).startswith("raising: compose failed: RuntimeError: model weights")
    assert not info.value.user_error
    assert "\n" not in str(info.value)


def test_user_error_stops_the_chain_with_the_plugin_name(make_host, dummy_plugin):
    # The picky plugin is asked first; its UserError means "this request is mine, and it is wrong".
    host = make_host(dummy_plugin, UserErrorComposer())
    with pytest.raises(PluginCallError) as info:
        host.compose("shared")
    assert str(info.value) == "picky: primer file 'x.mid' is not a MIDI file"
    assert info.value.user_error
    assert dummy_plugin.calls == []  # never asked


def test_same_style_in_two_plugins_last_registered_answers(make_host, tmp_path):
    first, second = DummyComposer("first"), DummyComposer("second")
    host = make_host(first, second)
    assert host.call_order("compose") == ["second", "first"]
    assert host.compose("shared", ComposeOptions(out_path=tmp_path / "x.mid")).plugin == "second"
    assert first.calls == []
    # The same plugins in the other order: the answer follows, deterministically.
    host = make_host(DummyComposer("second"), DummyComposer("first"))
    assert host.compose("shared", ComposeOptions(out_path=tmp_path / "y.mid")).plugin == "first"


def test_tryfirst_beats_registration_order(make_host, tmp_path):
    host = make_host(EagerComposer("eager"), DummyComposer("late"))
    assert host.call_order("compose") == ["eager", "late"]
    assert host.compose("shared", ComposeOptions(out_path=tmp_path / "x.mid")).plugin == "eager"


def test_plugin_argument_asks_only_that_plugin(make_host, tmp_path):
    host = make_host(DummyComposer("first"), DummyComposer("second"))
    result = host.compose("shared", ComposeOptions(out_path=tmp_path / "x.mid"), plugin="first")
    assert result.plugin == "first"
    with pytest.raises(
        UnknownPluginError, match=r"no plugin named 'third' \(loaded: first, second\)"
    ):
        host.compose("shared", plugin="third")


def test_plugin_argument_explains_a_broken_plugin(make_host):
    host = make_host("tests.plugins.broken_import")
    with pytest.raises(UnknownPluginError, match="plugin 'broken_import' is broken: ImportError"):
        host.list_styles(plugin="broken_import")


def test_wrong_result_types_are_failures(make_host, dummy_plugin, tmp_path):
    host = make_host(dummy_plugin, WrongTypeComposer())
    assert [s.plugin for s in host.list_styles()] == ["dummy", "dummy"]
    assert host.compose("shared", ComposeOptions(out_path=tmp_path / "x.mid")).plugin == "dummy"
    assert [f.line() for f in host.failures] == [
        "wrong_type: list_styles failed: ContractError: "
        "returned a list holding a dict, expected StyleInfo items",
        "wrong_type: compose failed: ContractError: returned dict, expected CompositionResult or None",
    ]


def test_list_styles_failure_drops_only_that_plugins_styles(make_host, dummy_plugin):
    host = make_host(dummy_plugin, FailingStyles())
    assert [s.name for s in host.list_styles(offline=True)] == ["waltz", "shared"]
    assert [(f.plugin, f.error_type) for f in host.failures] == [
        ("failing_styles", "ConnectionError")
    ]


def test_train_dispatch(dummy_host, dummy_plugin, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.mid").write_bytes(b"")
    seen: list[Progress] = []
    result = dummy_host.train(
        corpus,
        "mine",
        tmp_path / "out",
        TrainOptions(epochs=3, recipe="reference"),
        progress=seen.append,
    )
    assert result.plugin == "dummy" and result.epochs_run == 3 and result.model_path.is_file()
    [(hook, kwargs)] = dummy_plugin.calls
    assert hook == "train"
    assert kwargs["corpus_dir"] == corpus and kwargs["style"] == "mine"
    assert kwargs["options"].recipe == "reference"
    assert [p.done for p in seen] == [1, 2, 3]


def test_train_user_error(dummy_host, tmp_path):
    with pytest.raises(PluginCallError, match=r"^dummy: no \.mid files in"):
        dummy_host.train(tmp_path, "mine", tmp_path / "out")


def test_check_runtime_collects_every_plugin_and_survives_failures(
    make_host, dummy_plugin, broken_plugin
):
    host = make_host(dummy_plugin, broken_plugin)
    reports = host.check_runtime(deep=True)
    assert [r.plugin for r in reports] == ["dummy"]
    assert reports[0].findings[0].detail == "deep"
    assert [f.line() for f in host.failures] == [
        "raising: check_runtime failed: OSError: cannot read /proc/cpuinfo"
    ]


def test_manage_models_passes_a_typed_request(dummy_host, dummy_plugin):
    result = dummy_host.manage_models(ModelsRequest("list", all=True))
    assert result.plugin == "dummy" and result.data == ["waltz", "shared"]
    assert dummy_plugin.calls[-1] == ("manage_models", {"request": ModelsRequest("list", all=True)})
    assert dummy_host.manage_models(ModelsRequest("verify")).ok is False
    with pytest.raises(PluginCallError, match="dummy: models pack is not supported"):
        dummy_host.manage_models(ModelsRequest("pack"))


def test_no_model_manager(make_host, broken_plugin):
    with pytest.raises(NoAnswerError, match="no plugin has a model manager"):
        make_host(broken_plugin).manage_models()
