"""Which prior centres lie inside which GT boxes."""
import torch
from torch import Tensor


def widen_small_gts(gt_bboxes: Tensor, min_side: float) -> Tensor:
    """Widen GT sides shorter than ``min_side`` about the centre.

    Reproduces ultralytics' xyxy -> xywh -> xyxy round trip (which also
    changes the last bits of the boxes it leaves the size of) because the
    inside test at a GT's border depends on them.
    """
    ctr = torch.stack([(gt_bboxes[..., 0] + gt_bboxes[..., 2]) / 2,
                       (gt_bboxes[..., 1] + gt_bboxes[..., 3]) / 2], -1)
    wh = torch.stack([gt_bboxes[..., 2] - gt_bboxes[..., 0],
                      gt_bboxes[..., 3] - gt_bboxes[..., 1]], -1)
    wh = torch.where(wh < min_side, torch.full_like(wh, min_side), wh)
    half = wh / 2
    return torch.cat([ctr - half, ctr + half], -1)


def centers_inside(centers: Tensor, gt_bboxes: Tensor, eps: float) -> Tensor:
    """Whether each centre is more than ``eps`` inside its GT box.

    The four side distances are computed as mmdet and ultralytics do
    (centre minus side, then ``> eps``), so border cases agree.

    Args:
        centers (Tensor): (..., 2) points, broadcastable against gt_bboxes.
        gt_bboxes (Tensor): (..., 4) xyxy boxes.
        eps (float): margin; sides are compared with a strict ``>``.

    Returns:
        Tensor: bool of the broadcast shape.
    """
    cx, cy = centers[..., 0], centers[..., 1]
    return (((cx - gt_bboxes[..., 0]) > eps) & ((cy - gt_bboxes[..., 1]) > eps)
            & ((gt_bboxes[..., 2] - cx) > eps)
            & ((gt_bboxes[..., 3] - cy) > eps))


def inside_mask(centers: Tensor, gt_bboxes: Tensor, valid: Tensor,
                eps: float) -> Tensor:
    """(B, M, A) bool: centre ``a`` more than ``eps`` inside valid GT
    ``(b, m)``.

    The comparisons of :func:`centers_inside`, element for element, but
    evaluated once per distinct x (and y) coordinate of shared (A, 2)
    centres (a few hundred on a stride grid) and then spread to the anchors
    by index, instead of four subtractions over (B, M, A).

    Args:
        centers (Tensor): (A, 2) centres shared by the batch, or (B, A, 2).
        gt_bboxes (Tensor): (B, M, 4) xyxy boxes.
        valid (Tensor): (B, M) bool, False for padding rows.
        eps (float): margin; sides are compared with a strict ``>``.
    """
    if centers.dim() == 3:
        return centers_inside(centers[:, None], gt_bboxes[:, :, None],
                              eps) & valid[:, :, None]
    # built as (A, B*M): spreading whole rows by index is a copy per anchor
    boxes = gt_bboxes.reshape(-1, 4)
    inside = None
    for d in (0, 1):
        coords, inverse = torch.unique(centers[:, d], return_inverse=True)
        coords = coords[:, None]
        ok = (coords - boxes[:, d]) > eps
        ok &= (boxes[:, d + 2] - coords) > eps
        ok = ok.index_select(0, inverse)
        inside = ok if inside is None else inside.logical_and_(ok)
    inside.logical_and_(valid.reshape(-1))
    return inside.t().contiguous().view(*gt_bboxes.shape[:2], -1)
