"""TOOD training step: mmext.TOODHead (one batched assignment per step) vs
mmdet's TOODHead (one assignment per image), and the assigner's share.

A step is forward, target assignment, loss and backward (no optimizer
update) of a whole detector built from a shipped TOOD config, in the
task-aligned stage (epoch >= ``initial_epoch``):

* ``tiny``: ``configs/tood/tood_r18-tiny_fpn_tiny-voc0712.py`` at its
  training size (256 x 320), batch 4;
* ``r50``: ``configs/tood/tood_r50_fpn_1x_voc0712.py`` at VOC's training
  size (a 500 x 375 VOC image resized to 800 x 600), batch 2.

The mmext contender is the config as shipped (mmext head, assigner,
losses); the mmdet contender the same config with mmdet's ``TOODHead``,
``TaskAlignedAssigner``, ``QualityFocalLoss`` and ``GIoULoss``. Both get
the same weights (same seed) and the same random images and GTs (1 to 6
per image, as VOC's 2.4 on average), built outside the clock. The
assigner's share is the time in ``bbox_head.get_targets`` (assignment and
target building) over the step. Losses of the first step are compared in
the parent (``max_abs_diff``; 0 on the CPU in fp32).

Contenders run through :mod:`harness` (own processes, interleaved rounds,
fastest kept, load and threads recorded, ``--contention`` adds a busy
process). On a GPU: ``--device cuda --amp`` (autocast fp16, the dense
assignment path).

``--gts 10 100 500`` gives every image that many GTs instead (one line
each), where the assignment weighs more.

Usage: python benchmarks/bench_train_step.py [--configs tiny r50]
[--gts 0 10 100 500] [--iters N] [--device cpu|cuda] [--amp] [--rounds R]
[--contention]
"""
import argparse
import itertools
import json
import os
import os.path as osp
import time

import harness

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    # name: (config, (H, W) input, batch, default timed iterations)
    'tiny': ('configs/tood/tood_r18-tiny_fpn_tiny-voc0712.py', (256, 320), 4,
             3),
    'r50': ('configs/tood/tood_r50_fpn_1x_voc0712.py', (608, 800), 2, 1),
}
MMDET_PARTS = dict(
    loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, activated=True,
                  beta=2.0, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0))


def build_model(config: str, head: str, device: str):
    """The config's detector; ``head='mmdet'``: mmdet's head, assigner and
    losses instead of mmext's."""
    import mmext  # noqa: F401  (registers mmext's modules)
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(osp.join(REPO, config)).model
    cfg.backbone.init_cfg = None  # no download of pretrained weights
    if head == 'mmdet':
        cfg.bbox_head.type = 'TOODHead'
        for key, part in MMDET_PARTS.items():  # replace, not merge
            cfg.bbox_head[key] = dict(part)
        cfg.train_cfg.assigner = dict(type='TaskAlignedAssigner', topk=13)
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg)
    model.init_weights()
    return model.to(device).train()


def make_batch(shape: tuple, batch: int, device: str, num_gts: int = 0,
               seed: int = 0):
    """Normalised random images and ``num_gts`` random GTs per image
    (0: 1 to 6, drawn per image)."""
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    inputs = torch.randn(batch, 3, h, w, generator=g)
    samples = []
    for _ in range(batch):
        n = num_gts or int(torch.randint(1, 7, (1, ), generator=g))
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h])
        wh = (torch.rand(n, 2, generator=g) * 0.6 + 0.05) * torch.tensor(
            [w, h])
        boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1)
        boxes = torch.minimum(boxes.clamp(min=0),
                              torch.tensor([w, h, w, h], dtype=torch.float))
        sample = DetDataSample(metainfo=dict(
            img_shape=shape, pad_shape=shape, batch_input_shape=shape,
            ori_shape=shape, scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=boxes.to(device),
            labels=torch.randint(0, 20, (n, ), generator=g).to(device))
        samples.append(sample)
    return inputs.to(device), samples


def worker(head: str, case: str) -> dict:
    """Time ``iters`` training steps of one contender (after one warm-up
    step); keep the fastest step and its assignment time."""
    import torch
    from mmengine.logging import MessageHub
    name, iters, device, amp, num_gts = case.split(':')
    config, shape, batch, _ = CONFIGS[name]
    model = build_model(config, head, device)
    inputs, samples = make_batch(shape, batch, device, int(num_gts))
    hub = MessageHub.get_instance('bench_train_step')
    hub.update_info('epoch', model.bbox_head.initial_epoch)  # aligned stage
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    targets = model.bbox_head.get_targets
    assign_seconds = []

    def timed_targets(*args, **kwargs):  # the assignment, for its share
        sync()
        start = time.perf_counter()
        out = targets(*args, **kwargs)
        sync()
        assign_seconds.append(time.perf_counter() - start)
        return out

    model.bbox_head.get_targets = timed_targets

    def step():
        model.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.float16, enabled=amp == '1'):
            losses = model.loss(inputs, samples)
        total = sum(sum(v) if isinstance(v, list) else v
                    for v in losses.values())
        total.backward()
        sync()
        return {k: [float(x) for x in v] if isinstance(v, list) else
                float(v) for k, v in losses.items()}

    first = step()  # warm-up: allocator, kernels, lazy imports
    base_mb = harness.reset_peak_rss()
    times, assigns = [], []
    for _ in range(int(iters)):
        assign_seconds.clear()
        _, seconds = harness.timed(step)
        times.append(seconds)
        assigns.append(sum(assign_seconds))
    best = min(range(len(times)), key=times.__getitem__)
    return dict(seconds=times[best], assign_seconds=assigns[best],
                losses=first, peak_mb=harness.peak_rss_mb() - base_mb)


def loss_diff(ours: dict, peer: dict) -> float:
    diff = 0.0
    for key, value in peer.items():
        a = value if isinstance(value, list) else [value]
        b = ours[key] if isinstance(ours[key], list) else [ours[key]]
        diff = max([diff] + [abs(x - y) for x, y in zip(a, b)])
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=list(CONFIGS),
                        choices=list(CONFIGS))
    parser.add_argument('--iters', type=int, default=0,
                        help='timed steps per run (0: 3 tiny, 1 r50)')
    parser.add_argument('--gts', type=int, nargs='+', default=[0],
                        help='GTs per image, one comparison each (0: 1 to '
                        '6 per image, as VOC)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', action='store_true',
                        help='autocast fp16 (with --device cuda)')
    harness.add_arguments(parser, default_rounds=2)
    args = parser.parse_args()
    if args.worker:
        harness.serve({h: lambda case, h=h: worker(h, case)
                       for h in ('mmext', 'mmdet')}, args)
        harness.end_worker()
    lines = []
    with harness.Session(args) as session:
        for name, num_gts in itertools.product(args.configs, args.gts):
            config, shape, batch, default_iters = CONFIGS[name]
            case = (f'{name}:{args.iters or default_iters}:{args.device}:'
                    f'{int(args.amp)}:{num_gts}')
            runs = session.compare(__file__, ['mmext', 'mmdet'], case=case)
            ours, peer = runs['mmext'], runs['mmdet']
            ok = 'error' not in ours and 'error' not in peer
            extra = dict(config=config, input_hw=list(shape), batch=batch,
                         gts_per_image=num_gts or '1-6', device=args.device,
                         amp=args.amp)
            if ok:
                extra.update(
                    ours_assign_s=round(ours['assign_seconds'], 4),
                    peer_assign_s=round(peer['assign_seconds'], 4),
                    ours_assign_share=round(
                        ours['assign_seconds'] / ours['seconds'], 3),
                    peer_assign_share=round(
                        peer['assign_seconds'] / peer['seconds'], 3),
                    assign_ratio=round(
                        peer['assign_seconds'] / ours['assign_seconds'], 2),
                    ours_peak_mb=round(ours['peak_mb'], 1),
                    peer_peak_mb=round(peer['peak_mb'], 1))
            line = session.line(
                f'train_step_{name}' + (f'_M{num_gts}' if num_gts else ''),
                ours, peer, 'mmdet.TOODHead',
                loss_diff(ours['losses'], peer['losses']) if ok else None,
                **extra)
            lines.append(line)
            print(json.dumps(line), flush=True)
    harness.emit(lines)


if __name__ == '__main__':
    main()
