"""The model pack: resumable verified download, safe streaming extraction, per-model install."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from model_store import OfflineError, PackError
from model_store.catalogue import PackMember
from model_store.pack import create_pack, extract_pack
from tests.store_helpers import make_model, make_store, publish_models

pytest_plugins = ["tests.store_fixtures"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_path(pub) -> str:
    return "/pack/" + pub.result.pack.name


def test_install_pack_installs_every_model_and_removes_the_pack(published, store_env):
    seen = []
    store = make_store(store_env.home, published.url)
    report = store.install_pack(progress=seen.append)
    assert report.ok and sorted(report.installed) == ["bach", "folk", "jazz"]
    assert not report.pack.exists()  # 1 GB in real life: not kept after installing
    for e in store.styles():
        assert e.source == "store" and e.installed
        assert sha(e.path.read_bytes()) == published.entry(e.name)["sha256"]
    assert published.server.count(pack_path(published)) == 1
    assert published.server.count("/models/bach-e0010.lstmc") == 0
    assert {p.stage for p in seen} == {"download", "extract"}
    # Again: everything is installed and verified, so the pack is not fetched at all (even offline).
    for again in (store, make_store(store_env.home, published.url, offline=True)):
        report = again.install_pack()
        assert sorted(report.skipped) == ["bach", "folk", "jazz"] and report.bytes_fetched == 0
    assert published.server.count(pack_path(published)) == 1
    # Asked to keep the pack, it is fetched; still nothing is written over the installed models.
    report = store.install_pack(keep=True)
    assert sorted(report.skipped) == ["bach", "folk", "jazz"] and report.pack.exists()


def test_pack_download_resumes_after_a_cut(published, store_env):
    size = published.result.pack_size
    published.server.set_fault(pack_path(published), cut_at=[size // 3, size // 2])
    store = make_store(store_env.home, published.url)
    report = store.install_pack()
    assert report.ok and len(report.installed) == 3
    reqs = published.server.requests(pack_path(published))
    assert [r.start for r in reqs] == [0, size // 3, size // 2]
    assert published.server.bytes_sent(pack_path(published)) == size


def _serve_custom_pack(pub, tar_bytes: bytes, members: list[dict]) -> None:
    """Replace the published pack with ``tar_bytes`` and point the index at it."""
    root = pub.server.root
    (root / "pack" / "custom.tar").write_bytes(tar_bytes)
    index = json.loads((root / "index.json").read_text())
    index["pack"] = {"url": "pack/custom.tar", "size": len(tar_bytes), "sha256": sha(tar_bytes),
                     "members": members}
    (root / "index.json").write_text(json.dumps(index))


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    "evil",
    [
        _file("../x", b"evil"),
        _file("/etc/x", b"evil"),
        _file("bach/../../x", b"evil"),
        _link("bach/link", "/etc/passwd", tarfile.SYMTYPE),
        _link("bach/hard", "/etc/passwd", tarfile.LNKTYPE),
        _link("bach/dev", "", tarfile.CHRTYPE),
        _link("bach/fifo", "", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink", "device", "fifo"],
)
def test_unsafe_pack_is_refused_and_nothing_is_written(published, store_env, tmp_path, monkeypatch, evil):
    entry = published.entry("bach")
    model = (published.server.root / "models" / entry["file"]).read_bytes()
    tar = _tar([_file("bach/" + entry["file"], model), evil])
    _serve_custom_pack(published, tar, [{"name": "bach/" + entry["file"], "style": "bach",
                                         "size": entry["size"], "sha256": entry["sha256"]}])
    work = tmp_path / "cwd" / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # a naive extractor would write ../x here
    before = {p for p in tmp_path.rglob("*")}
    store = make_store(store_env.home, published.url)
    with pytest.raises(PackError, match=r"refused: member .*(\.\.|absolute|not allowed)"):
        store.install_pack()
    after = {p for p in tmp_path.rglob("*")}
    new = {p for p in after - before if not p.is_relative_to(store_env.home)}
    assert not new
    assert not list((store_env.home / "models").rglob("*.lstmc"))
    assert not Path("/etc/x").exists()


def test_member_not_matching_the_catalogue_is_not_installed(published, store_env):
    entries = {s: published.entry(s) for s in ("bach", "jazz")}
    good = (published.server.root / "models" / entries["bach"]["file"]).read_bytes()
    bad = bytearray((published.server.root / "models" / entries["jazz"]["file"]).read_bytes())
    bad[100] ^= 0xFF
    tar = _tar([_file("bach/b.lstmc", good), _file("jazz/j.lstmc", bytes(bad)),
                _file("extra/readme.txt", b"not in the catalogue")])
    members = [
        {"name": "bach/b.lstmc", "style": "bach", "size": entries["bach"]["size"],
         "sha256": entries["bach"]["sha256"]},
        {"name": "jazz/j.lstmc", "style": "jazz", "size": entries["jazz"]["size"],
         "sha256": entries["jazz"]["sha256"]},
        {"name": "folk/f.lstmc", "style": "folk", "size": published.entry("folk")["size"],
         "sha256": published.entry("folk")["sha256"]},
    ]
    _serve_custom_pack(published, tar, members)
    store = make_store(store_env.home, published.url)
    report = store.install_pack()
    assert report.installed == ["bach"]
    failed = dict(report.failed)
    assert "sha256 mismatch" in failed["jazz"] and "missing from the pack" in failed["folk"]
    assert report.unknown == ["extra/readme.txt"]
    assert report.kept and not report.ok
    assert {e.name for e in store.styles() if e.installed} == {"bach"}


def test_compressed_pack_is_refused(published, store_env):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("bach/x.lstmc")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    _serve_custom_pack(published, buf.getvalue(), [])
    with pytest.raises(PackError, match="not an uncompressed tar"):
        make_store(store_env.home, published.url).install_pack()


def test_pack_offline(published, store_env):
    make_store(store_env.home, published.url).catalogue()
    store = make_store(store_env.home, published.url, offline=True)
    with pytest.raises(OfflineError, match=r"model pack .* not downloaded and offline mode is on"):
        store.install_pack()
    # With the pack already downloaded, offline install works from it.
    make_store(store_env.home, published.url).install_pack(keep=True)
    for s in ("bach", "jazz", "folk"):
        store.remove(s)
    published.server.reset_log()
    assert sorted(store.install_pack().installed) == ["bach", "folk", "jazz"]
    assert published.server.count(method=None) == 0


def test_extraction_memory_stays_flat(tmp_path):
    """A 24 MB pack goes through 1 MB buffers: Python's peak stays far below the pack size."""
    members, files = [], []
    for i in range(6):
        path = make_model(tmp_path / "src" / f"s{i}.lstmc", f"s{i}", i, payload=4_000_000)
        data = path.read_bytes()
        members.append(PackMember(f"s{i}/s{i}.lstmc", f"s{i}", len(data), sha(data)))
        files.append((f"s{i}/s{i}.lstmc", path))
    pack = tmp_path / "pack.tar"
    tracemalloc.start()
    try:
        create_pack(pack, files)
        report = extract_pack(pack, members, lambda m: tmp_path / "out" / m.style / "m.lstmc")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.installed) == 6
    assert peak < 6_000_000, peak
    assert pack.stat().st_size > 24_000_000


def test_published_pack_is_deterministic(store_env, store_server, tmp_path):
    a = publish_models(store_server, tmp_path / "train", {"bach": 1, "jazz": 2})
    first = a.result.pack_sha256
    (store_server.root / "index.json").unlink()
    b = publish_models(store_server, tmp_path / "train", {"bach": 1, "jazz": 2})
    assert b.result.pack_sha256 == first
    assert [p.name for p in (store_server.root / "pack").iterdir()] == [b.result.pack.name]


def test_pack_stores_no_second_copy_of_a_bundled_model(published, store_env, tmp_path):
    """Issue 12 item 13: the bundled bach is byte-identical to the pack's bach member."""
    bundled = tmp_path / "bundled" / "bach.lstmc"
    bundled.parent.mkdir()
    bundled.write_bytes((published.models_dir / "bach" / "bach-e0010.lstmc").read_bytes())
    assert sha(bundled.read_bytes()) == published.entry("bach")["sha256"]
    store = make_store(store_env.home, published.url, bundled={"bach": bundled})
    report = store.install_pack()
    assert report.ok and sorted(report.installed) == ["folk", "jazz"]
    assert report.skipped == ["bach"] and report.bundled == ["bach"]
    assert report.to_dict()["provided_by_bundled"] == ["bach"]
    assert not (store_env.home / "models" / "bach").exists()  # no second copy
    by = {e.name: e for e in store.styles()}
    assert (by["bach"].source, by["bach"].path, by["bach"].update_available) == ("bundled", bundled, False)
    assert all(e.installed for e in by.values()) and store.resolve("bach") == bundled
    # Run again: nothing to fetch, the bundled copy still counts as installed.
    again = store.install_pack()
    assert again.bytes_fetched == 0 and sorted(again.skipped) == ["bach", "folk", "jazz"]
    assert published.server.count(pack_path(published)) == 1


# ------------------------------------------------------------------- a reproducible pack


def test_pack_members_have_fixed_headers_in_name_order(tmp_path):
    """Only a member's name and bytes reach the archive: not the order given, nor the file's time,
    mode or owner."""
    from model_store.pack import PACK_MTIME

    files = []
    for style, mode, t in (("jazz", 0o600, 1_000), ("bach", 0o755, 2_000_000_000), ("a-b", 0o640, 5)):
        path = tmp_path / "src" / f"{style}.lstmc"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes((style.encode() * 1000)[:3000])
        path.chmod(mode)
        os.utime(path, (t, t))
        files.append((f"{style}/{style}-e0001.lstmc", path))
    pack = tmp_path / "pack.tar"
    size, digest = create_pack(pack, files)
    data = pack.read_bytes()
    assert (size, digest) == (len(data), sha(data))
    with tarfile.open(pack, "r:") as tf:
        infos = tf.getmembers()
        assert tf.pax_headers == {}
    assert [i.name for i in infos] == sorted(name for name, _ in files)
    for info in infos:
        assert (info.type, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname) == (
            tarfile.REGTYPE, PACK_MTIME, 0o644, 0, 0, "", ""), info.name
        assert info.pax_headers == {}
    # Plain ustar headers, back to back: no pax or GNU extension records between them.
    assert all(data[i.offset + 257:i.offset + 265] == b"ustar\x0000" for i in infos)
    assert [i.offset for i in infos] == [0, 512 + 3072, 2 * (512 + 3072)]  # 3000-byte files, padded
    # Given in another order, the same archive.
    assert create_pack(tmp_path / "again.tar", list(reversed(files))) == (size, digest)


def test_pack_bytes_are_pinned(tmp_path):
    """The sha256 of a known pack: if a Python release ever changed how tarfile writes these
    headers, every published index would stop verifying its rebuilt pack, and this says so first.
    (Checked identical on CPython 3.10, 3.11, 3.12 and 3.13, and under LC_ALL=C.)"""
    src = tmp_path / "m.lstmc"
    src.write_bytes(bytes(range(256)) * 8)
    size, digest = create_pack(tmp_path / "p.tar", [("style/style-e0001.lstmc", src)])
    assert (size, digest) == (10240, "45540c9a9043b0592675a03e747468d68ed01b03eabe7ddd28255964bbebdc0b")


@pytest.mark.parametrize(
    "members, problem",
    [
        ([("a/" + "x" * 101 + ".lstmc", "f")], "name is too long"),
        ([("a/m.lstmc", "f"), ("./a/m.lstmc", "f")], "appears twice"),
        ([("../m.lstmc", "f")], "'..' in path"),
    ],
)
def test_a_member_the_pack_cannot_hold_is_refused_in_one_line(tmp_path, members, problem):
    (tmp_path / "f").write_bytes(b"model")
    members = [(name, tmp_path / src) for name, src in members]
    with pytest.raises(PackError, match=r"^pack member '.*': .*" + problem) as exc:
        create_pack(tmp_path / "p.tar", members)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "p.tar").exists() and list(tmp_path.iterdir()) == [tmp_path / "f"]
