"""COCO json ingest (``mmext.evaluation.coco_json``) against the scene it
was written from and against pycocotools reading the same files."""
import contextlib
import gc
import io
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmext.evaluation import coco_json, json_slices
from mmext.evaluation.coco_json import load_coco_detections
from mmext.evaluation.functional import coco_eval
from tests.helpers.det_scenes import random_scene


@pytest.fixture(params=['one process', 'forked tail'])
def split(request, monkeypatch):
    """Both ingest paths: one process, or the results' tail parsed by a
    forked child (forced at any size and load)."""
    forked = request.param == 'forked tail'
    monkeypatch.setattr(coco_json, '_FORK_MIN_BYTES', 0 if forked else 1e18)
    monkeypatch.setattr(coco_json, 'spare_cpu', lambda: True)
    return forked


def write_scene(s, tmp_path, img_id=lambda i: i + 1, indent=None,
                extra=None):
    """GT and results json of scene ``s`` (boxes ``xywh``); ``extra`` adds
    fields to every result."""
    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]),
                float(b[3] - b[1])]

    anns = [
        dict(id=j + 1, image_id=img_id(int(i)), category_id=int(c) * 2 + 1,
             bbox=xywh(b), area=float((b[2] - b[0]) * (b[3] - b[1])),
             iscrowd=int(cr), difficult=int(ig))
        for j, (b, c, i, cr, ig) in enumerate(
            zip(s['gt_boxes'], s['gt_labels'], s['gt_imgs'], s['gt_crowd'],
                s['gt_ignore']))
    ]
    # images listed out of order: the loader sorts them by id
    images = [dict(id=img_id(i)) for i in range(s['num_images'])][::-1]
    cats = [dict(id=c * 2 + 1, name=f'c{c}') for c in range(s['num_classes'])]
    res = [
        dict(image_id=img_id(int(i)), category_id=int(c) * 2 + 1,
             bbox=xywh(b), score=float(sc), **(extra or {}))
        for b, c, i, sc in zip(s['det_boxes'], s['det_labels'],
                               s['det_imgs'], s['det_scores'])
    ]
    gt_file, res_file = tmp_path / 'gt.json', tmp_path / 'res.json'
    gt_file.write_text(json.dumps(
        dict(images=images, categories=cats, annotations=anns),
        indent=indent))
    res_file.write_text(json.dumps(res, indent=indent))
    return str(gt_file), str(res_file)


def assert_scene_arrays(arrays, s):
    """The arrays hold scene ``s`` in file order, boxes xywh."""
    to_xywh = np.concatenate([s['det_boxes'][:, :2], s['det_boxes'][:, 2:] -
                              s['det_boxes'][:, :2]], 1)
    np.testing.assert_array_equal(arrays.det_boxes, to_xywh)
    np.testing.assert_array_equal(arrays.det_scores, s['det_scores'])
    np.testing.assert_array_equal(arrays.det_labels, s['det_labels'])
    np.testing.assert_array_equal(arrays.det_imgs, s['det_imgs'])
    np.testing.assert_array_equal(arrays.gt_labels, s['gt_labels'])
    np.testing.assert_array_equal(arrays.gt_imgs, s['gt_imgs'])
    np.testing.assert_array_equal(arrays.gt_crowd, s['gt_crowd'])
    np.testing.assert_array_equal(arrays.gt_ignore, s['gt_ignore'])
    np.testing.assert_array_equal(arrays.gt_ids,
                                  np.arange(len(s['gt_labels'])) + 1)
    assert arrays.box_format == 'xywh'
    assert arrays.num_classes == s['num_classes']


def pycocotools_stats(gt_file, res_file):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_file)
        ev = COCOeval(gt, gt.loadRes(res_file), 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize('seed', range(4))
def test_arrays_and_stats_as_pycocotools(tmp_path, seed, monkeypatch,
                                         split):
    s = random_scene(seed, num_images=9, num_classes=3, max_gts=8,
                     max_dets=40, integer=seed % 2 == 0, crowd_frac=0.2,
                     ignore_frac=0.0)
    gt, res = write_scene(s, tmp_path, indent=1 if seed % 2 else None)
    # small blocks: many slices, cut between entries of either layout
    monkeypatch.setattr(json_slices, 'BLOCK_BYTES', 300 + 50 * seed)
    slices = list(json_slices.result_slices(res))
    assert len(slices) > 5
    # well-formed entries: every slice comes as msgspec records' columns
    assert all(isinstance(part, dict) for _, part in slices)
    assert [start for start, _ in slices] == list(
        np.cumsum([0] + [len(part['scores']) for _, part in slices[:-1]]))
    cut = coco_json._split_point(gt, res)
    assert (cut is not None) == split
    if split:  # the child parses a good part of the entries
        assert 0.05 < cut[1] / (tmp_path / 'res.json').stat().st_size < 0.9
    from_child = []
    tail_columns = coco_json._tail_columns
    monkeypatch.setattr(coco_json, '_tail_columns', lambda *args: (
        from_child.append(args[2] is not None) or tail_columns(*args)))
    arrays, names = load_coco_detections(gt, res)
    assert from_child == ([True] if split else [])
    assert names == [f'c{c}' for c in range(s['num_classes'])]
    assert arrays.img_ids == list(range(1, s['num_images'] + 1))
    assert_scene_arrays(arrays, s)
    ours = coco_eval(arrays.det_boxes, arrays.det_scores, arrays.det_labels,
                     arrays.det_imgs, arrays.gt_boxes, arrays.gt_labels,
                     arrays.gt_imgs, arrays.num_classes,
                     gt_iscrowd=arrays.gt_crowd, gt_areas=arrays.gt_areas,
                     gt_ids=arrays.gt_ids, box_format='xywh')
    np.testing.assert_array_equal(ours['stats'], pycocotools_stats(gt, res))


def test_cut_inside_a_string_falls_back_to_whole_parse(tmp_path,
                                                       monkeypatch, split):
    s = random_scene(1, num_images=5, num_classes=2)
    # every result carries a string that looks like a cut between entries
    gt, res = write_scene(s, tmp_path,
                          extra=dict(note='x}, {"bbox": [1, 2]}, {y'))
    monkeypatch.setattr(json_slices, 'BLOCK_BYTES', 97)
    with pytest.raises(json_slices.NotSliceable):
        list(json_slices.result_slices(res))
    arrays, _ = load_coco_detections(gt, res)
    assert_scene_arrays(arrays, s)


def test_string_ids_and_results_in_a_dict(tmp_path, split):
    s = random_scene(2, num_images=6, num_classes=3)
    gt, res = write_scene(s, tmp_path, img_id=lambda i: f'{i:06d}')
    # string ids: the child gives up, the parent parses the tail
    arrays, _ = load_coco_detections(gt, res)
    assert arrays.img_ids == [f'{i:06d}' for i in range(6)]
    assert_scene_arrays(arrays, s)
    entries = json.loads(open(res).read())
    (tmp_path / 'res.json').write_text(json.dumps(dict(annotations=entries)))
    arrays, _ = load_coco_detections(gt, res)
    assert arrays.img_ids == [f'{i:06d}' for i in range(6)]
    assert_scene_arrays(arrays, s)


def test_area_defaults_to_the_box_and_is_checked(tmp_path, split):
    s = random_scene(3, num_images=4, num_classes=2)
    gt, res = write_scene(s, tmp_path)
    data = json.loads(open(gt).read())
    del data['annotations'][0]['area']
    data['annotations'][1]['area'] = 12.5
    (tmp_path / 'gt.json').write_text(json.dumps(data))
    arrays, _ = load_coco_detections(gt, res)
    w, h = data['annotations'][0]['bbox'][2:]
    assert arrays.gt_areas[0] == w * h
    assert arrays.gt_areas[1] == 12.5
    data['annotations'][1]['area'] = None
    (tmp_path / 'gt.json').write_text(json.dumps(data))
    ann = data['annotations'][1]
    with pytest.raises(ValueError, match=(
            rf"^{gt}: annotation #1 \(id {ann['id']}, image_id "
            rf"{ann['image_id']}\): area None must be a finite number")):
        load_coco_detections(gt, res)


@pytest.mark.parametrize('field, value, message', [
    ('bbox', [1.0, 2.0, 3.0], r'result #{n} \(image_id \d+\): bbox '
     r'\[1.0, 2.0, 3.0\] must be 4 finite numbers'),
    ('score', None, r"result #{n} \(image_id \d+\): score None must be "
     'a finite number'),
    # numpy would parse numeric strings; pycocotools fails on them
    ('score', '0.5', r"result #{n} \(image_id \d+\): score '0.5' holds a "
     'string where a number belongs'),
    ('bbox', [1.0, 2.0, '3.5', 4.0], r"result #{n} \(image_id \d+\): bbox "
     r"\[1.0, 2.0, '3.5', 4.0\] holds a string where a number belongs"),
    # well-formed records, refused after msgspec's decode: told as ever
    ('bbox', [1.0, 2.0, -3.0, 4.0], r'result #{n} \(image_id \d+\): bbox '
     r'\[1.0, 2.0, -3.0, 4.0\] \[x, y, width, height\] has a negative '
     'width or height'),
    ('image_id', 999, 'result #{n} has unknown image_id 999'),
    ('category_id', 4, r'result #{n} \(image \d+\) has unknown category_id '
     r'4 \(known: \[1, 3, 5\]\)'),
])
def test_errors_name_the_entry_in_any_slice(tmp_path, monkeypatch, field,
                                            value, message, split):
    s = random_scene(4, num_images=8, num_classes=3, max_dets=40)
    gt, res = write_scene(s, tmp_path)
    entries = json.loads(open(res).read())
    assert len(entries) > 60
    # with the split, an entry of the child's part (the last slice of it)
    n = len(entries) - 3 if split else 57
    entries[n][field] = value
    (tmp_path / 'res.json').write_text(json.dumps(entries))
    monkeypatch.setattr(json_slices, 'BLOCK_BYTES', 500)
    if split:
        cut = coco_json._split_point(gt, res)[1]
        assert len(json.dumps(entries[:n])) > cut
    with pytest.raises(ValueError, match=f'^{res}: {message.format(n=n)}'):
        load_coco_detections(gt, res)


@pytest.mark.parametrize('field, value', [
    ('image_id', float), ('category_id', float), ('score', bool),
    ('segmentation', dict(size=[2, 2], counts='04')), ('area', 'any')])
def test_lenient_values_as_pycocotools(tmp_path, monkeypatch, field, value,
                                       split):
    # what msgspec's records refuse but pycocotools reads (a float or bool
    # id, a bool score) goes the orjson way; keys not read are skipped
    s = random_scene(8, num_images=8, num_classes=3, max_dets=40)
    gt, res = write_scene(s, tmp_path)
    entries = json.loads(open(res).read())
    n = len(entries) - 3 if split else 57
    entry = entries[n]
    entry[field] = value(entry[field] > 0.5 if value is bool else
                         entry[field]) if callable(value) else value
    if value is bool:
        s['det_scores'][n] = entry['score']
    (tmp_path / 'res.json').write_text(json.dumps(entries))
    monkeypatch.setattr(json_slices, 'BLOCK_BYTES', 500)
    typed = [isinstance(part, dict)
             for _, part in json_slices.result_slices(res)]
    assert all(typed) == (field in ('segmentation', 'area'))
    arrays, _ = load_coco_detections(gt, res)
    assert_scene_arrays(arrays, s)
    if field not in ('segmentation', 'area'):  # loadRes reads those
        ours = coco_eval(arrays.det_boxes, arrays.det_scores,
                         arrays.det_labels, arrays.det_imgs, arrays.gt_boxes,
                         arrays.gt_labels, arrays.gt_imgs, arrays.num_classes,
                         gt_iscrowd=arrays.gt_crowd, gt_areas=arrays.gt_areas,
                         gt_ids=arrays.gt_ids, box_format='xywh')
        np.testing.assert_array_equal(ours['stats'],
                                      pycocotools_stats(gt, res))


def test_bad_files_are_named(tmp_path, split):
    s = random_scene(5, num_images=3, num_classes=2)
    gt, res = write_scene(s, tmp_path)
    (tmp_path / 'bad.json').write_text('[{"image_id": 1,')
    bad = str(tmp_path / 'bad.json')
    for args in ((gt, bad), (bad, res)):
        with pytest.raises(ValueError,
                           match=f'^{bad} is not valid JSON: .*line 1'):
            load_coco_detections(*args)
    (tmp_path / 'bad.json').write_text('{"images": [{"id": 1}, {"id": 1}],'
                                       ' "categories": []}')
    with pytest.raises(ValueError, match=f'^{bad}: duplicate image id 1'):
        load_coco_detections(bad, res)


def test_garbage_collector_state_is_restored(tmp_path, split):
    s = random_scene(6, num_images=3, num_classes=2)
    gt, res = write_scene(s, tmp_path)
    assert gc.isenabled()
    load_coco_detections(gt, res)
    assert gc.isenabled()
    gc.disable()
    try:
        load_coco_detections(gt, res)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_no_child_to_spare_parses_all_in_the_parent(tmp_path, monkeypatch):
    s = random_scene(7, num_images=6, num_classes=3)
    gt, res = write_scene(s, tmp_path)
    monkeypatch.setattr(coco_json, '_FORK_MIN_BYTES', 0)
    monkeypatch.setattr(coco_json, 'spare_cpu', lambda: True)

    def no_fork():
        raise BlockingIOError(11, 'Resource temporarily unavailable')

    monkeypatch.setattr(os, 'fork', no_fork)
    arrays, _ = load_coco_detections(gt, res)
    assert_scene_arrays(arrays, s)


@pytest.mark.parametrize('field, value', [('score', '0.5'),
                                          ('bbox', [1.0, 2.0, '3.5', 4.0])])
def test_pycocotools_fails_on_numeric_strings_too(tmp_path, field, value):
    s = random_scene(2, num_images=3, num_classes=2, max_dets=10)
    gt, res = write_scene(s, tmp_path)
    entries = json.loads(open(res).read())
    entries[1][field] = value
    (tmp_path / 'res.json').write_text(json.dumps(entries))
    with pytest.raises(TypeError):
        pycocotools_stats(gt, res)


def _gt_variant(data: dict, variant: str) -> dict:
    """``data`` (a GT file's content) changed as ``variant`` says."""
    anns = data['annotations']
    if variant == 'areas and ids partly missing, ignore flags':
        for j, ann in enumerate(anns):
            if j % 3 == 0:
                del ann['area']
            ann['ignore'] = int(j % 5 == 0)
        del anns[1]['id']
        del data['categories'][0]['name']
    elif variant == 'bool iscrowd':  # plain path only
        anns[0]['iscrowd'] = bool(anns[0]['iscrowd'])
    elif variant == 'float ids':
        anns[0]['image_id'] = float(anns[0]['image_id'])
        anns[1]['id'] = float(anns[1]['id'])
    elif variant == 'extra fields':
        for ann in anns:
            ann['segmentation'] = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]
        data['info'] = dict(year=2017)
    return data


@pytest.mark.parametrize('variant', [
    'as written', 'areas and ids partly missing, ignore flags',
    'bool iscrowd', 'float ids', 'extra fields'
])
def test_typed_gt_reads_as_the_plain_path(tmp_path, monkeypatch, variant):
    """The msgspec GT records give the arrays of the orjson path, or
    leave odd files to it."""
    from mmext.evaluation import coco_gt_json, coco_gt_records
    s = random_scene(7, num_images=6, num_classes=3, max_gts=6, max_dets=10,
                     crowd_frac=0.3, ignore_frac=0.3)
    gt, res = write_scene(s, tmp_path)
    data = _gt_variant(json.loads(open(gt).read()), variant)
    (tmp_path / 'gt.json').write_text(json.dumps(data))
    typed = coco_gt_records.typed_gt(open(gt, 'rb').read())
    assert (typed is None) == (variant in ('bool iscrowd', 'float ids'))
    fast, fast_names = load_coco_detections(gt, res)
    monkeypatch.setattr(coco_gt_json, 'typed_gt', lambda data: None)
    plain, plain_names = load_coco_detections(gt, res)
    assert fast_names == plain_names
    for field in ('gt_boxes', 'gt_labels', 'gt_imgs', 'gt_ignore',
                  'gt_crowd', 'gt_areas', 'gt_ids', 'img_ids',
                  'num_classes'):
        a, b = getattr(fast, field), getattr(plain, field)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), field
        else:
            assert a == b, field
