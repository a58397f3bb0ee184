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
    :func:`tests._det_eval_data.random_scene` (non-ignored GTs only;
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
