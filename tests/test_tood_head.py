"""mmext.TOODHead (one batched assignment) equals mmdet's TOODHead with
mmdet's assigner: targets, losses and gradients, bit for bit, CPU fp32."""
import pytest
import torch
from mmdet.models.dense_heads import TOODHead as MMDetTOODHead
from mmengine.registry import DefaultScope

from mmext.models.dense_heads import TOODHead
from mmext.models.task_modules import TaskAlignedAssigner
from tests.helpers.tood import build_pair, random_batch, training_epoch


@pytest.fixture(autouse=True)
def _mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture(scope='module')
def pair():
    ours, ref = build_pair()
    assert type(ours.bbox_head) is TOODHead
    assert isinstance(ours.bbox_head.alignment_assigner, TaskAlignedAssigner)
    assert type(ref.bbox_head) is MMDetTOODHead
    return ours, ref


def loss_and_grads(model, inputs, samples):
    model.zero_grad()
    losses = model.loss(inputs, samples)
    total = sum(sum(v) if isinstance(v, list) else v
                for v in losses.values())
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return losses, grads


def assert_same_losses_and_grads(ours, ref, inputs, samples):
    ours_losses, ours_grads = loss_and_grads(ours, inputs, samples)
    ref_losses, ref_grads = loss_and_grads(ref, inputs, samples)
    assert ours_losses.keys() == ref_losses.keys()
    for key, ref_value in ref_losses.items():
        for a, b in zip(ours_losses[key], ref_value):
            assert torch.equal(a, b), (key, a, b)
    assert ours_grads.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        assert torch.equal(ours_grads[name], g), name


@pytest.mark.slow
@pytest.mark.parametrize('epoch', [0, 1])  # ATSS warm-up, then aligned
@pytest.mark.parametrize('seed,num_gts', [(0, [3, 0, 7]), (1, [1, 12]),
                                          (2, [0, 0])])
def test_losses_and_grads_equal_mmdet(pair, epoch, seed, num_gts):
    """Same losses (mmdet's QFL and GIoU in both) and gradients."""
    ours, ref = pair
    assert ours.bbox_head.initial_epoch == 1
    inputs, samples = random_batch(seed, num_gts)
    with training_epoch(epoch):
        assert_same_losses_and_grads(ours, ref, inputs, samples)


@pytest.mark.slow
def test_shipped_config_equals_mmdet_head_assigner_and_losses():
    """The tiny config as shipped (mmext head, assigner and losses) against
    mmdet's head, assigner, QualityFocalLoss and GIoULoss."""
    ours, ref = build_pair(mmdet_losses=False)
    assert ours.bbox_head.loss_cls.__module__.startswith('mmext')
    inputs, samples = random_batch(3, [5, 0, 9])
    with training_epoch(1):
        assert_same_losses_and_grads(ours, ref, inputs, samples)


def head_inputs(head, seed, num_gts, shape=(256, 320), num_classes=20):
    """Flattened scores / decoded boxes around the anchors (as a trained
    head gives), anchors and GTs of a random batch."""
    g = torch.Generator().manual_seed(seed)
    strides = head.prior_generator.strides
    sizes = [(-(-shape[0] // s[0]), -(-shape[1] // s[1])) for s in strides]
    metas = [dict(img_shape=shape, pad_shape=shape, batch_input_shape=shape)
             for _ in num_gts]
    anchors, flags = head.get_anchors(sizes, metas, device='cpu')
    flat = torch.cat(anchors[0])
    ctr = (flat[:, :2] + flat[:, 2:]) / 2
    bsz, num = len(num_gts), flat.shape[0]
    scores = torch.rand(bsz, num, num_classes, generator=g)
    wh = torch.rand(bsz, num, 2, generator=g) * 80 + 4
    pred_ctr = ctr + (torch.rand(bsz, num, 2, generator=g) - 0.5) * 16
    preds = torch.cat([pred_ctr - wh / 2, pred_ctr + wh / 2], -1)
    _, samples = random_batch(seed, num_gts, shape, num_classes)
    gts = [s.gt_instances for s in samples]
    return scores, preds, anchors, flags, gts, metas


def get_targets(head, scores, preds, anchors, flags, gts, metas):
    # mmdet's get_targets concatenates the anchor lists in place
    anchors = [list(a) for a in anchors]
    flags = [list(f) for f in flags]
    return head.get_targets(scores, preds, anchors, flags, gts, metas)


@pytest.mark.parametrize('seed,num_gts', [(0, [0, 5, 30]), (1, [1]),
                                          (2, [40, 2, 0, 9]), (3, [0, 0]),
                                          (4, [120, 60])])
def test_targets_equal_mmdet(pair, seed, num_gts):
    ours, ref = pair
    args = head_inputs(ref.bbox_head, seed, num_gts)
    assert args[0].shape[1] >= 64 * 13  # the sparse CPU path runs
    with training_epoch(1):
        ours_t = get_targets(ours.bbox_head, *args)
        ref_t = get_targets(ref.bbox_head, *args)
    names = ('anchors', 'labels', 'label_weights', 'bbox_targets',
             'norm_alignment_metrics')
    for name, a_levels, b_levels in zip(names, ours_t, ref_t):
        assert len(a_levels) == len(b_levels)
        for a, b in zip(a_levels, b_levels):
            assert a.dtype == b.dtype and torch.equal(a, b), name
    assert (ours_t[1][0] < 20).any() or sum(num_gts) == 0


def test_anchors_cut_by_the_border_are_unmapped_as_mmdet(pair):
    """allowed_border >= 0: anchors crossing the image border take no part;
    the batched path assigns the inside ones and unmaps like mmdet."""
    ours, ref = pair
    args = head_inputs(ref.bbox_head, 5, [4, 9])
    for head in (ours.bbox_head, ref.bbox_head):
        head.train_cfg['allowed_border'] = 0
    try:
        with training_epoch(1):
            ours_t = get_targets(ours.bbox_head, *args)
            ref_t = get_targets(ref.bbox_head, *args)
    finally:
        for head in (ours.bbox_head, ref.bbox_head):
            head.train_cfg['allowed_border'] = -1
    assert (ref_t[0][0] == 0).all(-1).any()  # some anchors unmapped
    for a_levels, b_levels in zip(ours_t, ref_t):
        for a, b in zip(a_levels, b_levels):
            assert torch.equal(a, b)
