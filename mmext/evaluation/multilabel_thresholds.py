"""Per-class score thresholds of a multi-label classifier as JSON: written
by ``tools/analysis/ml_thresholds.py``, read by
``MultiLabelMetric(thr='thresholds.json')``.

The file::

    {"classes": ["aeroplane", ...], "thresholds": [0.62, ..., null],
     "criterion": "best-f1", "source": "val_results.pkl"}

``thresholds[i]`` applies to ``classes[i]`` (predict ``score >= thr``);
``null`` means "never predict this class" (a class without positives in
the fitting data, or one that never reaches the target precision).
"""
import json
from typing import List, Sequence, Tuple

import numpy as np

from mmext.visualization.writers import write_json

__all__ = ['save_class_thresholds', 'load_class_thresholds',
           'match_class_thresholds']


def save_class_thresholds(path: str, classes: Sequence[str],
                          thresholds: np.ndarray, **info) -> None:
    """Write the JSON (to a temporary file, then renamed: never partial).

    Args:
        path (str): Output file.
        classes (Sequence[str]): Class names, in the dataset's order.
        thresholds (np.ndarray): One per class; ``inf`` becomes ``null``.
        **info: More fields (``criterion``, ``source``...).
    """
    if len(classes) != len(thresholds):
        raise ValueError(f'{len(thresholds)} thresholds for '
                         f'{len(classes)} classes')
    # write_json turns inf into null and writes atomically
    write_json(path, dict(classes=list(classes),
                          thresholds=np.asarray(thresholds, np.float64),
                          **info), indent=2)


def load_class_thresholds(path: str) -> Tuple[List[str], np.ndarray]:
    """Read the JSON.

    Args:
        path (str): The file.

    Returns:
        tuple[list[str], np.ndarray]: Class names and float64 thresholds
        (``null`` as ``inf``).

    Raises:
        ValueError: Naming the file, when it is not such a JSON.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f'cannot read thresholds file {path}: {err}') \
            from None
    classes = data.get('classes') if isinstance(data, dict) else None
    thrs = data.get('thresholds') if isinstance(data, dict) else None
    if (not isinstance(classes, list) or not isinstance(thrs, list)
            or len(classes) != len(thrs)
            or not all(isinstance(c, str) for c in classes)
            or not all(t is None or (isinstance(t, (int, float))
                                     and not isinstance(t, bool)
                                     and not np.isnan(t)) for t in thrs)):
        raise ValueError(
            f'{path}: expected {{"classes": [names], "thresholds": '
            '[numbers or null]}} of equal length')
    return classes, np.array([np.inf if t is None else t for t in thrs],
                             dtype=np.float64)


def match_class_thresholds(path: str, file_classes: Sequence[str],
                           thresholds: np.ndarray,
                           classes: Sequence[str]) -> np.ndarray:
    """The thresholds in the order of the dataset's classes.

    Args:
        path (str): The thresholds file, named in errors.
        file_classes (Sequence[str]): The file's class names.
        thresholds (np.ndarray): The file's thresholds.
        classes (Sequence[str]): The dataset's class names.

    Returns:
        np.ndarray: float64 thresholds aligned with ``classes``.

    Raises:
        ValueError: Naming the file and the classes that differ, when the
            two sets of names are not the same.
    """
    if list(file_classes) == list(classes):
        return thresholds
    missing = [c for c in classes if c not in file_classes]
    extra = [c for c in file_classes if c not in classes]
    if missing or extra or len(set(file_classes)) != len(classes):
        raise ValueError(
            f'thresholds file {path} does not match the dataset classes: '
            f'missing {missing}, not in the dataset {extra} '
            f'({len(file_classes)} vs {len(classes)} classes)')
    index = {c: i for i, c in enumerate(file_classes)}
    return thresholds[[index[c] for c in classes]]
