"""COCO-style detection results json: written by ``tools/test.py --out
x.json``, read by ``tools/analysis/eval_dets.py``.

A list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``,
the file mmdet's ``CocoMetric(format_only=True)`` writes and pycocotools'
``loadRes`` reads. Unlike a pickle, loading it cannot run code.

Ids follow mmdet: ``image_id`` is the dataset's ``img_id`` (an int for COCO,
the file stem such as ``"000005"`` for VOC); ``category_id`` is the
dataset's ``cat_ids[label]`` for COCO-style datasets and the label index
for the others, as mmdet's ``tools/dataset_converters/pascal_voc.py``
numbers the VOC classes.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from .coco_columns import refuse_strings
from .collect import GroupCollectMetric
from .functional.checks import check_coco_entries


def category_ids(dataset) -> List[int]:
    """The json ``category_id`` of each label of ``dataset``.

    Args:
        dataset: A built (mmdet) dataset.

    Returns:
        list[int]: ``dataset.cat_ids`` when it has them (``CocoDataset``),
        else ``0 .. K-1``.
    """
    cat_ids = getattr(dataset, 'cat_ids', None)
    if cat_ids is not None:
        return [int(c) for c in cat_ids]
    return list(range(len(dataset.metainfo['classes'])))


def category_ids_from_json(ann_file: str,
                           classes: Sequence[str]) -> List[int]:
    """The ``category_id`` of each class, by name, from the
    ``categories`` of a COCO json (e.g. COCO's
    ``image_info_test-dev2017.json``).

    mmdet's ``CocoMetric`` takes the ids of the file's categories whose
    name is a class, in file order; by name is the same wherever the file
    lists them in class order (COCO's files do), and right elsewhere.

    Raises:
        ValueError: Naming the file and a class it has no category for.
    """
    with open(ann_file) as f:
        categories = json.load(f).get('categories') or []
    by_name = {c.get('name'): c.get('id') for c in categories}
    missing = [c for c in classes if c not in by_name]
    if missing:
        raise ValueError(f'{ann_file} has no category named {missing[0]!r} '
                         f'({len(missing)} classes missing; its categories: '
                         f'{sorted(map(str, by_name))[:10]}...)')
    return [by_name[c] for c in classes]


def prediction_arrays(data_sample: dict) -> dict:
    """The predicted boxes, scores and labels of one data sample (no GT
    needed), keyed as :func:`mmext.evaluation.samples.sample_to_arrays`
    keys them: ``img_id``, ``det_boxes``, ``det_scores``, ``det_labels``.

    Raises:
        KeyError: When the sample has no ``pred_instances``, naming it.
    """
    pred = data_sample.get('pred_instances')
    if pred is None:
        raise KeyError(f'data sample of image {data_sample.get("img_id")!r} '
                       "has no 'pred_instances'")
    arrays = {
        key: np.asarray(pred[k].detach().cpu() if hasattr(
            pred[k], 'detach') else pred[k])
        for k, key in (('bboxes', 'det_boxes'), ('scores', 'det_scores'),
                       ('labels', 'det_labels'))
    }
    return dict(img_id=data_sample['img_id'], **arrays)


def write_coco_results(results: Sequence[dict], path: str,
                       cat_ids: Sequence[int]) -> None:
    """Write the COCO results json of per-image predictions, byte for byte
    as mmdet's ``CocoMetric`` writes ``<outfile_prefix>.bbox.json``.

    Args:
        results (Sequence[dict]): Per image ``img_id``, ``det_boxes``,
            ``det_scores``, ``det_labels`` (see :func:`prediction_arrays`).
        path (str): The file to write.
        cat_ids (Sequence[int]): ``category_id`` of each label.
    """
    entries = to_coco_results([
        dict(img_id=r['img_id'], bboxes=r['det_boxes'],
             scores=r['det_scores'], labels=r['det_labels']) for r in results
    ], cat_ids)
    write_json(entries, path)
    print_log(f'{len(entries)} boxes of {len(results)} images written to '
              f'{path}', logger='current')


def _json_id(img_id):
    """numpy integers are not json serialisable; ints and strings are."""
    return int(img_id) if isinstance(img_id, np.integer) else img_id


def to_coco_results(preds: Sequence[dict],
                    cat_ids: Sequence[int]) -> List[dict]:
    """COCO results entries of per-image predictions.

    Args:
        preds (Sequence[dict]): Per image: ``img_id``, ``bboxes`` ``(N, 4)``
            ``x1, y1, x2, y2``, ``scores`` ``(N,)``, ``labels`` ``(N,)``.
        cat_ids (Sequence[int]): ``category_id`` of each label.

    Returns:
        list[dict]: One entry per box, boxes as ``x, y, w, h`` (mmdet's
        ``CocoMetric.xyxy2xywh``: float64 differences of the given corners),
        keys in ``CocoMetric.results2json``'s order, so that the dumped file
        is byte for byte mmdet's.
    """
    out = []
    for pred in preds:
        boxes = np.asarray(pred['bboxes'], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] -= boxes[:, :2]
        img_id = _json_id(pred['img_id'])
        for box, score, label in zip(boxes.tolist(),
                                     np.asarray(pred['scores']).tolist(),
                                     np.asarray(pred['labels']).tolist()):
            out.append(dict(image_id=img_id, bbox=box, score=float(score),
                            category_id=cat_ids[label]))
    return out


def write_json(obj, path: str) -> None:
    """Dump ``obj`` to ``path`` atomically: a temporary file in the same
    folder, renamed once complete, so an interrupted run never leaves a
    truncated file that looks complete."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.part')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def index_coco_entries(kind: str, entries: Sequence[dict],
                       img_ids: Sequence, cat_ids: Sequence,
                       with_score: bool) -> Dict[str, np.ndarray]:
    """Validate COCO json entries and map their ids to positions.

    Args:
        kind (str): ``'annotation'`` or ``'result'``, used in messages.
        entries (Sequence[dict]): The json entries, in file order.
        img_ids (Sequence): Known image ids; ``imgs`` indexes into them.
        cat_ids (Sequence): Known category ids; ``labels`` index into them.
        with_score (bool): Whether each entry needs a ``score``.

    Returns:
        dict: ``boxes`` ``(N, 4)`` ``x, y, w, h`` as given, ``labels`` and
        ``imgs`` ``(N,)`` int64, and ``scores`` ``(N,)`` with ``with_score``.

    Raises:
        ValueError: Naming the first bad entry (position, ``id``,
            ``image_id``): a bbox that is not 4 finite numbers (strings
            such as ``"1.5"`` included) or has a negative size, a missing
            or string score, an unknown image or category.
    """
    refuse_strings(kind, entries, with_score)  # numpy would parse them
    arrays = check_coco_entries(kind, entries, with_score)
    img_pos = {i: k for k, i in enumerate(img_ids)}
    cat_pos = {c: k for k, c in enumerate(cat_ids)}
    imgs = np.empty(len(entries), np.int64)
    labels = np.empty(len(entries), np.int64)
    for n, entry in enumerate(entries):
        img, cat = entry.get('image_id'), entry.get('category_id')
        if img not in img_pos:
            raise ValueError(f'{kind} #{n} has unknown image_id {img!r} '
                             f'(known ids look like {img_ids[0]!r})'
                             if len(img_ids) else
                             f'{kind} #{n}: there are no images')
        if cat not in cat_pos:
            raise ValueError(f'{kind} #{n} (image {img!r}) has unknown '
                             f'category_id {cat!r} (known: '
                             f'{list(cat_ids)})')
        imgs[n], labels[n] = img_pos[img], cat_pos[cat]
    out = dict(boxes=arrays[0], labels=labels, imgs=imgs)
    if with_score:
        out['scores'] = arrays[1]
    return out


class DumpCocoResults(GroupCollectMetric):
    """Write the predictions as a COCO-style results json.

    The json counterpart of mmengine's ``DumpResults``, for
    ``tools/test.py --out results.json``: rank 0 writes the file once all
    ranks' predictions are gathered; it adds no metric.

    Example:
        >>> runner.test_evaluator.metrics.append(
        ...     DumpCocoResults('results.json', category_ids(dataset)))

    Args:
        out_file_path (str): The ``.json`` file to write.
        cat_ids (Sequence[int]): ``category_id`` of each label, see
            :func:`category_ids`.
        collect_device (str): How ranks' predictions are gathered:
            ``'group'`` (through the process group, no shared directory),
            ``'cpu'`` or ``'gpu'`` (see
            :class:`~mmext.evaluation.collect.GroupCollectMetric`).
            Defaults to ``'group'``.
    """

    def __init__(self,
                 out_file_path: str,
                 cat_ids: Sequence[int],
                 collect_device: str = 'group') -> None:
        super().__init__(collect_device=collect_device)
        if not out_file_path.endswith('.json'):
            raise ValueError(f'out_file_path must end with .json, got '
                             f'{out_file_path!r}')
        self.out_file_path = out_file_path
        self.cat_ids = list(cat_ids)

    def process(self, data_batch: Optional[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep each sample's predicted boxes, scores and labels."""
        for sample in data_samples:
            self.results.append(prediction_arrays(sample))

    def compute_metrics(self, results: list) -> dict:
        """Write the json (rank 0); returns no metric."""
        write_coco_results(results, self.out_file_path, self.cat_ids)
        return {}
