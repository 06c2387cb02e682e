"""The severity model's files: the KTAS data it trains on, and the trained model on disk (joblib plus a
metadata JSON), trained on first use. The decision core (:mod:`dispatch.severity`) reads no file: this
module, at the edge, reads them and hands it rows and models.

Nothing is downloaded: the model is trained from the KTAS data in the data directory
(fixed seeds, about two seconds here) and saved under ``var/models/``. It is trained again
when the data file, the library versions or :data:`MODEL_VERSION` change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn

from dispatch.severity.features import from_ktas_row, ktas_labels, ktas_rows
from dispatch.severity.model import TrainedSeverity
from dispatch.severity.training import train

log = logging.getLogger(__name__)

#: Bump when features or training change, so old saved models are not reused.
MODEL_VERSION = 3  # 2: the complaint vocabulary's codes are inputs; 3: p_critical from a monotone model (issue 24)
KTAS_FILE = Path("ktas_triage") / "ktas_triage_moon2019_dev.csv"
MODEL_FILE = "severity.joblib"
META_FILE = "severity.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(data_file: Path) -> dict[str, Any]:
    """What a saved model must match to be reused."""
    return {
        "model_version": MODEL_VERSION,
        "data_file": data_file.name,
        "data_sha256": _sha256(data_file),
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def read_ktas(path: Path) -> list[dict[str, str]]:
    """Rows of a file in the KTAS data set's format (:func:`dispatch.severity.features.ktas_rows`)."""
    return ktas_rows(path.read_bytes())


def train_from_file(data_file: Path) -> TrainedSeverity:
    rows = read_ktas(data_file)
    return train([from_ktas_row(r) for r in rows], ktas_labels(rows))


def save(model: TrainedSeverity, model_dir: Path, data_file: Path, extra: dict[str, Any] | None = None) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    partial = model_dir / (MODEL_FILE + ".partial")
    joblib.dump(model, partial)
    partial.replace(model_dir / MODEL_FILE)
    metadata = {
        **fingerprint(data_file),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": model.metadata,
        **(extra or {}),
    }
    (model_dir / META_FILE).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return model_dir / MODEL_FILE


def load(model_dir: Path, data_file: Path) -> TrainedSeverity | None:
    """The saved model if it matches the data and libraries of this machine, else None."""
    meta_path, model_path = model_dir / META_FILE, model_dir / MODEL_FILE
    if not (meta_path.exists() and model_path.exists()):
        return None
    try:
        saved = json.loads(meta_path.read_text(encoding="utf-8"))
        wanted = fingerprint(data_file)
        if any(saved.get(key) != value for key, value in wanted.items()):
            log.info("saved severity model is for other data or libraries: training again")
            return None
        model = joblib.load(model_path)
    except Exception as exc:  # a damaged pickle can raise almost anything: retrain rather than crash
        log.warning("ignoring unreadable severity model in %s: %s", model_dir, exc)
        return None
    return model if isinstance(model, TrainedSeverity) else None


def load_or_train(data_dir: Path, model_dir: Path) -> TrainedSeverity:
    """The severity model: loaded when a matching one is saved, else trained now and saved."""
    data_file = data_dir / KTAS_FILE
    if not data_file.is_file():
        raise FileNotFoundError(f"{data_file} is missing: the severity model trains on it (goldentime data check)")
    model = load(model_dir, data_file)
    if model is None:
        log.warning("training the severity model from %s (first use; a few seconds)", data_file)
        model = train_from_file(data_file)
        save(model, model_dir, data_file)
    return model
