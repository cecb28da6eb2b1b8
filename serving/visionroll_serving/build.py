"""Builds the digits model archives from real data and caches them by a hash of the build sources.

`python -m visionroll_serving.build` trains and archives four versions of the model "digits" and prints their
metrics; a second run with unchanged sources finds them under ~/.cache/visionroll/models/<hash>/ at once.

- 1.0  fp32 CNN trained on scikit-learn's digits (fixed seed);
- 2.0  the same network, int8 by eager-mode static quantization (calibrated on training images);
- 3.0  trained on data with a labelling bug (classes 3, 5, 8 rotated): HTTP 200 answers, wrong classes;
- 4.0  1.0's weights, but its archive config makes the handler fail a share of requests with 500 and add latency;
- 5.0  1.0's weights re-exported under a new version: a healthy candidate that answers exactly as stable does;
- 6.0  1.0 with two classes' labels swapped (the output rows of SWAPPED exchanged, as training with those two labels
       exchanged would give): HTTP 200, normal latency, the same class mix, wrong on about a fifth of inputs.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "digits"
VERSIONS = ("1.0", "2.0", "3.0", "4.0", "5.0", "6.0")
LABELS = tuple(str(i) for i in range(10))
# The labelling bug of 3.0: each true class on the left was recorded as the one on the right.
MISLABEL = {3: 5, 5: 8, 8: 3}
# The labelling bug of 6.0: these two classes exchanged.
SWAPPED = (1, 7)
FAULTS_4_0 = {"error_rate": 0.3, "extra_latency_ms": 20, "seed": 4}
EPOCHS = 30
BATCH = 64
LEARNING_RATE = 2e-3
TORCH_SEED = 7
CACHE_ROOT = Path(os.environ.get("VISIONROLL_CACHE", Path.home() / ".cache" / "visionroll")) / "models"
_HERE = Path(__file__).resolve().parent
SOURCES = ("build.py", "model.py", "handler.py", "samples.py")


@dataclass(frozen=True)
class VersionMetrics:
    version: str
    accuracy: float
    agreement_with_1_0: float
    size_bytes: int
    latency_ms_p50: float
    batch64_ms: float
    note: str


@dataclass(frozen=True)
class BuildResult:
    directory: Path
    archives: dict[str, Path]
    metrics: dict[str, VersionMetrics]
    cached: bool

    def archive(self, version: str) -> Path:
        return self.archives[version]


def build_hash() -> str:
    """Of the build's sources and the torch version (read from metadata: a cached build never imports torch)."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (_HERE / name).read_bytes() + b"\0")
    digest.update(f"torch={version('torch')}".encode())
    return digest.hexdigest()[:16]


def build(*, cache_root: Path = CACHE_ROOT, force: bool = False, log: Any = print) -> BuildResult:
    """Returns the four archives, building them only when no archive of the same sources is cached."""
    target = cache_root / build_hash()
    if not force and (target / "metrics.json").is_file():
        return _load(target, cached=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    # One build at a time per cache: a second process (another test session, the demo) waits here, then finds
    # the first one's archives instead of training again and racing it for the directory.
    with open(cache_root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and (target / "metrics.json").is_file():
            return _load(target, cached=True)
        return _build_locked(target, cache_root, force=force, log=log)


def _build_locked(target: Path, cache_root: Path, *, force: bool, log: Any) -> BuildResult:
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_root))
    try:
        with warnings.catch_warnings():
            # torch 2.9+ marks TorchScript and eager-mode quantization deprecated; both still work, and TorchServe
            # 0.12 loads TorchScript without a model file. The risk is noted in serving/README.md.
            warnings.filterwarnings("ignore", message=r".*(deprecated|torchao).*")
            warnings.simplefilter("ignore", FutureWarning)
            _build_into(staging, log=log)
        if force and target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic: a reader sees no archive or all of them
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _load(target, cached=False)


def _load(directory: Path, *, cached: bool) -> BuildResult:
    raw = json.loads((directory / "metrics.json").read_text())
    metrics = {v: VersionMetrics(**m) for v, m in raw.items()}
    archives = {v: directory / f"{MODEL_NAME}-{v}.mar" for v in VERSIONS}
    return BuildResult(directory=directory, archives=archives, metrics=metrics, cached=cached)


def _build_into(out: Path, *, log: Any) -> None:
    import numpy as np
    import torch

    from visionroll_serving.samples import digits_split

    torch.set_num_threads(1)
    split = digits_split()
    train_x = split.train_images.astype(np.float32) / 255.0
    mean, std = float(train_x.mean()), float(train_x.std())

    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((images.astype(np.float32) / 255.0 - mean) / std).unsqueeze(1)

    test_x = tensor(split.test_images)
    train_t = tensor(split.train_images)
    started = time.perf_counter()
    fp32 = _train(train_t, torch.from_numpy(split.train_labels))
    log(f"trained 1.0 in {time.perf_counter() - started:.1f}s")
    bad_labels = np.array([MISLABEL.get(int(y), int(y)) for y in split.train_labels], dtype=np.int64)
    shifted = _train(train_t, torch.from_numpy(bad_labels))
    int8 = _quantize(fp32, train_t)
    swapped = _swap_classes(fp32, SWAPPED)

    work = out / "work"
    work.mkdir()
    scripted = {
        "1.0": torch.jit.trace(fp32, test_x[:1]),  # type: ignore[no-untyped-call]
        "2.0": torch.jit.trace(int8, test_x[:1]),  # type: ignore[no-untyped-call]
        "3.0": torch.jit.trace(shifted, test_x[:1]),  # type: ignore[no-untyped-call]
        "6.0": torch.jit.trace(swapped, test_x[:1]),  # type: ignore[no-untyped-call]
    }
    scripted["4.0"] = scripted["1.0"]
    scripted["5.0"] = scripted["1.0"]
    reference = scripted["1.0"](test_x).argmax(1)
    metrics: dict[str, dict[str, Any]] = {}
    notes = {
        "1.0": "fp32",
        "2.0": "int8 static quantization (x86 engine)",
        "3.0": f"trained with labels {MISLABEL} swapped",
        "4.0": f"1.0 weights, handler faults {FAULTS_4_0}",
        "5.0": "1.0 weights re-exported under a new version",
        "6.0": f"1.0 with classes {SWAPPED[0]} and {SWAPPED[1]} swapped",
    }
    for version in VERSIONS:
        module = scripted[version]
        weights = work / f"{version}.pt"
        torch.jit.save(module, str(weights))
        with torch.inference_mode():
            predicted = module(test_x).argmax(1)
        metrics[version] = asdict(
            VersionMetrics(
                version=version,
                accuracy=float((predicted.numpy() == split.test_labels).mean()),
                agreement_with_1_0=float((predicted == reference).float().mean()),
                size_bytes=weights.stat().st_size,
                latency_ms_p50=_latency_ms(module, test_x),
                batch64_ms=_latency_ms(module, test_x[:64], repeats=50),
                note=notes[version],
            )
        )
        config = _model_config(mean=mean, std=std, faults=FAULTS_4_0 if version == "4.0" else None)
        _archive(version, weights, config, out, work)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(work)


def _train(inputs: Any, labels: Any) -> Any:
    import torch

    from visionroll_serving.model import DigitsNet

    generator = torch.Generator().manual_seed(TORCH_SEED)
    torch.manual_seed(TORCH_SEED)
    net = DigitsNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            optimiser.zero_grad()
            loss_fn(net(inputs[idx]), labels[idx]).backward()
            optimiser.step()
    return net.eval()


def _swap_classes(fp32: Any, pair: tuple[int, int]) -> Any:
    """A copy of `fp32` whose output rows `pair` are exchanged: it predicts one class where it saw the other."""
    import copy

    import torch

    net = copy.deepcopy(fp32).eval()
    a, b = pair
    order = list(range(net.fc2.out_features))
    order[a], order[b] = b, a
    with torch.no_grad():
        net.fc2.weight.copy_(net.fc2.weight[order])
        net.fc2.bias.copy_(net.fc2.bias[order])
    return net


def _quantize(fp32: Any, calibration: Any) -> Any:
    import copy

    import torch
    from torch.ao import quantization as tq

    torch.backends.quantized.engine = "x86"
    net = copy.deepcopy(fp32).eval()
    net.qconfig = tq.get_default_qconfig("x86")  # type: ignore[no-untyped-call]
    fused = tq.fuse_modules(net, [list(pair) for pair in net.fusable])  # type: ignore[no-untyped-call]
    prepared = tq.prepare(fused)  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        prepared(calibration)
    return tq.convert(prepared)  # type: ignore[no-untyped-call]


def _latency_ms(module: Any, inputs: Any, *, repeats: int = 300) -> float:
    import statistics

    import torch

    samples = []
    with torch.inference_mode():
        for i in range(repeats):
            x = inputs[i % len(inputs) : i % len(inputs) + 1] if len(inputs) > 64 else inputs
            started = time.perf_counter()
            module(x)
            samples.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(samples), 4)


def _model_config(*, mean: float, std: float, faults: dict[str, Any] | None) -> str:
    handler: dict[str, Any] = {"image_size": 8, "mean": mean, "std": std, "top_k": 3, "labels": list(LABELS)}
    if faults:
        handler["faults"] = faults
    # JSON is valid YAML, and keeps the build free of a YAML writer.
    return json.dumps({"responseTimeout": 30, "handler": handler}, indent=2)


def _archive(version: str, weights: Path, config: str, out: Path, work: Path) -> None:
    config_file = work / f"model-config-{version}.yaml"
    config_file.write_text(config)
    export = work / f"export-{version}"
    export.mkdir()
    archiver = Path(sys.executable).with_name("torch-model-archiver")
    command = [
        str(archiver) if archiver.exists() else "torch-model-archiver",
        "--model-name",
        MODEL_NAME,
        "--version",
        version,
        "--serialized-file",
        str(weights),
        "--handler",
        str(_HERE / "handler.py"),
        "--config-file",
        str(config_file),
        "--export-path",
        str(export),
    ]
    subprocess.run(command, check=True, capture_output=True)
    os.replace(export / f"{MODEL_NAME}.mar", out / f"{MODEL_NAME}-{version}.mar")


def format_metrics(result: BuildResult) -> str:
    base = result.metrics["1.0"]
    lines = [
        f"archives in {result.directory} ({'cached' if result.cached else 'built now'})",
        f"{'version':8} {'accuracy':>8} {'agree1.0':>8} {'size':>9} {'ratio':>6} {'p50 1img':>9} {'batch64':>8}  note",
    ]
    for version in VERSIONS:
        m = result.metrics[version]
        lines.append(
            f"{version:8} {m.accuracy:8.2%} {m.agreement_with_1_0:8.2%} {m.size_bytes:8d}B"
            f" {m.size_bytes / base.size_bytes:6.2f} {m.latency_ms_p50:7.3f}ms {m.batch64_ms:6.2f}ms  {m.note}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    args = parser.parse_args(argv)
    result = build(force=args.force)
    print(format_metrics(result))
    accuracy = result.metrics["1.0"].accuracy
    if accuracy < 0.95:
        print(f"1.0 held-out accuracy {accuracy:.2%} is below 95%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
