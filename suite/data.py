"""Task data: mirror files verified by sha256 (or the Hub at a pinned revision), read through 🤗 datasets."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.errors import SuiteInputError
from suite.provenance import sha256_file
from suite.specs import DatasetSpec, TaskSpec

MIRROR_HINT = "set data.mirror in the config or the SUITE_DATA_MIRROR environment variable to a directory holding it"


@dataclass(frozen=True)
class TaskData:
    texts: list[str]
    labels: np.ndarray  # int64
    data_sha256: str
    source: str  # "mirror:<path>" or "hub:<id>@<revision>"


def mirror_file(spec: DatasetSpec, split: str, mirror: str | None, task_file: str) -> Path | None:
    """The verified mirror file of a split, or None when there is no mirror or it lacks the file."""
    entry = spec.files.get(split)
    if entry is None or not mirror:
        return None
    path = Path(mirror) / entry.path
    if not path.is_file():
        return None
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise SuiteInputError(
            str(path),
            f"dataset.files.{split}.sha256 in {task_file}",
            f"sha256 mismatch for dataset '{spec.name}': file has {digest}, task expects {entry.sha256}",
            "restore the original file (see the mirror's PROVENANCE.md); never edit the expected digest to match",
        )
    return path


def _load_mirror(spec: DatasetSpec, split: str, path: Path, cache_dir: str):
    import datasets

    datasets.disable_progress_bars()
    if spec.format == "tsv":
        # No quote handling and no NA parsing: SST-2/UCI text contains '"' and words such as "null".
        return datasets.load_dataset(
            "csv",
            data_files={split: str(path)},
            split=split,
            delimiter="\t",
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_filter=False,
            cache_dir=cache_dir,
        )
    return datasets.load_dataset(
        "json", data_files={split: str(path)}, field=spec.json_key, split=split, cache_dir=cache_dir
    )


def _load_hub(spec: DatasetSpec, split: str, cache_dir: str, task_file: str):
    import datasets

    if not spec.hub_id:
        raise SuiteInputError(
            task_file,
            f"dataset.files.{split}",
            f"dataset '{spec.name}' has no mirror file here and no Hub id",
            MIRROR_HINT,
        )
    if not spec.hub_revision:
        raise SuiteInputError(
            task_file,
            "dataset.hub.revision",
            f"dataset '{spec.name}' is not in the data mirror and its Hub revision is not pinned",
            f"{MIRROR_HINT}, or pin dataset.hub.revision to a 40-hex commit",
        )
    try:
        return datasets.load_dataset(
            spec.hub_id, spec.hub_config, revision=spec.hub_revision, split=split, cache_dir=cache_dir
        )
    except Exception as exc:  # network, auth, missing revision: all end the same way for the user
        raise SuiteInputError(
            task_file,
            "dataset.hub",
            f"dataset '{spec.name}' is not in the data mirror and the Hub load of {spec.hub_id}@{spec.hub_revision} "
            f"failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            MIRROR_HINT,
        ) from None


def load_split(task: TaskSpec, split: str, mirror: str | None, cache_dir: str) -> TaskData:
    """Load and check one split: text and label fields present, labels inside the task's label set, not empty."""
    spec = task.dataset
    path = mirror_file(spec, split, mirror, task.path)
    if path is not None:
        table = _load_mirror(spec, split, path, cache_dir)
        data_sha256, source = spec.files[split].sha256, f"mirror:{spec.files[split].path}"
        where = str(path)
    else:
        if spec.files.get(split) and mirror and not spec.hub_revision:
            raise SuiteInputError(
                str(Path(mirror) / spec.files[split].path),
                f"dataset.files.{split}.path in {task.path}",
                f"file of dataset '{spec.name}' is missing from the data mirror",
                MIRROR_HINT,
            )
        table = _load_hub(spec, split, cache_dir, task.path)
        data_sha256 = table._fingerprint  # the Arrow fingerprint of the pinned Hub split
        source, where = f"hub:{spec.hub_id}@{spec.hub_revision}", f"{spec.hub_id}@{spec.hub_revision}"
    for field_name, key in (("text_field", spec.text_field), ("label_field", spec.label_field)):
        if key not in table.column_names:
            raise SuiteInputError(
                task.path,
                f"dataset.{field_name}",
                f"'{key}' is not a column of {where} (columns: {table.column_names})",
            )
    if len(table) == 0:
        raise SuiteInputError(where, f"dataset.files.{split}", f"dataset '{spec.name}' split '{split}' has no rows")
    texts = [str(t).strip() for t in table[spec.text_field]]
    raw_labels = table[spec.label_field]
    labels = np.empty(len(raw_labels), dtype=np.int64)
    for i, value in enumerate(raw_labels):
        try:
            labels[i] = int(value)
        except (TypeError, ValueError):
            labels[i] = -1
        if labels[i] not in spec.labels:
            raise SuiteInputError(
                where,
                f"{spec.label_field} (row {i + 1})",
                f"label {value!r} is outside the label set {sorted(spec.labels)} of {task.path}",
                "fix the data file or dataset.labels",
            )
    return TaskData(texts=texts, labels=labels, data_sha256=data_sha256, source=source)


def check_data(cfg) -> None:
    """Load every split the config uses (verifying sha256, fields and labels), so bad data fails at workflow load."""
    from suite.config import finetune_task

    for task in cfg.tasks:
        load_split(task, task.split, cfg.data_mirror, cfg.data_cache)
    train_task = finetune_task(cfg)
    if train_task is not None and cfg.teacher.finetune is not None:
        load_split(train_task, cfg.teacher.finetune.split, cfg.data_mirror, cfg.data_cache)
