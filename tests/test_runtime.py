"""The runtime check: cheap without importing TensorFlow, deep in a subprocess, never crashing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hostapi.cli import ExitCode
from lstm_composer_plugin import runtime
from lstm_composer_plugin.runtime import TRAIN_EXTRA, check_runtime

pytest_plugins = ["tests.host_fixtures"]

REPO_DIR = Path(__file__).resolve().parents[1]
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
DOCTOR = [
    sys.executable,
    "-m",
    "hostapi.cli",
    "doctor",
    "--json",
    "-p",
    "tests.plugins.runtime_plugin",
]


def _doctor(env, *extra):
    proc = subprocess.run(
        DOCTOR + list(extra), capture_output=True, text=True, env=env, cwd=REPO_DIR, timeout=300
    )
    assert proc.returncode == ExitCode.OK, proc.stderr
    [report] = json.loads(proc.stdout)["reports"]
    return report, {f["name"]: f for f in report["findings"]}


def _fake_tensorflow(root: Path, body: str) -> Path:
    """A package named tensorflow that shadows the real one in a child interpreter."""
    package = root / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(body))
    return root


@pytest.fixture
def fake_tf(tmp_path, monkeypatch):
    def install(body: str) -> None:
        root = _fake_tensorflow(tmp_path / "fake", body)
        monkeypatch.setenv("PYTHONPATH", str(root))  # the probe's child sees the fake first
        monkeypatch.syspath_prepend(str(root))  # so the cheap check finds "a" TensorFlow

    return install


def test_cheap_check_does_not_import_tensorflow():
    code = (
        "import sys; from lstm_composer_plugin.runtime import check_runtime; "
        "r = check_runtime(); assert 'tensorflow' not in sys.modules, 'imported'; "
        "print(r.capabilities['compose'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ready (NumPy)"


def test_cheap_check_reports_versions():
    report = check_runtime()
    found = {f.name: f for f in report.findings}
    assert list(found) == ["python", "numpy", "mido", "pluggy", "midirenderer", "soundfont", "tensorflow"]
    assert found["python"].ok and found["python"].version == ".".join(
        map(str, sys.version_info[:3])
    )
    assert found["numpy"].ok and found["numpy"].version
    assert found["mido"].ok and found["pluggy"].ok
    assert report.capabilities["compose"] == "ready (NumPy)"
    assert report.plugin == "lstm"


def test_missing_mido_means_compose_not_ready(monkeypatch):
    real = runtime._importable
    monkeypatch.setattr(runtime, "_importable", lambda m: (False, "") if m == "mido" else real(m))
    report = check_runtime()
    assert report.capabilities["compose"] == "not ready: mido missing or too old"
    assert "pip install --upgrade mido" in report.advice


def test_doctor_without_tensorflow(tmp_path, child_env):
    """The whole host path in an environment where `import tensorflow` fails."""
    env = child_env(block_tensorflow_in=tmp_path / "block", LSTM_COMPOSER_PLUGINS="runtime_plugin")
    for extra in ([], ["--tensorflow"]):  # the deep form must not crash either
        report, found = _doctor(env, *extra)
        assert found["tensorflow"]["ok"] is False
        assert "not importable" in found["tensorflow"]["detail"]
        assert report["capabilities"]["compose"] == "ready (NumPy)"
        assert report["capabilities"]["training"].startswith("unavailable")
        assert f"to train new styles: {TRAIN_EXTRA}" in report["advice"]
        assert "cuda" not in found


def test_doctor_text_output_without_tensorflow(tmp_path, child_env):
    env = child_env(block_tensorflow_in=tmp_path / "block", LSTM_COMPOSER_PLUGINS="runtime_plugin")
    argv = [sys.executable, "-m", "hostapi.cli", "doctor", "-p", "tests.plugins.runtime_plugin"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_DIR, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "  compose: ready (NumPy)" in proc.stdout
    assert f"  advice: to train new styles: {TRAIN_EXTRA}" in proc.stdout


@pytest.mark.tf
@pytest.mark.skipif(not HAS_TENSORFLOW, reason="TensorFlow is not installed (the train extra)")
def test_doctor_with_real_tensorflow(child_env):
    env = child_env(LSTM_COMPOSER_PLUGINS="runtime_plugin")
    report, found = _doctor(env, "--tensorflow")
    assert found["tensorflow"]["ok"] and found["tensorflow"]["version"].startswith("2.")
    assert {"cuda", "cudnn", "gpu", "cudnn_lstm"} <= set(found)
    training = report["capabilities"]["training"]
    if found["gpu"]["ok"]:
        assert training.startswith("GPU")
    else:
        assert training.startswith("CPU only") and not found["cudnn_lstm"]["ok"]


def test_probe_reads_build_and_gpus(fake_tf):
    fake_tf(
        """
        from types import SimpleNamespace as NS
        __version__ = "2.99.0"
        class _Dev:
            name = "/physical_device:GPU:0"
        sysconfig = NS(get_build_info=lambda: {"is_cuda_build": True, "cuda_version": "12.5",
                                               "cudnn_version": "9"})
        config = NS(list_physical_devices=lambda kind: [_Dev()],
                    experimental=NS(get_device_details=lambda d: {"device_name": "Fake RTX",
                                                                  "compute_capability": (8, 9)}))
        """
    )
    report = check_runtime(probe_tensorflow=True, timeout=60)
    found = {f.name: f for f in report.findings}
    assert found["tensorflow"].version == "2.99.0" and found["tensorflow"].ok
    assert (found["cuda"].version, found["cudnn"].version) == ("12.5", "9")
    assert found["gpu"].ok and found["gpu"].detail == "Fake RTX"
    assert found["cudnn_lstm"].ok
    assert report.capabilities["training"] == "GPU: Fake RTX with the cuDNN LSTM kernel"


def test_probe_cpu_build_without_gpu(fake_tf):
    fake_tf(
        """
        from types import SimpleNamespace as NS
        __version__ = "2.21.0"
        sysconfig = NS(get_build_info=lambda: {"is_cuda_build": False})
        config = NS(list_physical_devices=lambda kind: [])
        """
    )
    report = check_runtime(probe_tensorflow=True, timeout=60)
    found = {f.name: f for f in report.findings}
    assert not found["cuda"].ok and not found["gpu"].ok and not found["cudnn_lstm"].ok
    assert report.capabilities["training"].startswith("CPU only")
    assert not any("nvidia-smi" in a for a in report.advice)  # a CPU build is not a driver problem


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'raise ImportError("libcudart.so.12: cannot open shared object file")\n',
            "ImportError: libcudart.so.12",
        ),
        ("import os\nos._exit(134)\n", "importing TensorFlow crashed (exit code 134)"),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
            "importing TensorFlow crashed (signal 9)",
        ),
        ("import time\ntime.sleep(60)\n", "did not finish within 2 s"),
        ('__version__ = "2.10.0"\n', "older than 2.16"),
    ],
    ids=["import-error", "exit", "killed", "hangs", "too-old"],
)
def test_broken_tensorflow_is_a_finding_not_a_crash(fake_tf, body, expected):
    fake_tf(body)
    # Short only where the fake hangs: a loaded machine may start Python slowly.
    report = check_runtime(probe_tensorflow=True, timeout=2 if "sleep" in body else 60)
    tf = next(f for f in report.findings if f.name == "tensorflow")
    assert not tf.ok and expected in tf.detail
    assert report.capabilities["training"].startswith("unavailable")
    assert report.capabilities["compose"] == "ready (NumPy)"
