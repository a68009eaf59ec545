"""What this machine can do: the runtime check behind the ``check_runtime`` hook.

Two depths:

* the cheap check (default) reads package metadata and asks the import system
  whether TensorFlow *could* be imported (``importlib.util.find_spec``), without
  importing it: ``import tensorflow`` costs seconds and may hang or abort on a
  broken CUDA setup;
* the deep check (``probe_tensorflow=True``) imports TensorFlow in a
  subprocess with a timeout and asks it for its build (CUDA, cuDNN) and GPUs.
  Whatever happens there (ImportError, a crash in a CUDA library, a hang)
  becomes a finding; it cannot take the calling process down.

Nothing here raises for a missing or broken dependency: every problem is a
:class:`RuntimeFinding` with ``ok=False`` plus a line of advice.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from hostapi.results import RuntimeFinding, RuntimeReport
from lstm_composer_plugin import PLUGIN

TRAIN_EXTRA = "pip install 'lstm-composer-plugin[train]'"
PNG_EXTRA = "pip install 'lstm-composer-plugin[png]'"
SCORE_EXTRA = "pip install 'lstm-composer-plugin[score]'"
MIN_PYTHON = (3, 10)
# Lower bounds from pyproject.toml; below them the code is untested.
MIN_VERSIONS = {"numpy": "1.24", "mido": "1.3", "pluggy": "1.5", "tensorflow": "2.16"}
# Distribution names TensorFlow is published under; any of them provides `tensorflow`.
TF_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tf-nightly",
)
DEFAULT_PROBE_TIMEOUT = 120.0  # seconds; a cold import with CUDA libraries can take a while
# Measured reference figure (docs: DESIGN.md), so the CPU estimate is not a guess.
CPU_REFERENCE = "reference recipe measured at ~140 windows/s on 2 CPU cores"

_PROBE_MARK = "@@lstm-composer-probe@@"
# The prefix absl/C++ logging puts on TensorFlow's stderr lines ("E0000 00:00:17.4  42 file.cc:52] ").
_LOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
# Runs in a child interpreter: prints one marked JSON line whatever happens.
_PROBE_SCRIPT = f"""
import json, sys
out = {{}}
try:
    import tensorflow as tf
except BaseException as exc:
    out["import_error"] = f"{{type(exc).__name__}}: {{exc}}"
    print({_PROBE_MARK!r} + json.dumps(out), flush=True)
    sys.exit(0)
out["version"] = getattr(tf, "__version__", "?")
try:
    out["build"] = {{k: v for k, v in dict(tf.sysconfig.get_build_info()).items()
                    if isinstance(v, (str, bool, int, list))}}
except BaseException as exc:
    out["build_error"] = f"{{type(exc).__name__}}: {{exc}}"
try:
    gpus = []
    for dev in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(dev)
        except BaseException:
            details = {{}}
        gpus.append({{"name": dev.name, "device_name": details.get("device_name", ""),
                     "compute_capability": list(details.get("compute_capability", ()) or ())}})
    out["gpus"] = gpus
except BaseException as exc:
    out["gpu_error"] = f"{{type(exc).__name__}}: {{exc}}"
print({_PROBE_MARK!r} + json.dumps(out), flush=True)
"""


@dataclass
class TensorFlowProbe:
    """What the subprocess found (``error`` set when it could not find out)."""

    version: str | None = None
    build: dict[str, Any] = field(default_factory=dict)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)  # build/GPU query problems, stderr hints


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _at_least(version: str, minimum: str) -> bool:
    return _version_tuple(version) >= _version_tuple(minimum)


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        except Exception:  # a damaged dist-info must not break the check
            continue
    return None


def _importable(module: str) -> tuple[bool, str]:
    """Whether ``module`` can be found, without importing it (and why not)."""
    if module in sys.modules:
        return sys.modules[module] is not None, ""
    try:
        return importlib.util.find_spec(module) is not None, ""
    except Exception as exc:  # a finder raised: the module is not importable
        return False, f"{type(exc).__name__}: {exc}"


def _package_finding(name: str, *, needed_for: str) -> RuntimeFinding:
    version = _dist_version(name)
    found, why = _importable(name)
    if not found:
        detail = f"not importable ({why})" if why else "not installed"
        return RuntimeFinding(name, False, version, f"{detail}; needed for {needed_for}")
    minimum = MIN_VERSIONS.get(name)
    if version and minimum and not _at_least(version, minimum):
        return RuntimeFinding(name, False, version, f"older than {minimum}; upgrade it")
    return RuntimeFinding(name, True, version, f"needed for {needed_for}")


def run_tensorflow_probe(timeout: float = DEFAULT_PROBE_TIMEOUT) -> TensorFlowProbe:
    """Import TensorFlow in a child interpreter and report what it sees."""
    if not sys.executable:  # embedded interpreters may not know their executable
        return TensorFlowProbe(error="cannot probe: no Python executable (sys.executable is empty)")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ logging out of the way
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return TensorFlowProbe(
            error=f"importing TensorFlow did not finish within {timeout:g} s "
            "(a hanging GPU driver or CUDA library?)"
        )
    except OSError as exc:
        return TensorFlowProbe(error=f"cannot start the probe: {exc}")
    stderr_tail = [
        _LOG_PREFIX.sub("", line.strip()) for line in proc.stderr.splitlines() if line.strip()
    ][-3:]
    data = None
    for line in proc.stdout.splitlines():
        if line.startswith(_PROBE_MARK):
            data = json.loads(line[len(_PROBE_MARK) :])
    if data is None:
        how = (
            f"exit code {proc.returncode}" if proc.returncode >= 0 else f"signal {-proc.returncode}"
        )
        last = f": {stderr_tail[-1]}" if stderr_tail else ""
        return TensorFlowProbe(error=f"importing TensorFlow crashed ({how}){last}")
    if "import_error" in data:
        return TensorFlowProbe(error=data["import_error"])
    probe = TensorFlowProbe(
        version=data.get("version"), build=data.get("build", {}), gpus=data.get("gpus", [])
    )
    for key in ("build_error", "gpu_error"):
        if key in data:
            probe.notes.append(data[key])
    if not probe.gpus:
        # TensorFlow explains a missing GPU only on stderr ("Could not find cuda drivers").
        probe.notes += [
            line for line in stderr_tail if "cuda" in line.lower() or "gpu" in line.lower()
        ]
    return probe


def _compose_capability(report: RuntimeReport, by_name: dict[str, RuntimeFinding]) -> None:
    missing = [n for n in ("numpy", "mido") if not by_name[n].ok]
    if missing:
        report.capabilities["compose"] = f"not ready: {', '.join(missing)} missing or too old"
        report.advice.append(f"pip install --upgrade {' '.join(missing)}")
    else:
        report.capabilities["compose"] = "ready (NumPy)"


def _score_capability(report: RuntimeReport) -> None:
    if _importable("music21")[0]:
        report.capabilities["score"] = f"ready (music21 {_dist_version('music21') or ''})".replace(" )", ")")
    else:
        report.capabilities["score"] = "unavailable: music21 is not installed"
        report.advice.append(f"for scores (--musicxml): {SCORE_EXTRA}")


def _png_capability(report: RuntimeReport) -> None:
    if _importable("matplotlib")[0]:
        report.capabilities["png"] = "ready (matplotlib)"
    else:
        report.capabilities["png"] = "unavailable: matplotlib is not installed"
        report.advice.append(f"for piano-roll PNGs: {PNG_EXTRA}")


def _audio_capability(report: RuntimeReport) -> None:
    """The renderer and SoundFont behind ``compose --audio`` (both looked up, nothing loaded)."""
    try:
        from lstm_composer_plugin.compose import audio
    except Exception as exc:  # mido or NumPy broken: already reported above
        report.capabilities["audio"] = f"unavailable: {type(exc).__name__}: {exc}"
        return
    version = audio.renderer_version()
    report.findings.append(
        RuntimeFinding(
            audio.RENDERER,
            version is not None,
            version,
            "renders MIDI to audio" if version else "not installed; needed for --audio",
        )
    )
    try:
        soundfont = audio.find_soundfont()
    except Exception as exc:
        report.findings.append(RuntimeFinding("soundfont", False, None, str(exc)))
        soundfont = None
    else:
        size = soundfont.stat().st_size / 1e6
        report.findings.append(RuntimeFinding("soundfont", True, None, f"{soundfont} ({size:.0f} MB)"))
    if version is None:
        report.capabilities["audio"] = f"unavailable: {audio.RENDERER} is not installed"
        report.advice.append(f"for --audio: {audio.AUDIO_EXTRA}")
    elif soundfont is None:
        report.capabilities["audio"] = "unavailable: no General MIDI SoundFont"
        report.advice.append(
            f"for --audio: {audio.SOUNDFONT_APT} (or set {audio.ENV_SOUNDFONT}=FILE.sf2)"
        )
    else:
        report.capabilities["audio"] = f"ready ({audio.RENDERER} {version}, {soundfont.name})"


def _tensorflow_cheap() -> RuntimeFinding:
    version = _dist_version(*TF_DISTRIBUTIONS)
    found, why = _importable("tensorflow")
    if not found:
        detail = f"not importable ({why})" if why else "not installed"
        if version:
            detail += f"; metadata says {version} is installed"
        return RuntimeFinding("tensorflow", False, version, detail + "; needed for training only")
    if version and not _at_least(version, MIN_VERSIONS["tensorflow"]):
        return RuntimeFinding(
            "tensorflow", False, version, f"older than {MIN_VERSIONS['tensorflow']}; upgrade it"
        )
    return RuntimeFinding(
        "tensorflow", True, version, "installed; not imported (the deep check imports it)"
    )


def _tensorflow_deep(report: RuntimeReport, timeout: float) -> None:
    probe = run_tensorflow_probe(timeout)
    if probe.error:
        report.findings.append(RuntimeFinding("tensorflow", False, None, probe.error))
        report.capabilities["training"] = f"unavailable: TensorFlow does not import ({probe.error})"
        report.advice.append(f"reinstall TensorFlow: {TRAIN_EXTRA}")
        return
    version = probe.version or "?"
    new_enough = _at_least(version, MIN_VERSIONS["tensorflow"])
    report.findings.append(
        RuntimeFinding(
            "tensorflow",
            new_enough,
            version,
            "imports" if new_enough else f"older than {MIN_VERSIONS['tensorflow']}",
        )
    )
    build = probe.build
    cuda_build = bool(build.get("is_cuda_build"))
    cuda, cudnn = build.get("cuda_version"), build.get("cudnn_version")
    report.findings.append(
        RuntimeFinding(
            "cuda",
            cuda_build,
            str(cuda) if cuda else None,
            "TensorFlow is a CUDA build" if cuda_build else "CPU-only TensorFlow build",
        )
    )
    report.findings.append(
        RuntimeFinding(
            "cudnn",
            cuda_build and bool(cudnn),
            str(cudnn) if cudnn else None,
            "cuDNN version TensorFlow was built against" if cudnn else "no cuDNN in this build",
        )
    )
    names = [g.get("device_name") or g.get("name", "?") for g in probe.gpus]
    gpu_detail = ", ".join(names) if names else "no GPU visible to TensorFlow"
    if probe.notes:
        gpu_detail += f" ({'; '.join(probe.notes)})"
    report.findings.append(RuntimeFinding("gpu", bool(names), None, gpu_detail))
    # Keras runs LSTM layers on the fused cuDNN kernel only on a GPU of a CUDA
    # build, and only for the default activations with recurrent_dropout=0 and
    # unroll=False; otherwise it falls back to the generic (much slower) loop.
    cudnn_lstm = bool(names) and cuda_build
    report.findings.append(
        RuntimeFinding(
            "cudnn_lstm",
            cudnn_lstm,
            None,
            "LSTM layers will use the cuDNN kernel (default activations, recurrent_dropout=0)"
            if cudnn_lstm
            else "the cuDNN LSTM kernel needs a visible GPU and a CUDA build",
        )
    )
    if not new_enough:
        report.capabilities["training"] = f"unavailable: TensorFlow {version} is too old"
        report.advice.append(TRAIN_EXTRA)
    elif cudnn_lstm:
        report.capabilities["training"] = f"GPU: {', '.join(names)} with the cuDNN LSTM kernel"
    else:
        cores = os.cpu_count() or 1
        report.capabilities["training"] = (
            f"CPU only ({cores} cores), expect hours per style ({CPU_REFERENCE}); "
            "composing is unaffected"
        )
        if cuda_build:
            report.advice.append(
                f"TensorFlow is built for CUDA {cuda} / cuDNN {cudnn} but sees no GPU: "
                "check the NVIDIA driver (nvidia-smi) to train on the GPU"
            )


def check_runtime(
    probe_tensorflow: bool = False,
    *,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    plugin: str = PLUGIN,
) -> RuntimeReport:
    """Check Python, NumPy, mido, pluggy and (optionally deeply) TensorFlow.

    :param probe_tensorflow: import TensorFlow in a subprocess to read its build
        and GPUs. Without it, TensorFlow is looked up but never imported.
    :param timeout: seconds the TensorFlow probe may take.
    :param plugin: the plugin name the report is for.
    """
    report = RuntimeReport(plugin=plugin)
    py = sys.version_info
    report.findings.append(
        RuntimeFinding(
            "python",
            py[:2] >= MIN_PYTHON,
            platform.python_version(),
            f"{platform.python_implementation()} on {platform.system()} {platform.machine()}",
        )
    )
    for name, needed_for in (
        ("numpy", "composing and training"),
        ("mido", "reading and writing MIDI"),
        ("pluggy", "the plugin host"),
    ):
        report.findings.append(_package_finding(name, needed_for=needed_for))
    by_name = {f.name: f for f in report.findings}
    if not by_name["python"].ok:
        report.advice.append(f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    _compose_capability(report, by_name)
    _png_capability(report)
    _score_capability(report)
    _audio_capability(report)

    tf = _tensorflow_cheap()
    if probe_tensorflow and tf.ok:
        _tensorflow_deep(report, timeout)
        return report
    report.findings.append(tf)
    if tf.ok:
        report.capabilities["training"] = (
            f"TensorFlow {tf.version or '?'} installed; GPU not checked (run the deep check)"
        )
    else:
        report.capabilities["training"] = (
            "unavailable: TensorFlow is not installed or not importable"
        )
        report.advice.append(f"to train new styles: {TRAIN_EXTRA}")
    return report
