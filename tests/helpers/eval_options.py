"""Reference builders for the tests of the mmdet metric options (recall,
scale ranges, COCO options) and of distributed evaluation."""
import numpy as np


def mmdet_eval_recalls(gts, proposals, proposal_nums, iou_thrs,
                       legacy_coords):
    """mmdet's ``eval_recalls``, line for line, but for its
    ``np.array(all_ious)``: NumPy >= 1.24 refuses to build that array when
    images hold different numbers of GTs or proposals (a ValueError from
    mmdet itself), so it is built as an object array here; the rest is
    mmdet's own ``_recalls`` and ``bbox_overlaps``."""
    from mmdet.evaluation.functional import bbox_overlaps
    from mmdet.evaluation.functional.recall import (_recalls,
                                                    set_recall_param)
    proposal_nums, iou_thrs = set_recall_param(proposal_nums, iou_thrs)
    all_ious = np.empty(len(gts), dtype=object)
    for i, (gt, prop) in enumerate(zip(gts, proposals)):
        if prop.ndim == 2 and prop.shape[1] == 5:
            prop = prop[np.argsort(prop[:, 4])[::-1], :]
        num = min(prop.shape[0], proposal_nums[-1])
        if gt is None or gt.shape[0] == 0:
            all_ious[i] = np.zeros((0, prop.shape[0]), dtype=np.float32)
        else:
            all_ious[i] = bbox_overlaps(
                gt, prop[:num, :4], use_legacy_coordinate=legacy_coords)
    return _recalls(all_ious, proposal_nums, iou_thrs)


def per_image_proposals(scene, with_scores=True, labels=None):
    """mmdet-style per-image float32 GT and proposal lists of a
    :func:`tests.helpers.det_scenes.random_scene` (non-ignored GTs only;
    only the detections with a label in ``labels`` when given)."""
    gts, props = [], []
    for i in range(scene['num_images']):
        gm = (scene['gt_imgs'] == i) & ~scene['gt_ignore']
        gts.append(scene['gt_boxes'][gm].astype(np.float32))
        dm = scene['det_imgs'] == i
        if labels is not None:
            dm &= np.isin(scene['det_labels'], labels)
        cols = [scene['det_boxes'][dm]]
        if with_scores:
            cols.append(scene['det_scores'][dm][:, None])
        props.append(np.hstack(cols).astype(np.float32))
    return gts, props


def scene_samples(scene, img_ids=None):
    """mmdet data-sample dicts of a random scene, as a Runner gives them to
    ``CocoMetric`` / ``VOCMetric`` (``to_dict()`` form): ``img_id``,
    ``ori_shape``, raw ``instances`` (``ignore_flag`` from ignore or crowd),
    ``gt_instances`` / ``ignored_instances`` and float32
    ``pred_instances``."""
    import torch
    samples = []
    for i in range(scene['num_images']):
        gm = scene['gt_imgs'] == i
        boxes = scene['gt_boxes'][gm].astype(np.float32)
        labels = scene['gt_labels'][gm]
        flag = (scene['gt_ignore'] | scene['gt_crowd'])[gm]
        dm = scene['det_imgs'] == i
        samples.append(dict(
            img_id=i if img_ids is None else img_ids[i],
            ori_shape=(800, 800),
            instances=[
                dict(bbox=b.tolist(), bbox_label=int(lab),
                     ignore_flag=int(f))
                for b, lab, f in zip(boxes, labels, flag)
            ],
            gt_instances=dict(bboxes=torch.from_numpy(boxes[~flag]),
                              labels=torch.from_numpy(labels[~flag])),
            ignored_instances=dict(bboxes=torch.from_numpy(boxes[flag]),
                                   labels=torch.from_numpy(labels[flag])),
            pred_instances=dict(
                bboxes=torch.from_numpy(
                    scene['det_boxes'][dm].astype(np.float32)),
                scores=torch.from_numpy(
                    scene['det_scores'][dm].astype(np.float32)),
                labels=torch.from_numpy(scene['det_labels'][dm]))))
    return samples


def scene_arrays(scene):
    """The :class:`DetectionArrays` of a random scene with the float32
    values of :func:`scene_samples` (ignore and crowd both as
    ``gt_ignore``, as mmdet's samples carry them)."""
    from mmext.evaluation.functional.records import DetectionArrays
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    return DetectionArrays(
        det_boxes=f32(scene['det_boxes']),
        det_scores=f32(scene['det_scores']),
        det_labels=scene['det_labels'], det_imgs=scene['det_imgs'],
        gt_boxes=f32(scene['gt_boxes']), gt_labels=scene['gt_labels'],
        gt_imgs=scene['gt_imgs'],
        gt_ignore=scene['gt_ignore'] | scene['gt_crowd'],
        gt_crowd=np.zeros(len(scene['gt_labels']), bool),
        num_classes=scene['num_classes'],
        img_ids=list(range(scene['num_images'])))


def run_mmdet_metric(metric, samples, classes, dataset_type=None):
    """``metric.evaluate`` over ``samples`` with ``classes``."""
    meta = dict(classes=tuple(classes))
    if dataset_type:
        meta['dataset_type'] = dataset_type
    return run_metric(metric, meta, samples)


def pycocotools_stats(samples, num_classes, iou_thrs, max_dets,
                      use_cats=True, area_ranges=None):
    """``COCOeval.stats`` (unrounded) on the json mmdet's ``CocoMetric``
    builds from ``samples`` without ``ann_file`` (annotation ids from 1,
    ``iscrowd`` = ``ignore_flag``, ``area`` = box ``w * h``)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    images, anns, dets = [], [], []
    for s in samples:
        images.append(dict(id=s['img_id'], width=s['ori_shape'][1],
                           height=s['ori_shape'][0], file_name=''))
        for inst in s['instances']:
            x1, y1, x2, y2 = inst['bbox']
            anns.append(dict(id=len(anns) + 1, image_id=s['img_id'],
                             bbox=[x1, y1, x2 - x1, y2 - y1],
                             iscrowd=inst['ignore_flag'],
                             category_id=inst['bbox_label'],
                             area=(x2 - x1) * (y2 - y1)))
        p = s['pred_instances']
        for b, sc, lab in zip(p['bboxes'].numpy().tolist(),
                              p['scores'].numpy(), p['labels'].numpy()):
            dets.append(dict(image_id=s['img_id'],
                             bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]],
                             score=float(sc), category_id=int(lab)))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dict(images=images, annotations=anns, categories=[
            dict(id=k, name=str(k)) for k in range(num_classes)])
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
        ev.params.catIds = list(range(num_classes))
        ev.params.imgIds = [s['img_id'] for s in samples]
        ev.params.maxDets = list(max_dets)
        ev.params.iouThrs = np.asarray(iou_thrs, dtype=np.float64)
        ev.params.useCats = int(use_cats)
        if area_ranges is not None:
            ev.params.areaRng = [list(r) for r in area_ranges]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def tiny_voc_samples():
    """The tiny VOC2007 test set's meta and data samples with predictions,
    carrying what mmdet's ``CocoMetric`` reads besides (raw ``instances``,
    ``ori_shape``)."""
    from tests.helpers.voc_samples import predicted_samples, voc_test_dataset
    dataset = voc_test_dataset()
    samples = predicted_samples(dataset)
    for i, sample in enumerate(samples):
        info = dataset.get_data_info(i)
        sample['instances'] = info['instances']
        sample['ori_shape'] = (info['height'], info['width'])
    return dataset.metainfo, samples


def run_metric(metric, meta, samples, batch=8):
    """``process`` in batches then ``evaluate``, as the Runner does."""
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))
