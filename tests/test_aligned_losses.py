"""Parity of mmext's task-aligned losses with mmdet's, and gradients."""
import pytest
import torch
from mmdet.models.losses import CIoULoss, GIoULoss, QualityFocalLoss
from mmengine.registry import DefaultScope

from mmext.models.losses import (AlignedIoULoss, AlignedQualityFocalLoss,
                                 ciou_loss, giou_loss, quality_focal_loss,
                                 soft_targets)


def cls_inputs(seed, n=64, c=7, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g, dtype=dtype) * 3
    labels = torch.randint(0, c + 1, (n, ), generator=g)  # c: background
    scores = torch.rand(n, generator=g, dtype=dtype)
    weight = torch.rand(n, generator=g, dtype=dtype)
    return logits, labels, scores, weight


def box_inputs(seed, n=64, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 50
    pred = torch.cat([xy, xy + torch.rand(n, 2, generator=g, dtype=dtype)
                      * 40 + 1], 1)
    target = pred + (torch.rand(n, 4, generator=g, dtype=dtype) - 0.5) * 20
    target[:, 2:] = torch.maximum(target[:, 2:], target[:, :2] + 1)
    weight = torch.rand(n, generator=g, dtype=dtype)
    return pred, target, weight


@pytest.mark.parametrize('seed', range(10))
@pytest.mark.parametrize('activated', [True, False])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_qfl_matches_mmdet(seed, activated, reduction):
    logits, labels, scores, weight = cls_inputs(seed)
    pred = logits.sigmoid() if activated else logits
    kw = dict(use_sigmoid=True, beta=2.0, activated=activated,
              loss_weight=1.5, reduction=reduction)
    avg = None if reduction != 'mean' else 11.0
    ref = QualityFocalLoss(**kw)(pred, (labels, scores), weight,
                                 avg_factor=avg)
    ours = AlignedQualityFocalLoss(**kw)(pred, (labels, scores), weight,
                                         avg_factor=avg)
    assert torch.equal(ref, ours)  # same operations: bit-identical


@pytest.mark.parametrize('seed', range(10))
@pytest.mark.parametrize('mode,ref_cls', [('giou', GIoULoss),
                                          ('ciou', CIoULoss)])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_iou_losses_match_mmdet(seed, mode, ref_cls, reduction):
    pred, target, weight = box_inputs(seed)
    if seed == 0:  # disjoint and identical boxes
        target[:8] = pred[:8] + 200
        target[8:16] = pred[8:16] if mode == 'giou' else pred[8:16] + 0.5
    avg = None if reduction != 'mean' else 7.0
    ref = ref_cls(loss_weight=2.0, reduction=reduction)(
        pred, target, weight, avg_factor=avg)
    ours = AlignedIoULoss(mode=mode, loss_weight=2.0, reduction=reduction)(
        pred, target, weight, avg_factor=avg)
    assert torch.equal(ref, ours)


def test_ciou_identical_boxes_is_zero_not_nan():
    pred, _, _ = box_inputs(1, n=4)
    assert torch.equal(ciou_loss(pred, pred.clone()), torch.zeros(4))


def test_iou_loss_all_zero_weight_keeps_graph():
    pred, target, _ = box_inputs(0, n=5)
    pred.requires_grad_(True)
    loss = AlignedIoULoss()(pred, target, torch.zeros(5))
    assert loss.item() == 0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_dense_targets_equal_tuple_targets():
    logits, labels, scores, weight = cls_inputs(3)
    dense = soft_targets(labels, scores, logits.shape[1])
    probs = AlignedQualityFocalLoss(activated=True)
    assert torch.equal(probs(logits.sigmoid(), (labels, scores), weight),
                       probs(logits.sigmoid(), dense, weight))
    # logits: the positives' BCE runs on a gathered vector (as mmdet), whose
    # exp/log may take other SIMD lanes than in the dense block
    loss = AlignedQualityFocalLoss()
    torch.testing.assert_close(loss(logits, (labels, scores), weight),
                               loss(logits, dense, weight))
    with pytest.raises(ValueError, match='target'):
        loss(logits, dense[:, :3])


@pytest.mark.parametrize('activated', [True, False])
def test_qfl_gradients_match_mmdet_on_a_head_sized_batch(activated):
    """(N, C) above torch's grain size, so the kernels run vectorised and
    in parallel as in a training step: values and gradients bit-identical."""
    logits, labels, scores, weight = cls_inputs(5, n=6824, c=20)
    grads = []
    for cls in (QualityFocalLoss, AlignedQualityFocalLoss):
        pred = (logits.sigmoid() if activated else logits).requires_grad_()
        loss = cls(activated=activated)(pred, (labels, scores), weight,
                                        avg_factor=100.0)
        loss.backward()
        grads.append((loss.detach(), pred.grad))
    assert torch.equal(grads[0][0], grads[1][0])
    assert torch.equal(grads[0][1], grads[1][1])


def test_gradcheck_qfl():
    logits, labels, scores, _ = cls_inputs(1, n=6, c=3, dtype=torch.double)
    target = soft_targets(labels, scores, 3)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: quality_focal_loss(x, target, 2.0), (logits, ))
    probs = logits.detach().sigmoid().clamp(0.05, 0.95).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: quality_focal_loss(x, target, 2.0, activated=True),
        (probs, ))


@pytest.mark.parametrize('fn', [giou_loss, ciou_loss])
def test_gradcheck_iou_losses(fn):
    pred, target, _ = box_inputs(2, n=6, dtype=torch.double)
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: fn(p, target), (pred, ))


def test_gradients_match_mmdet():
    pred, target, weight = box_inputs(4)
    for mode, ref_cls in (('giou', GIoULoss), ('ciou', CIoULoss)):
        p1 = pred.clone().requires_grad_(True)
        p2 = pred.clone().requires_grad_(True)
        ref_cls()(p1, target, weight).backward()
        AlignedIoULoss(mode=mode)(p2, target, weight).backward()
        torch.testing.assert_close(p1.grad, p2.grad)


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        AlignedIoULoss(mode='diou')
    with pytest.raises(ValueError, match='use_sigmoid'):
        AlignedQualityFocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match='reduction'):
        AlignedIoULoss(reduction='avg')


def test_build_from_mmdet_config():
    from mmdet.registry import MODELS
    # scoped: the previous default scope is back after the block
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert isinstance(
            MODELS.build(dict(type='mmext.AlignedQualityFocalLoss',
                              activated=True)), AlignedQualityFocalLoss)
        assert isinstance(
            MODELS.build(dict(type='mmext.AlignedIoULoss', mode='ciou')),
            AlignedIoULoss)
