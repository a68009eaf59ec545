"""Publishing a static catalogue, and serving it with nothing but ``python -m http.server``."""

from __future__ import annotations

import json
import os
import re
import subprocess

import numpy as np
import pytest

from lstm_composer_plugin.modelfile import Manifest, read_manifest
from model_store import InvalidModelError, ModelInfo, Store, StoreError, UsageError, parse_catalogue
from model_store.publish import publish as store_publish
from tests.store_helpers import PYTHON, make_model, publish, subprocess_env

pytest_plugins = ["tests.store_fixtures"]


def _touch(path, t):
    os.utime(path, (t, t))


def test_chosen_export_wins_then_newest_then_highest_epoch(tmp_path):
    runs = tmp_path / "runs"
    # bach trained twice; the first run's chosen export wins over a newer unchosen one.
    _touch(make_model(runs / "bach1" / "export" / "e10.lstmc", "bach", 10, chosen=False), 1000)
    _touch(make_model(runs / "bach1" / "export" / "e20.lstmc", "bach", 20, chosen=True), 1000)
    _touch(make_model(runs / "bach2" / "e30.lstmc", "bach", 30, chosen=False), 2000)
    # jazz: nothing chosen, the newest file wins even with a lower epoch.
    _touch(make_model(runs / "jazz1" / "a.lstmc", "jazz", 50, chosen=False), 1000)
    _touch(make_model(runs / "jazz2" / "b.lstmc", "jazz", 40, chosen=False), 2000)
    # folk: same time, the highest epoch wins.
    _touch(make_model(runs / "folk" / "a.lstmc", "folk", 5, chosen=False), 1000)
    _touch(make_model(runs / "folk" / "b.lstmc", "folk", 6, chosen=False), 1000)
    (runs / "notes.lstmc").write_text("not a zip")
    make_model(runs / "bad" / "x.lstmc", "bad style!", 1)
    result = publish(runs, tmp_path / "out")
    got = {s.id: (s.epoch, s.candidates) for s in result.styles}
    assert got == {"bach": (20, 3), "jazz": (40, 2), "folk": (6, 2)}
    reasons = {p.name: r for p, r in result.skipped}
    assert "not an lstm-composer model file" in reasons["notes.lstmc"]
    assert "not a valid catalogue id" in reasons["x.lstmc"]


def test_index_fields_come_from_the_manifest(tmp_path):
    make_model(tmp_path / "m" / "x.lstmc", "baroque", 12, title="Baroque", description="Fugues\nand more",
               quality={"val_loss": 1.23456, "notes_in_key": 0.91, "ignored": [1, 2]})
    result = publish(tmp_path / "m", tmp_path / "out")
    index = json.loads(result.index.read_text())
    (style,) = index["styles"]
    assert style == {
        "id": "baroque", "title": "Baroque", "description": "Fugues and more",
        "file": "baroque-e0012.lstmc", "size": style["size"], "sha256": style["sha256"],
        "url": "models/baroque-e0012.lstmc", "version": "baroque-e0012", "epoch": 12,
        "quality": "notes_in_key 0.91, val_loss 1.23",  # manifest order (sorted keys here)
    }
    assert (tmp_path / "out" / "models" / "baroque-e0012.lstmc").stat().st_size == style["size"]
    assert index["pack"]["members"] == [{"name": "baroque/baroque-e0012.lstmc", "style": "baroque",
                                         "size": style["size"], "sha256": style["sha256"]}]
    assert re.fullmatch(r"pack/lstm-composer-models-[0-9a-f]{12}\.tar", index["pack"]["url"])
    parse_catalogue(index, "https://x.example/index.json")


def test_base_url_makes_absolute_urls(tmp_path):
    make_model(tmp_path / "m" / "x.lstmc", "bach", 1)
    result = publish(tmp_path / "m", tmp_path / "out", base_url="https://cdn.example/cat")
    index = json.loads(result.index.read_text())
    assert index["styles"][0]["url"] == "https://cdn.example/cat/models/bach-e0001.lstmc"
    assert index["pack"]["url"].startswith("https://cdn.example/cat/pack/")
    with pytest.raises(UsageError, match="--base-url"):
        publish(tmp_path / "m", tmp_path / "out", base_url="ftp://x")


def test_republish_removes_stale_files_and_skips_its_own_output(tmp_path):
    models = tmp_path / "runs"
    make_model(models / "a.lstmc", "bach", 1)
    out = models / "catalogue"  # published inside the training folder
    publish(models, out)
    make_model(models / "b.lstmc", "bach", 2)
    result = publish(models, out)
    assert [s.candidates for s in result.styles] == [2]  # out/models/*.lstmc not counted
    assert sorted(p.name for p in (out / "models").iterdir()) == ["bach-e0002.lstmc"]
    assert len(list((out / "pack").iterdir())) == 1
    assert publish(models, out, make_pack=False).pack is None
    assert not list((out / "pack").iterdir())


def test_published_files_are_readable_by_a_server_running_as_another_user(tmp_path):
    make_model(tmp_path / "m" / "x.lstmc", "bach", 1)
    os.chmod(tmp_path / "m" / "x.lstmc", 0o600)  # a private training output
    old = os.umask(0o022)
    try:
        result = publish(tmp_path / "m", tmp_path / "out")
    finally:
        os.umask(old)
    for path in (result.index, result.pack, tmp_path / "out" / "models" / "bach-e0001.lstmc"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_nothing_to_publish(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no .lstmc model files found"):
        publish(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(UsageError, match="does not exist"):
        publish(tmp_path / "missing", tmp_path / "out")


def test_real_model_file_publishes(tmp_path):
    modelfile = pytest.importorskip("lstm_composer_plugin.modelfile")
    manifest = {"style": "chorale", "title": "Chorales", "description": "four voices",
                "model_id": "chorale-e0042", "epoch": 42, "chosen": True,
                "quality": "val loss 2.1"}
    modelfile.save_model(tmp_path / "m" / "chorale.lstmc", manifest,
                         {"w": np.arange(12, dtype=np.float16).reshape(3, 4)})
    result = publish(tmp_path / "m", tmp_path / "out")
    assert [(s.id, s.version, s.epoch) for s in result.styles] == [("chorale", "chorale-e0042", 42)]


def test_python_http_server_is_a_working_catalogue(store_env, tmp_path):
    for style, epoch in (("bach", 3), ("jazz", 4)):
        make_model(tmp_path / "m" / f"{style}.lstmc", style, epoch)
    out = tmp_path / "out"
    publish(tmp_path / "m", out)
    server = subprocess.Popen(
        [PYTHON, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=subprocess_env())
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        port = int(re.search(r"port (\d+)", line).group(1))
        store = Store(home=store_env.home, catalogue_url=f"http://127.0.0.1:{port}/")
        assert store.fetch("bach").is_file()
        report = store.install_pack()
        assert report.installed == ["jazz"] and report.skipped == ["bach"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_store_reads_no_model_file_the_caller_describes_it(tmp_path):
    """Issue 11 item 2: any file format works; the caller's describe() is all the store knows."""
    src = tmp_path / "weights"
    for style in ("waltz", "tango"):
        (src / f"{style}.bin").parent.mkdir(exist_ok=True)
        (src / f"{style}.bin").write_bytes(style.encode() * 1000)
    (src / "junk.bin").write_bytes(b"?")
    seen = []

    def describe(path):
        seen.append(path.name)
        if path.stem == "junk":
            raise InvalidModelError(f"{path}: not a dance")
        return ModelInfo(style=path.stem, version=f"{path.stem}-v2", title=path.stem.title(),
                         quality="sways nicely")

    result = store_publish(src, tmp_path / "out", describe=describe, suffix=".bin")
    index = json.loads(result.index.read_text())
    assert sorted(seen) == ["junk.bin", "tango.bin", "waltz.bin"]
    assert [(s["id"], s["file"], s["title"], s["quality"]) for s in index["styles"]] == [
        ("tango", "tango-v2.bin", "Tango", "sways nicely"),
        ("waltz", "waltz-v2.bin", "Waltz", "sways nicely")]
    assert [(p.name, why) for p, why in result.skipped] == [("junk.bin", f"{src / 'junk.bin'}: not a dance")]


def test_manifest_is_typed_and_still_reads_as_a_dict(tmp_path):
    path = make_model(tmp_path / "m.lstmc", "baroque", 12, title="Baroque",
                      quality={"val_loss": 1.23456, "notes_in_key": 0.91})
    m = read_manifest(path)
    assert isinstance(m, Manifest)
    assert (m.style, m.title, m.epoch, m.model_id, m.chosen) == ("baroque", "Baroque", 12, "baroque-e0012", True)
    assert m["epoch"] == 12 and m.get("style") == "baroque" and "quality" in m and m.get("nope") is None
    assert m.quality_text() == "notes_in_key 0.91, val_loss 1.23"
    assert m.encoding == {} and m.vocabulary == {}  # opaque dicts owned by the music package
    again = Manifest.from_dict(m.to_dict())
    assert again == m and again.to_dict() == m.raw
    typed = Manifest.from_dict({"style": "x", "epoch": "twelve", "encoding": {"kind": "notes"}})
    assert typed.epoch is None and typed.encoding == {"kind": "notes"}


# ---------------------------------------------------------------- reproducible publishing
# The catalogue in git holds the models and index.json only; the pack is rebuilt from them, so
# the same models must give the same bytes wherever and whenever they are published.


def _stage(folder, styles=(("bach", 3), ("jazz", 4), ("folk", 5))):
    for style, epoch in styles:
        make_model(folder / f"{style}.lstmc", style, epoch, seed=epoch)
    return folder


def _files(folder):
    """Every file under ``folder`` (relative name → bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_models_publish_to_the_same_bytes_in_two_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    models = _stage(tmp_path / "staging")
    a = publish(models, tmp_path / "a")
    for path in models.iterdir():  # a later copy of the same models: new times, another mode
        _touch(path, 2_000_000_000)
        path.chmod(0o600)
    b = publish(models, tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert (a.pack_sha256, a.pack_size, a.pack.name) == (b.pack_sha256, b.pack_size, b.pack.name)
    index = json.loads(a.index.read_text())
    assert index["generated"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH, not the clock
    assert (index["pack"]["sha256"], index["pack"]["size"]) == (a.pack_sha256, a.pack.stat().st_size)


def test_publishing_in_place_rebuilds_the_pack_and_changes_nothing_else(tmp_path, monkeypatch):
    """``publish catalogue/models catalogue``: the models in the catalogue are the input."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    cat = tmp_path / "catalogue"
    first = publish(_stage(tmp_path / "staging"), cat)
    # An old publish time: kept, because nothing else in the index changes.
    index = json.loads(first.index.read_text())
    index["generated"] = "2001-02-03T04:05:06Z"
    first.index.write_text(json.dumps(index, indent=1, sort_keys=True))
    before = _files(cat)
    times = {p.name: p.stat().st_mtime_ns for p in (cat / "models").iterdir()}

    for _ in range(2):  # idempotent: the same bytes every time
        again = publish(cat / "models", cat)
        assert _files(cat) == before
        assert [(s.id, s.candidates) for s in again.styles] == [("bach", 1), ("folk", 1), ("jazz", 1)]
    assert {p.name: p.stat().st_mtime_ns for p in (cat / "models").iterdir()} == times  # not rewritten

    # The pack is not kept (not committed): rebuilt from the models, it matches the index.
    pack_name = first.pack.name
    for path in (cat / "pack").iterdir():
        path.unlink()
    (cat / "pack").rmdir()
    rebuilt = publish(cat / "models", cat)
    assert rebuilt.pack.name == pack_name and _files(cat) == before

    # A new model dropped in place replaces its style's old file; the index says when.
    make_model(cat / "models" / "new-bach.lstmc", "bach", 9, seed=9)
    _touch(cat / "models" / "new-bach.lstmc", 3_000_000_000)
    changed = publish(cat / "models", cat)
    assert sorted(p.name for p in (cat / "models").iterdir()) == [
        "bach-e0009.lstmc", "folk-e0005.lstmc", "jazz-e0004.lstmc"]
    assert [p.name for p in (cat / "pack").iterdir()] == [changed.pack.name] != [pack_name]
    assert json.loads(changed.index.read_text())["generated"] != "2001-02-03T04:05:06Z"


def test_the_whole_catalogue_folder_as_the_models_folder_is_publishing_in_place(tmp_path):
    cat = tmp_path / "catalogue"
    first = publish(_stage(tmp_path / "staging"), cat)
    again = publish(cat, cat)
    assert [s.candidates for s in again.styles] == [1, 1, 1] and again.pack_sha256 == first.pack_sha256


def test_publish_errors_are_one_line(tmp_path, monkeypatch, capsys):
    from lstm_composer_plugin.cli import main

    models = _stage(tmp_path / "staging")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"^models folder .*file is not a folder$"):
        publish(tmp_path / "file", tmp_path / "out")
    with pytest.raises(UsageError, match=r"^catalogue folder .*file is not a folder$"):
        publish(models, tmp_path / "file")
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "models").write_text("a file where the models folder goes")
    with pytest.raises(StoreError, match=r"^cannot write the catalogue in .*blocked: .*models: File exists$"):
        publish(models, tmp_path / "blocked")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH='yesterday': not a time"):
        publish(models, tmp_path / "out")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    # Through the command line: one line, the usage exit code, no traceback.
    for argv, code, message in (
        ([str(models), str(tmp_path / "file"), "--pack"], 2, "catalogue folder"),
        ([str(models), str(tmp_path / "blocked")], 1, "cannot write the catalogue"),
    ):
        assert main(["models", "publish", *argv]) == code
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_publish_command_builds_the_pack_with_or_without_the_pack_option(tmp_path, capsys):
    from lstm_composer_plugin.cli import main

    models = _stage(tmp_path / "staging")
    assert main(["models", "publish", str(models), str(tmp_path / "a"), "--pack"]) == 0
    assert main(["models", "publish", str(models), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    (pack_a,), (pack_b,) = (list((tmp_path / d / "pack").iterdir()) for d in "ab")
    assert pack_a.read_bytes() == pack_b.read_bytes() and f"pack {pack_a}" in out
    assert main(["models", "publish", str(models), str(tmp_path / "c"), "--no-pack"]) == 0
    assert not (tmp_path / "c" / "pack").exists()
