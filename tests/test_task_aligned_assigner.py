"""Parity of mmext's TaskAligned assigner with mmdet's and ultralytics'."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdet.models.task_modules.assigners import \
    TaskAlignedAssigner as MMDetTaskAlignedAssigner
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmext.models.task_modules import TaskAlignedAssigner, task_aligned_assign
from mmext.registry import TASK_UTILS

NUM_CLASSES = 5
STRIDES = (8, 16, 32)
IMG = 128


def grid_priors(img: int = IMG) -> torch.Tensor:
    """Anchor boxes (8*stride wide, like TOOD) centred on a stride grid."""
    boxes = []
    for s in STRIDES:
        c = torch.arange(0, img, s, dtype=torch.float32) + s / 2
        cy, cx = torch.meshgrid(c, c, indexing='ij')
        ctr = torch.stack([cx.flatten(), cy.flatten()], -1)
        boxes.append(torch.cat([ctr - 4 * s, ctr + 4 * s], -1))
    return torch.cat(boxes)


PRIORS = grid_priors()
CENTERS = (PRIORS[:, :2] + PRIORS[:, 2:]) / 2
A = PRIORS.shape[0]


def make_batch(seed: int,
               bsz: int,
               max_gts: int,
               kind: str = 'random',
               img: int = IMG):
    """Padded batch: scores (B,A,C), pred boxes, GT boxes/labels/valid."""
    g = torch.Generator().manual_seed(seed)
    priors = grid_priors(img)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    num_anchors = centers.shape[0]
    quant = kind == 'ties'
    scores = torch.rand(bsz, num_anchors, NUM_CLASSES, generator=g)
    if quant:  # few distinct scores and integer boxes: many tied metrics
        scores = (scores * 4).floor() / 4 + 0.25
    wh = torch.rand(bsz, num_anchors, 2, generator=g) * 48 + 4
    ctr = centers + (torch.rand(bsz, num_anchors, 2, generator=g) - 0.5) * 16
    pred = torch.cat([ctr - wh / 2, ctr + wh / 2], -1)
    if quant:
        pred = pred.round()
    num = torch.randint(0, max_gts + 1, (bsz, ), generator=g)
    gxy = torch.rand(bsz, max_gts, 2, generator=g) * img
    gwh = torch.rand(bsz, max_gts, 2, generator=g) * 60 + 2
    gt = torch.cat([gxy - gwh / 2, gxy + gwh / 2], -1)
    if quant:
        gt = gt.round()
    if kind == 'borders':  # GT sides exactly at / 0.01 off prior centres
        pick = centers[torch.randint(0, num_anchors, (bsz, max_gts, 2), generator=g)]
        off = torch.tensor([0.0, 0.01, -0.01, 0.02])[torch.randint(
            0, 4, (bsz, max_gts, 2), generator=g)]
        gt = torch.cat([pick[:, :, 0] + off, pick[:, :, 1] + 40 + off], -1)
    if kind == 'shared':  # duplicated GTs, other label: they share anchors
        gt[:, 1::2] = gt[:, 0::2][:, :gt[:, 1::2].shape[1]]
    labels = torch.randint(0, NUM_CLASSES, (bsz, max_gts), generator=g)
    valid = torch.arange(max_gts)[None] < num[:, None]
    return scores, pred, gt, labels, valid


@pytest.fixture(autouse=True)
def _mmdet_scope():
    """mmdet's assigner builds its IoU calculator in the default scope, as
    in an mmdet config; another test's Runner may have left a different one."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def mmdet_assign(scores, pred, gt, labels, priors=PRIORS, **kw):
    pi = InstanceData(priors=priors, bboxes=pred, scores=scores)
    gi = InstanceData(bboxes=gt, labels=labels)
    return MMDetTaskAlignedAssigner(topk=13).assign(pi, gi, **kw)


def assert_same_result(ref, ours):
    for key in ('gt_inds', 'labels', 'max_overlaps', 'assign_metrics'):
        a, b = getattr(ref, key), getattr(ours, key)
        assert a.dtype == b.dtype and a.shape == b.shape, key
        assert torch.equal(a, b), (key, (a != b).nonzero()[:5])
    assert ref.num_gts == ours.num_gts


KINDS = ['random', 'ties', 'borders', 'shared']


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('seed', range(12))
def test_assign_matches_mmdet(kind, seed):
    scores, pred, gt, labels, valid = make_batch(seed, 1, 1 + seed % 9, kind)
    m = int(valid[0].sum())
    args = (scores[0], pred[0], gt[0, :m], labels[0, :m])
    ours = TaskAlignedAssigner(topk=13)
    pi = InstanceData(priors=PRIORS, bboxes=pred[0], scores=scores[0])
    gi = InstanceData(bboxes=gt[0, :m], labels=labels[0, :m])
    assert_same_result(mmdet_assign(*args), ours.assign(pi, gi))
    # other exponents, passed at call time as TOODHead does
    assert_same_result(
        mmdet_assign(*args, alpha=2, beta=3),
        ours.assign(pi, gi, alpha=2, beta=3))


def test_assign_no_gt_and_one_gt():
    scores, pred, gt, labels, _ = make_batch(0, 1, 1)
    ours = TaskAlignedAssigner(topk=13)
    pi = InstanceData(priors=PRIORS, bboxes=pred[0], scores=scores[0])
    for m in (0, 1):
        gi = InstanceData(bboxes=gt[0, :m], labels=labels[0, :m])
        assert_same_result(
            mmdet_assign(scores[0], pred[0], gt[0, :m], labels[0, :m]),
            ours.assign(pi, gi))


@pytest.mark.parametrize('label_shape', [(0, ), (0, 1), (0, 3)])
def test_assign_empty_gt_labels_of_any_shape(label_shape):
    # (0, k) labels (e.g. a one-hot layout with no rows): mmdet assigns
    # everything to background
    scores, pred, _, _, _ = make_batch(2, 1, 1)
    gt = torch.zeros(0, 4)
    labels = torch.zeros(label_shape, dtype=torch.long)
    pi = InstanceData(priors=PRIORS, bboxes=pred[0], scores=scores[0])
    res = TaskAlignedAssigner(topk=13).assign(
        pi, InstanceData(bboxes=gt, labels=labels))
    ref = mmdet_assign(scores[0], pred[0], gt, labels)
    assert_same_result(ref, res)
    assert (res.gt_inds == 0).all() and (res.labels == -1).all()


def test_assign_degenerate_gts_get_nothing():
    scores, pred, _, _, _ = make_batch(1, 1, 1)
    gt = torch.tensor([[10., 10., 10., 40.], [50., 50., 20., 20.],
                       [30., 30., 60., 60.]])
    labels = torch.tensor([0, 1, 2])
    pi = InstanceData(priors=PRIORS, bboxes=pred[0], scores=scores[0])
    res = TaskAlignedAssigner(topk=13).assign(
        pi, InstanceData(bboxes=gt, labels=labels))
    assert_same_result(mmdet_assign(scores[0], pred[0], gt, labels), res)
    assert set(res.gt_inds.unique().tolist()) <= {0, 3}


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('kind', KINDS)
def test_batched_mmdet_mode_matches_per_image(seed, kind):
    scores, pred, gt, labels, valid = make_batch(seed, 5, 12, kind)
    valid[0] = False  # an all-padding image
    gt[~valid] = torch.nan  # padding content must not matter
    res = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                              max_chunk_elements=3 * A * 12)
    assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid)


def assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid,
                               priors=PRIORS, **assign_kw):
    """Each image of a batched result equals mmdet on its valid GTs
    (``assign_kw``: mmdet's ``alpha`` / ``beta``)."""
    for i in range(len(valid)):
        m = valid[i]
        ref = mmdet_assign(scores[i], pred[i], gt[i][m], labels[i][m],
                           priors, **assign_kw)
        ours = TaskAlignedAssigner.to_assign_result(res, int(m.sum()), i,
                                                    torch.float32)
        # batched indices count over the padded rows: map to compacted
        compact = torch.cumsum(torch.cat([m.long(), m.new_zeros(1)]), 0)
        ours.gt_inds = torch.where(ours.gt_inds > 0,
                                   compact[(ours.gt_inds - 1).clamp(min=0)],
                                   ours.gt_inds)
        assert_same_result(ref, ours)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('kind', KINDS)
def test_sparse_path_matches_mmdet(seed, kind):
    """With A >= 64 * topk the batched mmdet mode works on overlapping
    blocks only (sparse pow and top-k): still mmdet's bits, ties included."""
    img = 256
    priors = grid_priors(img)
    assert priors.shape[0] >= 64 * 13
    scores, pred, gt, labels, valid = make_batch(seed, 4, 24, kind, img)
    valid[0] = False
    valid[1, :3] = False  # padding rows between valid ones
    gt[~valid] = torch.nan
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    res = task_aligned_assign(scores, pred, centers, gt, labels, valid)
    assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid, priors)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    img=st.sampled_from([256, 320]),
    bsz=st.integers(1, 3),
    max_gts=st.integers(0, 30),
    kind=st.sampled_from(KINDS),
    box_scale=st.sampled_from([0.25, 1.0, 4.0]),
    degenerate=st.booleans())
def test_sparse_path_randomized(seed, img, bsz, max_gts, kind, box_scale,
                                degenerate):
    """Random shapes, box scales (tiny to image-sized predictions) and
    degenerate GTs: the sparse path still equals mmdet per image."""
    scores, pred, gt, labels, valid = make_batch(seed, bsz, max_gts, kind,
                                                 img)
    ctr = (pred[..., :2] + pred[..., 2:]) / 2
    half = (pred[..., 2:] - pred[..., :2]) / 2 * box_scale
    pred = torch.cat([ctr - half, ctr + half], -1)
    if degenerate and max_gts:
        gt[:, 0, 2] = gt[:, 0, 0]  # zero width
    priors = grid_priors(img)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    res = task_aligned_assign(scores, pred, centers, gt, labels, valid)
    assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid, priors)
    # strided (non-contiguous) inputs give the same bits
    strided = task_aligned_assign(
        scores.transpose(1, 2).contiguous().transpose(1, 2),
        pred.transpose(1, 2).contiguous().transpose(1, 2), centers, gt,
        labels, valid)
    assert all(torch.equal(x, y) for x, y in zip(res, strided))


@pytest.mark.parametrize('mode', ['mmdet', 'ultralytics'])
def test_batch_without_any_gt_is_background(mode):
    scores, pred, _, _, _ = make_batch(0, 3, 1)
    res = task_aligned_assign(scores, pred, CENTERS, pred.new_zeros(3, 0, 4),
                              torch.zeros(3, 0, dtype=torch.long), mode=mode)
    assert not res.fg_mask.any() and (res.gt_inds == -1).all()
    assert (res.labels == -1).all() and not res.norm_metrics.any()


@pytest.mark.parametrize('mode', ['mmdet', 'ultralytics'])
def test_no_anchors_gives_empty_result(mode):
    res = task_aligned_assign(torch.rand(2, 0, 5), torch.rand(2, 0, 4),
                              torch.rand(0, 2), torch.rand(2, 3, 4) * 10,
                              torch.zeros(2, 3, dtype=torch.long), mode=mode)
    assert all(t.shape == (2, 0) for t in res)


def test_sparse_path_breaks_ties_as_mmdet():
    """Tied metrics at the k-th place after zeros in the first anchors:
    which tied anchors mmdet's top-k keeps depends on the first k anchors'
    zeros (the start of its heap); the sparse path must keep the same."""
    img = 256
    priors = grid_priors(img)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    # starts at x = 2: the first anchor inside starts a row of the grid
    gt = torch.tensor([[2., 100., 82., 180.]])
    inside = ((centers > gt[:, :2]) & (centers < gt[:, 2:])).all(1)
    inside = inside.nonzero()[:, 0]
    pred = torch.tensor([0., 0., 1., 1.]).repeat(priors.shape[0], 1)
    # tied IoU for the stride-8 anchors inside, then 5 exact matches from
    # the coarser levels that push tied ones out of the heap
    pred[inside] = gt + 2
    pred[inside[-5:]] = gt
    scores = torch.full((priors.shape[0], NUM_CLASSES), 0.5)
    labels = torch.tensor([1])
    res = task_aligned_assign(scores[None], pred[None], centers, gt[None],
                              labels[None])
    ref = mmdet_assign(scores, pred, gt, labels, priors)
    ours = TaskAlignedAssigner.to_assign_result(res, 1, 0, torch.float32)
    assert_same_result(ref, ours)
    assert (ref.gt_inds > 0).sum() == 13


def test_gt_chunking_matches_unchunked():
    scores, pred, gt, labels, valid = make_batch(3, 4, 40, 'random')
    full = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid)
    for mode in ('mmdet', 'ultralytics'):
        full = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                                   mode=mode)
        small = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                                    mode=mode, max_chunk_elements=7 * A)
        assert torch.equal(full.gt_inds, small.gt_inds)
        assert torch.equal(full.fg_mask, small.fg_mask)
        # chunked pow may round the last bit differently (layout)
        torch.testing.assert_close(full.metrics, small.metrics)


@pytest.mark.parametrize('seed', range(16))
@pytest.mark.parametrize('kind', ['random', 'ties', 'shared'])
def test_ultralytics_mode_matches_ultralytics(seed, kind):
    tal = pytest.importorskip('ultralytics.utils.tal')
    scores, pred, gt, labels, valid = make_batch(seed, 4, 10, kind)
    gt = torch.where(valid[..., None], gt, 0)  # ultralytics pads with zeros
    ref = tal.TaskAlignedAssigner(topk=13, num_classes=NUM_CLASSES,
                                  alpha=1.0, beta=6.0)
    t_labels, t_boxes, t_scores, fg, t_idx = ref(
        scores, pred, CENTERS, labels[..., None].float(), gt,
        valid[..., None].float())
    ours = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                               alpha=1.0, beta=6.0, mode='ultralytics',
                               min_gt_side=16.0,
                               max_chunk_elements=2 * 4 * A)
    assert torch.equal(fg, ours.fg_mask)
    assert torch.equal(t_idx[fg], ours.gt_inds[fg])
    assert torch.equal(t_labels[fg], ours.labels[fg])
    one_hot = torch.nn.functional.one_hot(ours.labels.clamp(min=0),
                                          NUM_CLASSES)
    ours_scores = one_hot * ours.norm_metrics[..., None]
    assert torch.equal(t_scores, ours_scores)


def test_registry_and_config_build():
    from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
    for cfg in (dict(type='mmext.TaskAlignedAssigner', topk=13),
                dict(type='mmext.TaskAlignedAssigner', topk=9,
                     iou_calculator=dict(type='mmdet.BboxOverlaps2D'))):
        assert isinstance(MMDET_TASK_UTILS.build(cfg), TaskAlignedAssigner)
    assert TASK_UTILS.get('TaskAlignedAssigner') is TaskAlignedAssigner


def test_custom_iou_calculator_path():
    # fp16 calculator goes through the generic aligned path; same result as
    # mmdet with the same calculator
    scores, pred, gt, labels, valid = make_batch(5, 1, 6)
    m = int(valid[0].sum())
    calc = dict(type='BboxOverlaps2D', scale=1., dtype='fp16')
    pi = InstanceData(priors=PRIORS, bboxes=pred[0], scores=scores[0])
    gi = InstanceData(bboxes=gt[0, :m], labels=labels[0, :m])
    ref = MMDetTaskAlignedAssigner(topk=13, iou_calculator=calc).assign(pi, gi)
    ours = TaskAlignedAssigner(topk=13, iou_calculator=calc).assign(pi, gi)
    assert torch.equal(ref.gt_inds, ours.gt_inds)


@pytest.mark.parametrize('field,mutate,match', [
    ('scores', lambda d: d['scores'].__setitem__((0, 3, 1), torch.nan),
     'pred_scores'),
    ('pred', lambda d: d['pred'].__setitem__((0, 3, 1), torch.inf),
     'pred_bboxes'),
    ('labels', lambda d: d['labels'].__setitem__((0, 0), NUM_CLASSES),
     'gt_labels'),
    ('labels', lambda d: d['labels'].__setitem__((0, 0), -1), 'gt_labels'),
    ('gt', lambda d: d['gt'].__setitem__((0, 0, 2), torch.nan), 'gt_bboxes'),
])
def test_bad_input_names_the_field(field, mutate, match):
    scores, pred, gt, labels, _ = make_batch(0, 1, 3)
    valid = torch.ones(1, 3, dtype=torch.bool)
    d = dict(scores=scores, pred=pred, gt=gt, labels=labels)
    mutate(d)
    for mode in ('mmdet', 'ultralytics'):
        with pytest.raises(ValueError, match=match):
            task_aligned_assign(d['scores'], d['pred'], CENTERS, d['gt'],
                                d['labels'], valid, mode=mode)


def test_bad_labels_ignored_on_padding_rows():
    scores, pred, gt, labels, _ = make_batch(0, 1, 3)
    labels[0, 2] = 99
    valid = torch.tensor([[True, True, False]])
    res = task_aligned_assign(scores, pred, CENTERS, gt, labels, valid)
    assert not (res.gt_inds == 2).any()


@pytest.mark.parametrize('threads', [1, 2])
@pytest.mark.parametrize('numel', [5, 1000, 40000, 100003])
def test_sparse_pow_reproduces_dense_kernel(threads, numel):
    """pow on a subset of a block equals the dense kernel's bits there (its
    vector and scalar paths differ in the last bit for some values)."""
    from mmext.models.task_modules.functional.sparse_cpu import cpu_kernels
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(numel)
        block = torch.rand(numel, generator=g)
        span = cpu_kernels.pow_vector_span(block.dtype, 6)
        if span is None:
            pytest.skip('no model of this CPU pow kernel: dense fallback')
        pos = torch.randperm(numel, generator=g)[:max(1, numel // 3)]
        pos = torch.cat([pos, torch.arange(max(0, numel - 40), numel)])
        scalar = torch.isin(pos, cpu_kernels.scalar_positions(numel, span))
        ours = cpu_kernels.pow_vector_except(block[pos], 6, span,
                                             scalar.nonzero()[:, 0])
        assert torch.equal(ours, block.pow(6)[pos])
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(params=['serial', 'caller'])
def call_threads(request, monkeypatch):
    """Force the thread choice of task_aligned_assign: one thread
    ('serial') or the caller's count ('caller') whatever the size."""
    from mmext.models.task_modules.functional import task_aligned
    monkeypatch.setattr(task_aligned, '_SERIAL_PAIRS',
                        1 << 62 if request.param == 'serial' else 0)
    monkeypatch.setattr(task_aligned, '_cpus_oversubscribed',
                        lambda: request.param == 'serial')
    return request.param


def test_thread_choice_small_or_oversubscribed(tmp_path, monkeypatch):
    """One thread for small calls and while more threads are runnable
    than CPUs (/proc/loadavg's 4th field); the caller's count otherwise."""
    import os

    from mmext.models.task_modules.functional import task_aligned
    cpus = os.cpu_count()
    busy, idle = tmp_path / 'busy', tmp_path / 'idle'
    busy.write_text(f'3.0 2.0 1.0 {cpus + 1}/300 4242\n')
    idle.write_text(f'0.5 0.5 0.5 {cpus}/300 4242\n')
    assert task_aligned._cpus_oversubscribed(str(busy))
    assert not task_aligned._cpus_oversubscribed(str(idle))
    assert not task_aligned._cpus_oversubscribed(str(tmp_path / 'none'))
    cpu, big = torch.device('cpu'), task_aligned._SERIAL_PAIRS
    assert task_aligned._call_threads(cpu, big - 1, 2) == 1
    monkeypatch.setattr(task_aligned, '_cpus_oversubscribed', lambda: True)
    assert task_aligned._call_threads(cpu, big, 2) == 1
    assert task_aligned._call_threads(torch.device('meta'), big, 2) == 2
    monkeypatch.setattr(task_aligned, '_cpus_oversubscribed', lambda: False)
    assert task_aligned._call_threads(cpu, big, 2) == 2


@pytest.fixture(params=[1, 2])
def caller_threads(request):
    """Run the test body (ours and the reference) with 1 or 2 threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(saved)


def big_blocks_batch(seed: int, kind: str, img: int = 320, max_gts: int = 30,
                     scale: float = 1.0):
    """A batch whose per-image (A, M) blocks and inside-pair lists exceed
    torch's grain size (32768), so two threads split pow and atan ranges
    elsewhere than one thread does."""
    scores, pred, gt, labels, valid = make_batch(seed, 3, max_gts, kind, img)
    valid[:, :26] = True  # at least 26 GTs x 2100 anchors per image
    ctr, half = (gt[..., :2] + gt[..., 2:]) / 2, (gt[..., 2:] - gt[..., :2])
    gt = torch.cat([ctr - half * scale / 2, ctr + half * scale / 2], -1)
    priors = grid_priors(img)
    return scores, pred, gt, labels, valid, priors


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('kind', ['random', 'ties'])
def test_mmdet_mode_exact_at_any_thread_count(seed, kind, call_threads,
                                              caller_threads):
    """Sparse path (pow modelled for the caller's threads) and dense path
    (alpha != 1: pow run with the caller's threads) equal mmdet run with
    the caller's threads, whether the call itself runs on one thread."""
    scores, pred, gt, labels, valid, priors = big_blocks_batch(seed, kind)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    assert 26 * priors.shape[0] > 32768
    res = task_aligned_assign(scores, pred, centers, gt, labels, valid)
    assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid, priors)
    dense = task_aligned_assign(scores, pred, centers, gt, labels, valid,
                                alpha=2, beta=3)
    assert_batch_matches_mmdet(dense, scores, pred, gt, labels, valid, priors,
                               alpha=2, beta=3)
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize('seed', range(3))
def test_ultralytics_mode_exact_at_any_thread_count(seed, call_threads,
                                                    caller_threads):
    """Inside-pair lists past the grain size: CIoU (atan) and pow run with
    the caller's threads, as ultralytics' do."""
    tal = pytest.importorskip('ultralytics.utils.tal')
    scores, pred, gt, labels, valid, priors = big_blocks_batch(
        seed, 'random', scale=8.0)
    gt = torch.where(valid[..., None], gt, 0)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    inside = ((centers[None, None] > gt[:, :, None, :2]) &
              (centers[None, None] < gt[:, :, None, 2:])).all(-1)
    assert int(inside.sum()) > 32768
    ref = tal.TaskAlignedAssigner(topk=13, num_classes=NUM_CLASSES,
                                  alpha=1.0, beta=6.0)
    _, _, t_scores, fg, t_idx = ref(scores, pred, centers,
                                    labels[..., None].float(), gt,
                                    valid[..., None].float())
    ours = task_aligned_assign(scores, pred, centers, gt, labels, valid,
                               alpha=1.0, beta=6.0, mode='ultralytics',
                               min_gt_side=16.0)
    assert int(fg.sum()) > 0
    assert torch.equal(fg, ours.fg_mask)
    assert torch.equal(t_idx[fg], ours.gt_inds[fg])
    one_hot = torch.nn.functional.one_hot(ours.labels.clamp(min=0),
                                          NUM_CLASSES)
    assert torch.equal(t_scores, one_hot * ours.norm_metrics[..., None])


@pytest.mark.parametrize('threads', [1, 2])
def test_sparse_pow_model_for_another_thread_count(threads):
    """From a one-thread context, the pow model reproduces the dense kernel
    run with ``threads`` threads (the caller's, not the current count)."""
    from mmext.models.task_modules.functional.sparse_cpu import cpu_kernels
    numel = 5 * 32768 + 77  # ranges split differently by 1 and 2 threads
    block = torch.rand(numel, generator=torch.Generator().manual_seed(3))
    with cpu_kernels.num_threads(threads):
        dense = block.pow(6)
    with cpu_kernels.num_threads(1):
        span = cpu_kernels.pow_vector_span(block.dtype, 6, threads)
        if span is None:
            pytest.skip('no model of this CPU pow kernel: dense fallback')
        scalar = cpu_kernels.scalar_positions(numel, span, threads)
        ours = cpu_kernels.pow_vector_except(block, 6, span, scalar)
        assert torch.get_num_threads() == 1
    assert torch.equal(ours, dense)


def test_thread_count_restored_and_caller_count_for_custom_iou(
        caller_threads):
    """A custom IoU runs with the caller's threads (its bits may depend on
    them), and the caller's count is back after a call, even one that
    raises."""
    from mmext.models.task_modules.functional import box_iou
    seen = []

    def iou_fn(pred, gt):
        seen.append(torch.get_num_threads())
        return box_iou(pred, gt)

    scores, pred, gt, labels, valid = make_batch(0, 2, 4)
    task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                        iou_fn=iou_fn)
    assert seen and set(seen) == {caller_threads}

    def failing(pred, gt):
        raise RuntimeError('custom IoU failed')

    with pytest.raises(RuntimeError, match='custom IoU failed'):
        task_aligned_assign(scores, pred, CENTERS, gt, labels, valid,
                            iou_fn=failing)
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize('alpha', [1, 2])
def test_pow_tail_of_two_threads_reproduced_from_one(alpha, call_threads):
    """An anchor that mmdet's dense pow, run with two threads, computes
    with its scalar loop (one thread would vectorise it) gets an IoU whose
    6th power differs between the two loops, and is the only positive: its
    metric shows which loop ours reproduced (sparse path for alpha = 1,
    dense for 2)."""
    from mmext.models.task_modules.functional import box_iou
    from mmext.models.task_modules.functional.sparse_cpu import cpu_kernels
    img, num_gts = 320, 26
    priors = grid_priors(img)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    num_anchors = priors.shape[0]
    numel = num_gts * num_anchors
    span = cpu_kernels.pow_vector_span(torch.float32, 6, 2)
    if span is None:
        pytest.skip('no model of this CPU pow kernel: dense fallback')
    two = cpu_kernels.scalar_positions(numel, span, 2)
    pos = int(two[~torch.isin(two, cpu_kernels.scalar_positions(
        numel, span, 1))][0])
    a, g = pos // num_gts, pos % num_gts
    gt = torch.tensor([300., 300., 316., 316.]).repeat(num_gts, 1)
    cx, cy = centers[a].tolist()
    gt[g] = torch.tensor([cx - 20, cy - 20, cx + 20, cy + 20])
    # a predicted box whose IoU's 6th power differs between the loops
    for shift in torch.arange(0.0, 8.0, 1 / 64):
        box = gt[g] + torch.tensor([shift, 0., shift, 0.])
        iou = box_iou(box, gt[g])[None]
        if not torch.equal(
                cpu_kernels.scalar_pow(iou, 6),
                cpu_kernels.vector_pow(iou, 6, span)):
            break
    else:
        pytest.skip('pow loops agree on these IoUs')
    pred = torch.tensor([0., 0., 1., 1.]).repeat(num_anchors, 1)
    pred[a] = box
    scores = torch.full((num_anchors, NUM_CLASSES), 0.5)
    labels = torch.arange(num_gts) % NUM_CLASSES
    with cpu_kernels.num_threads(2):
        ref = mmdet_assign(scores, pred, gt, labels, priors, alpha=alpha)
        res = task_aligned_assign(scores[None], pred[None], centers,
                                  gt[None], labels[None], alpha=alpha)
    assert int((ref.gt_inds > 0).sum()) == 1 and ref.gt_inds[a] == g + 1
    ours = TaskAlignedAssigner.to_assign_result(res, num_gts, 0,
                                                torch.float32)
    assert_same_result(ref, ours)


@pytest.mark.slow
def test_crowded_images_match_mmdet():
    """1000 GTs per image: the sparse path takes the whole image (no GT
    chunks, so mmdet's bits), images with few GTs beside it."""
    img = 640
    priors = grid_priors(img)
    centers = (priors[:, :2] + priors[:, 2:]) / 2
    scores, pred, gt, labels, valid = make_batch(11, 2, 1000, 'random', img)
    valid[0] = True
    valid[1, 3:] = False
    res = task_aligned_assign(scores, pred, centers, gt, labels, valid)
    assert_batch_matches_mmdet(res, scores, pred, gt, labels, valid, priors)


CROWDED_GTS, CROWDED_BATCH, CROWDED_PEAK_MB = 1000, 16, 2048
# of the 2 GB, what the interpreter, torch and mmdet may hold before the call
IMPORTS_MB = 1024


def crowded_peaks(batch: int) -> dict:
    """Peak RSS growth (MiB) and process peak of each mode's call on the
    benchmark's crowded case (1000 GTs x 8400 priors) of ``batch`` images,
    after a warm-up call; both modes in this process, one after the
    other."""
    import os.path as osp
    import sys

    from tests.helpers.paths import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'benchmarks'))
    import bench_assigner
    import harness
    x = bench_assigner.make_inputs(CROWDED_GTS, batch=batch)
    peaks = {}
    for mode in ('ours_mmdet', 'ours_ultralytics'):
        bench_assigner.WORKERS[mode](bench_assigner.make_inputs(2, seed=1))
        base = harness.reset_peak_rss()
        result = bench_assigner.WORKERS[mode](x)
        assert int(result['fg_mask'].sum()) > batch * CROWDED_GTS
        peaks[mode] = dict(growth_mb=harness.peak_rss_mb() - base,
                           total_mb=harness.peak_rss_mb())
        del result
    return peaks


def test_crowded_memory_is_bounded_per_image():
    """Two crowded images grow the process by at most their share (2/16)
    of what the full batch may take beyond the imports: a call whose
    temporaries grew with B * M * A (one (2, 1000, 8400) float is 64 MiB)
    would not fit."""
    share = (CROWDED_PEAK_MB - IMPORTS_MB) * 2 / CROWDED_BATCH
    for mode, peak in crowded_peaks(2).items():
        assert peak['growth_mb'] <= share, (mode, peak)


@pytest.mark.slow
def test_crowded_batch_peak_memory():
    """1000 GTs x 8400 priors x 16 images within 2 GB peak RSS (the whole
    process, imports included), both modes measured in one fresh
    process."""
    import json
    import subprocess
    import sys

    from tests.helpers.paths import REPO_ROOT
    from tests.helpers.process import python_env
    code = ('import json; from tests.test_task_aligned_assigner import '
            'crowded_peaks; '
            f'print(json.dumps(crowded_peaks({CROWDED_BATCH})))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True,
                          timeout=900, env=python_env())
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode, peak in peaks.items():
        assert peak['total_mb'] <= CROWDED_PEAK_MB, (mode, peak)
