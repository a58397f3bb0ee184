"""Multi-label losses: parity with mmpretrain, ignore handling, gradcheck,
use from an mmpretrain head built through the registry."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.models.losses import AsymmetricLoss, FocalLoss
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

from mmext.models.losses.multilabel_loss import (MultiLabelAsymmetricLoss,
                                                 MultiLabelBCELoss,
                                                 MultiLabelFocalLoss)

CASES = [
    (MultiLabelFocalLoss, FocalLoss, dict(gamma=2.0, alpha=0.25)),
    (MultiLabelFocalLoss, FocalLoss, dict(gamma=1.5, alpha=0.6)),
    (MultiLabelAsymmetricLoss, AsymmetricLoss,
     dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05)),
    (MultiLabelAsymmetricLoss, AsymmetricLoss,
     dict(gamma_pos=1.0, gamma_neg=3.0, clip=0.0)),
    # mmpretrain's "no clipping"
    (MultiLabelAsymmetricLoss, AsymmetricLoss,
     dict(gamma_pos=0.0, gamma_neg=4.0, clip=None)),
    (MultiLabelAsymmetricLoss, AsymmetricLoss,
     dict(gamma_pos=1.0, gamma_neg=2.0, clip=-0.1)),
]


def make_inputs(seed: int, num: int = 16, num_classes: int = 7,
                dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(num, num_classes, generator=gen, dtype=dtype) * 3
    target = (torch.rand(num, num_classes, generator=gen) < 0.3).to(dtype)
    weight = torch.rand(num, generator=gen, dtype=dtype)
    return pred, target, weight


@pytest.mark.parametrize('ours_cls, theirs_cls, kwargs', CASES)
@pytest.mark.parametrize('seed', range(3))
def test_parity_with_mmpretrain(ours_cls, theirs_cls, kwargs, seed):
    pred, target, weight = make_inputs(seed)
    ours, theirs = ours_cls(**kwargs), theirs_cls(**kwargs)
    for call in (dict(), dict(avg_factor=16), dict(weight=weight),
                 dict(reduction_override='sum'),
                 dict(reduction_override='none')):
        pa = pred.clone().requires_grad_()
        pb = pred.clone().requires_grad_()
        a, b = ours(pa, target, **call), theirs(pb, target, **call)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
        a.sum().backward()
        b.sum().backward()
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-6, rtol=1e-6)


def test_bce_matches_torch_with_class_and_pos_weight():
    pred, target, _ = make_inputs(0)
    class_weight = torch.linspace(0.5, 2.0, 7)
    pos_weight = torch.linspace(1.0, 3.0, 7)
    loss = MultiLabelBCELoss(
        class_weight=class_weight.tolist(), pos_weight=pos_weight.tolist())
    expect = F.binary_cross_entropy_with_logits(
        pred, target, weight=class_weight, pos_weight=pos_weight)
    torch.testing.assert_close(loss(pred, target), expect)


@pytest.mark.parametrize('loss', [
    MultiLabelBCELoss(class_weight=[1, 2, 3, 1, 1, 1, 1]),
    MultiLabelFocalLoss(),
    MultiLabelAsymmetricLoss(gamma_pos=1.0),
])
def test_ignored_targets(loss):
    pred, target, _ = make_inputs(1)
    ignore = torch.zeros_like(target, dtype=torch.bool)
    ignore[::3, 2] = True
    ignore[5] = True
    masked = torch.where(ignore, torch.full_like(target, -1), target)
    pred.requires_grad_()
    value = loss(pred, masked)
    value.backward()
    assert (pred.grad[ignore] == 0).all()
    # 'mean' divides by the number of non-ignored entries
    elementwise = loss(pred.detach(), target, reduction_override='none')
    expect = elementwise[~ignore].sum() / (~ignore).sum()
    torch.testing.assert_close(value.detach(), expect)


@pytest.mark.parametrize('loss', [
    MultiLabelBCELoss(pos_weight=[2.0] * 4),
    MultiLabelFocalLoss(gamma=2.0),
    MultiLabelAsymmetricLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05),
])
def test_gradcheck(loss):
    pred, target, _ = make_inputs(2, num=4, num_classes=4,
                                  dtype=torch.float64)
    target[0, 0] = 0.3  # soft label
    target[1, 1] = -1
    pred.requires_grad_()
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred, ))


def test_bad_input():
    loss = MultiLabelAsymmetricLoss()
    with pytest.raises(ValueError, match='one shape'):
        loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='reduction'):
        MultiLabelFocalLoss(reduction='avg')
    with pytest.raises(ValueError, match='avg_factor'):
        loss(torch.zeros(2, 3), torch.zeros(2, 3), avg_factor=2,
             reduction_override='sum')


@pytest.mark.parametrize('loss_type', [
    'mmext.MultiLabelBCELoss', 'mmext.MultiLabelFocalLoss',
    'mmext.MultiLabelAsymmetricLoss'
])
def test_in_mmpretrain_head(loss_type):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        head = MMPRETRAIN_MODELS.build(
            dict(type='MultiLabelLinearClsHead', num_classes=5,
                 in_channels=8, loss=dict(type=loss_type)))
    samples = [DataSample().set_gt_label([0, 3]), DataSample().set_gt_label(2)]
    losses = head.loss((torch.randn(2, 8), ), samples)
    assert losses['loss'].ndim == 0 and torch.isfinite(losses['loss'])
    losses['loss'].backward()


def test_asl_without_clip_from_config_as_mmpretrain():
    pred, target, _ = make_inputs(4)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ours = MMPRETRAIN_MODELS.build(
            dict(type='mmext.MultiLabelAsymmetricLoss', clip=None))
        theirs = MMPRETRAIN_MODELS.build(
            dict(type='AsymmetricLoss', clip=None))
    torch.testing.assert_close(ours(pred, target), theirs(pred, target))
    # and no clipping differs from the default margin
    assert not torch.allclose(ours(pred, target),
                              MultiLabelAsymmetricLoss()(pred, target))
