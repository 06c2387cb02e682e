"""Tests of ``loaders.severity``: the saved model, its fingerprint, and training on first use.

The model is trained once for the module (``load_or_train`` into a temporary directory); every other test
copies or rewrites those files under its own ``tmp_path``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from dispatch.severity.features import Presentation, from_ktas_row
from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from loaders import severity as artifacts
from loaders.severity import KTAS_FILE, META_FILE, MODEL_FILE, fingerprint, load, load_or_train, read_ktas, save

DATA_DIR = default_data_dir()
DATA_FILE = DATA_DIR / KTAS_FILE
FINGERPRINT_KEYS = {"model_version", "data_file", "data_sha256", "python", "scikit_learn", "numpy", "scipy"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedSeverity, Path]:
    """The model as load_or_train leaves it on first use, and its directory."""
    model_dir = tmp_path_factory.mktemp("severity") / "models"
    assert not model_dir.exists()
    return load_or_train(DATA_DIR, model_dir), model_dir


@pytest.fixture(scope="module")
def presentations() -> list[Presentation]:
    return [from_ktas_row(row) for row in read_ktas(DATA_FILE)]


def copy_of(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> Path:
    model_dir = tmp_path / "models"
    shutil.copytree(saved[1], model_dir)
    return model_dir


def same_predictions(a: TrainedSeverity, b: TrainedSeverity, presentations: list[Presentation]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.predict(presentations), b.predict(presentations), strict=True))


def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data_file: Path) -> TrainedSeverity:
        raise AssertionError("the saved model should have been used")

    monkeypatch.setattr(artifacts, "train_from_file", refuse)


def test_first_use_trains_and_writes_model_and_metadata(saved: tuple[TrainedSeverity, Path]) -> None:
    model, model_dir = saved
    assert isinstance(model, TrainedSeverity)
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MODEL_FILE, META_FILE])  # no .partial left
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert set(meta) >= FINGERPRINT_KEYS
    assert {key: meta[key] for key in FINGERPRINT_KEYS} == fingerprint(DATA_FILE)
    assert meta["data_file"] == "ktas_triage_moon2019_dev.csv"
    assert len(meta["data_sha256"]) == 64
    assert meta["training"]["threshold"] == model.threshold
    assert "trained_at" in meta


def test_second_use_loads_without_training(
    saved: tuple[TrainedSeverity, Path], presentations: list[Presentation], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_training(monkeypatch)
    loaded = load_or_train(DATA_DIR, saved[1])
    assert loaded.threshold == saved[0].threshold
    assert same_predictions(loaded, saved[0], presentations)


def test_save_load_round_trip(
    saved: tuple[TrainedSeverity, Path], presentations: list[Presentation], tmp_path: Path
) -> None:
    model = saved[0]
    path = save(model, tmp_path / "a" / "b", DATA_FILE, extra={"note": "round trip"})
    assert path == tmp_path / "a" / "b" / MODEL_FILE and path.is_file()
    assert json.loads((path.parent / META_FILE).read_text(encoding="utf-8"))["note"] == "round trip"
    loaded = load(path.parent, DATA_FILE)
    assert loaded is not None
    assert loaded.threshold == model.threshold and loaded.metadata == model.metadata
    assert same_predictions(loaded, model, presentations)
    severity = loaded.assess_presentation(presentations[0])
    assert severity == model.assess_presentation(presentations[0])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("data_sha256", "0" * 64),
        ("scikit_learn", "0.0.1"),
        ("model_version", 0),
        ("numpy", "1.0.0"),
        ("python", "2.7.18"),
    ],
)
def test_load_refuses_a_fingerprint_mismatch(
    saved: tuple[TrainedSeverity, Path], tmp_path: Path, key: str, value: object
) -> None:
    model_dir = copy_of(saved, tmp_path)
    assert load(model_dir, DATA_FILE) is not None
    meta_path = model_dir / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta[key] = value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert load(model_dir, DATA_FILE) is None


def test_load_refuses_a_missing_fingerprint_key(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> None:
    model_dir = copy_of(saved, tmp_path)
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    del meta["scikit_learn"]
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert load(model_dir, DATA_FILE) is None


def test_load_refuses_other_data(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> None:
    model_dir = copy_of(saved, tmp_path)
    other = tmp_path / DATA_FILE.name  # same name, other bytes
    other.write_bytes(DATA_FILE.read_bytes()[:2000])
    assert load(model_dir, other) is None


def _truncated(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _zeroed_tail(raw: bytes) -> bytes:
    return raw[: len(raw) - 4096] + bytes(4096)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: b"",
        lambda raw: b"not a pickle at all",
        lambda raw: bytes(range(256)) * 8,
        _truncated,
        lambda raw: raw[:1000],
        lambda raw: raw[:-1],
        _zeroed_tail,
    ],
    ids=["empty", "text", "binary", "half", "first-1000-bytes", "last-byte-missing", "zeroed-tail"],
)
def test_load_refuses_a_corrupted_model_file(
    saved: tuple[TrainedSeverity, Path], tmp_path: Path, damage: object
) -> None:
    assert callable(damage)
    model_dir = copy_of(saved, tmp_path)
    raw = (model_dir / MODEL_FILE).read_bytes()
    (model_dir / MODEL_FILE).write_bytes(damage(raw))
    assert load(model_dir, DATA_FILE) is None


def test_load_refuses_corrupted_metadata(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> None:
    model_dir = copy_of(saved, tmp_path)
    (model_dir / META_FILE).write_text("{not json", encoding="utf-8")
    assert load(model_dir, DATA_FILE) is None
    (model_dir / META_FILE).write_bytes(b"\xff\xfe\x00")
    assert load(model_dir, DATA_FILE) is None


def test_load_refuses_something_else_pickled(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> None:
    model_dir = copy_of(saved, tmp_path)
    joblib.dump({"not": "a model"}, model_dir / MODEL_FILE)
    assert load(model_dir, DATA_FILE) is None


def test_load_without_files_is_none(saved: tuple[TrainedSeverity, Path], tmp_path: Path) -> None:
    assert load(tmp_path / "nowhere", DATA_FILE) is None
    model_dir = copy_of(saved, tmp_path)
    (model_dir / META_FILE).unlink()
    assert load(model_dir, DATA_FILE) is None
    model_dir = copy_of(saved, tmp_path / "again")
    (model_dir / MODEL_FILE).unlink()
    assert load(model_dir, DATA_FILE) is None


def test_load_or_train_retrains_a_stale_model(
    saved: tuple[TrainedSeverity, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = copy_of(saved, tmp_path)
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    meta["scikit_learn"] = "0.0.1"
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    (model_dir / MODEL_FILE).write_bytes(b"garbage")
    trained: list[Path] = []

    def fake_train(data_file: Path) -> TrainedSeverity:  # stands in for the two-second training
        trained.append(data_file)
        return saved[0]

    monkeypatch.setattr(artifacts, "train_from_file", fake_train)
    model = load_or_train(DATA_DIR, model_dir)
    assert trained == [DATA_FILE] and model is saved[0]
    assert json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))["scikit_learn"] != "0.0.1"
    assert load(model_dir, DATA_FILE) is not None  # rewritten: usable next time
    load_or_train(DATA_DIR, model_dir)
    assert len(trained) == 1


def test_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as excinfo:
        load_or_train(tmp_path, tmp_path / "models")
    message = str(excinfo.value)
    assert str(tmp_path / KTAS_FILE) in message
    assert "is missing" in message and "goldentime data check" in message
    assert not (tmp_path / "models").exists()
