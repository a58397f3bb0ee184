"""Class-agnostic proposal recall (mmdet ``eval_recalls`` rules), vectorized.

Rules, per image and number of proposals ``n``:

* the ``n`` highest scored proposals of the image take part (stable order:
  ties keep input order; without scores the input order is the ranking);
* GTs and proposals are paired greedily by IoU: the pair with the highest
  IoU is matched, both leave, and so on (ties: the lower GT index, then the
  lower proposal index first); every GT is matched at most once;
* recall at threshold ``t`` is the number of matched pairs with IoU ``>= t``
  over all GTs of the data set. Labels play no part.

The greedy order only ever looks at higher IoUs, so pairs below the lowest
threshold are dropped up front. The matching itself runs over all images
and all ``n`` at once in rounds: a pair is taken when it is the best
remaining pair of its GT and of its proposal (such a pair is the one the
sequential greedy takes next among those touching it); the best remaining
pair overall always qualifies, so each round settles at least one per group.

Where mmdet differs: its IoU is float32 for float32 boxes (ours is float64,
as everywhere in mmext; results agree except for an IoU within float32
rounding of a threshold), it sorts scores with an unstable sort (equal on
tie-free scores), with ``proposal_nums`` not ascending it keeps only
``proposal_nums[-1]`` proposals for every ``n`` (here each ``n`` keeps its
own top ``n``), and with no GT at all it returns NaN with a warning (here
0.0).
"""
from typing import Optional, Sequence

import numpy as np

from .checks import check_boxes_labels, check_iou_thrs
from .grouping import group_rank, same_group_pairs, stable_argsort_int
from .iou import paired_box_iou


def check_proposal_nums(proposal_nums) -> np.ndarray:
    """``proposal_nums`` as an int64 array of positive numbers.

    Raises:
        ValueError: When empty or holding something other than a positive
            int, naming it.
    """
    nums = [proposal_nums] if isinstance(proposal_nums,
                                         (int, np.integer)) else list(
                                             proposal_nums)
    if not nums or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer))
            or n < 1 for n in nums):
        raise ValueError('proposal_nums must be one or more positive ints, '
                         f'got {proposal_nums!r}')
    return np.asarray(nums, dtype=np.int64)


def greedy_iou_matching(groups: np.ndarray, gts: np.ndarray,
                        props: np.ndarray, ious: np.ndarray) -> np.ndarray:
    """Sequential greedy matching by IoU, per group, done in rounds.

    Args:
        groups (np.ndarray): ``(P,)`` int64 group of each candidate pair;
            pairs of different groups never interact.
        gts (np.ndarray): ``(P,)`` int64 GT index of each pair.
        props (np.ndarray): ``(P,)`` int64 proposal index of each pair.
        ious (np.ndarray): ``(P,)`` IoU of each pair.

    Returns:
        np.ndarray: Indices of the matched pairs (each GT and each proposal
        in at most one per group): those the greedy "highest IoU first,
        then lower GT, then lower proposal" order takes.
    """
    # rank of each pair in the greedy order (unique: a total order)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[np.lexsort((props, gts, -ious, groups))] = np.arange(len(groups))
    # one node id per (group, GT) and per (group, proposal)
    _, gt_node = np.unique(groups * (gts.max(initial=0) + 1) + gts,
                           return_inverse=True)
    _, prop_node = np.unique(groups * (props.max(initial=0) + 1) + props,
                             return_inverse=True)
    big = np.iinfo(np.int64).max
    best_of_gt = np.full(int(gt_node.max(initial=-1)) + 1, big)
    best_of_prop = np.full(int(prop_node.max(initial=-1)) + 1, big)
    alive = np.arange(len(groups))
    taken = []
    while len(alive):
        r, g, p = rank[alive], gt_node[alive], prop_node[alive]
        np.minimum.at(best_of_gt, g, r)
        np.minimum.at(best_of_prop, p, r)
        accept = (best_of_gt[g] == r) & (best_of_prop[p] == r)
        best_of_gt[g], best_of_prop[p] = big, big
        taken.append(alive[accept])
        gt_done = np.zeros(len(best_of_gt), dtype=bool)
        prop_done = np.zeros(len(best_of_prop), dtype=bool)
        gt_done[g[accept]], prop_done[p[accept]] = True, True
        alive = alive[~gt_done[g] & ~prop_done[p]]
    return np.sort(np.concatenate(taken)) if taken else np.zeros(0, np.int64)


def proposal_recall(det_boxes,
                    det_imgs,
                    gt_boxes,
                    gt_imgs,
                    proposal_nums: Sequence[int] = (100, 300, 1000),
                    iou_thrs: Sequence[float] = (0.5, ),
                    det_scores=None,
                    legacy_coords: bool = False,
                    num_images: Optional[int] = None,
                    img_names: Optional[Sequence] = None) -> np.ndarray:
    """Recall of the top proposals of each image, class-agnostic.

    Equals mmdet's ``eval_recalls`` (see the module docstring). mmdet's
    ``VOCMetric(metric='recall')`` passes the non-ignored GTs and
    ``use_legacy_coordinate=True``; ``CocoMetric(metric='proposal_fast')``
    the non-crowd GTs, the unsorted proposals and no legacy coordinates.

    Args:
        det_boxes: ``(N, 4)`` proposals ``x1, y1, x2, y2``.
        det_imgs: ``(N,)`` image index of each proposal.
        gt_boxes: ``(G, 4)`` GT boxes ``x1, y1, x2, y2`` (the ones to
            recall: leave ignored GTs out).
        gt_imgs: ``(G,)`` image index of each GT.
        proposal_nums (Sequence[int]): Numbers of top proposals per image.
            Defaults to ``(100, 300, 1000)``.
        iou_thrs (Sequence[float]): IoU thresholds in ``(0, 1]``.
            Defaults to ``(0.5,)``.
        det_scores: ``(N,)`` scores ranking the proposals of an image.
            Defaults to None: the input order is the ranking.
        legacy_coords (bool): +1 pixel widths. Defaults to False.
        num_images (int, optional): To range-check image indices.
        img_names (Sequence, optional): Image names for messages.

    Returns:
        np.ndarray: ``(len(proposal_nums), len(iou_thrs))`` float64 recalls,
        0.0 when there is no GT.

    Raises:
        ValueError: On malformed boxes, indices, scores or parameters,
            naming the entry or the parameter.
    """
    nums = check_proposal_nums(proposal_nums)
    thrs = check_iou_thrs(iou_thrs)
    n = len(np.asarray(det_imgs).reshape(-1))
    det_boxes, _, det_imgs, *scores = check_boxes_labels(
        'detection', det_boxes, np.zeros(n, np.int64), det_imgs, 1,
        num_images, scores=det_scores, img_names=img_names)
    gt_boxes, _, gt_imgs = check_boxes_labels(
        'ground truth', gt_boxes,
        np.zeros(len(np.asarray(gt_imgs).reshape(-1)), np.int64), gt_imgs,
        1, num_images, img_names=img_names)
    recalls = np.zeros((len(nums), len(thrs)))
    if len(gt_boxes) == 0:
        return recalls
    order = stable_argsort_int(det_imgs)
    if scores:
        order = order[np.argsort(-scores[0][order], kind='stable')]
        order = order[stable_argsort_int(det_imgs[order])]
    rank_in_img = group_rank(det_imgs, order)
    keep = np.flatnonzero(rank_in_img < nums.max())
    d_idx, g_idx = same_group_pairs(det_imgs[keep], gt_imgs)
    d_idx = keep[d_idx]
    iou = paired_box_iou(det_boxes[d_idx], gt_boxes[g_idx], legacy_coords)
    cand = iou >= thrs.min()
    d_idx, g_idx, iou = d_idx[cand], g_idx[cand], iou[cand]
    # one group per (proposal number, image): each n is matched on its own
    groups, gts, props, vals = [], [], [], []
    for k, num in enumerate(nums):
        sub = rank_in_img[d_idx] < num
        groups.append(k * (gt_imgs.max() + 1) + gt_imgs[g_idx[sub]])
        gts.append(g_idx[sub])
        props.append(rank_in_img[d_idx[sub]])
        vals.append(iou[sub])
    groups, vals = np.concatenate(groups), np.concatenate(vals)
    taken = greedy_iou_matching(groups, np.concatenate(gts),
                                np.concatenate(props), vals)
    num_k = groups[taken] // (gt_imgs.max() + 1)
    for t, thr in enumerate(thrs):
        recalls[:, t] = np.bincount(
            num_k[vals[taken] >= thr], minlength=len(nums)) / len(gt_boxes)
    return recalls
