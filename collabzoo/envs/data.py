"""Loading a task's records: a hub dataset, a local file, or the split bundled in the package.

Every env takes the same three keyword arguments and calls :func:`load_records`:

- ``dataset``: ``"bundled"`` (the offline split shipped in ``<family>/data/``), a local
  ``.jsonl``/``.json``/``.parquet`` file or folder, or a hub id for
  :func:`datasets.load_dataset`. Which one is used is always the caller's explicit choice.
- ``split``: the split name.
- ``max_items``: keep only the first ``max_items`` records.

Records are returned as a list of plain dicts: indexing a list is ~100x faster than a
:class:`datasets.Dataset` row lookup, and envs branch and reset thousands of times per step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DatasetUnavailableError", "check_max_items", "load_records"]


class DatasetUnavailableError(RuntimeError):
    """The requested dataset could not be loaded (hub unreachable, missing file or split)."""


def check_max_items(max_items: int | None) -> None:
    """Raise ``ValueError`` unless ``max_items`` is ``None`` or a positive integer."""
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
    ):
        raise ValueError(f"max_items must be a positive integer or None, got {max_items!r}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_records(
    dataset: str,
    split: str,
    *,
    bundled_dir: Path,
    max_items: int | None = None,
    required_columns: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Load the records of one split.

    Args:
        dataset: ``"bundled"``, a local path, or a hub id (see the module docstring).
        split: The split name (for ``"bundled"``: the file ``<bundled_dir>/<split>.jsonl``).
        bundled_dir: The folder of the family's bundled splits.
        max_items: Keep only the first ``max_items`` records (``None``: all).
        required_columns: Columns every record must have; a clear error names the missing ones.

    Raises:
        DatasetUnavailableError: The dataset or split cannot be loaded; the message names
            ``dataset="bundled"`` as the offline option.
        ValueError: Bad ``max_items`` or missing columns.
    """
    check_max_items(max_items)
    if dataset == "bundled":
        path = bundled_dir / f"{split}.jsonl"
        if not path.exists():
            available = sorted(p.stem for p in bundled_dir.glob("*.jsonl"))
            raise DatasetUnavailableError(
                f"the bundled data has no split {split!r}; bundled splits: {available}"
            )
        records = _read_jsonl(path)
    else:
        records = _load_with_datasets(dataset, split)
    if max_items is not None:
        records = records[:max_items]
    if not records:
        raise DatasetUnavailableError(f"dataset {dataset!r} split {split!r} has no records")
    missing = [c for c in required_columns if c not in records[0]]
    if missing:
        raise ValueError(
            f"dataset {dataset!r} split {split!r} lacks the columns {missing}; "
            f"it has {sorted(records[0])}"
        )
    return records


def _load_with_datasets(dataset: str, split: str) -> list[dict[str, Any]]:
    import datasets  # imported here: heavy, and not needed for bundled data

    local = Path(dataset).expanduser()
    try:
        if local.exists():
            if local.is_dir():
                ds = datasets.load_dataset(str(local), split=split)
            else:
                builder = "parquet" if local.suffix == ".parquet" else "json"
                ds = datasets.load_dataset(builder, data_files=str(local), split="train")
        else:
            ds = datasets.load_dataset(dataset, split=split)
    except Exception as error:  # connection, missing repo, missing split: one clear message
        raise DatasetUnavailableError(
            f"could not load dataset {dataset!r} (split {split!r}): "
            f"{type(error).__name__}: {error}. Without network access to the hub, pass "
            f'dataset="bundled" to use the offline split shipped with collabzoo, or a '
            f"local .jsonl/.parquet path."
        ) from error
    return ds.to_list()
