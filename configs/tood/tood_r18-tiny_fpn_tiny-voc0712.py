# TOOD with mmext's head, assigner and losses, shrunk for a 2-core CPU, on
# the shipped tiny VOC0712 data: ResNet-18 layout with 16 base channels,
# 32-ch FPN and head, no pretrained weights; ATSS warm-up for one epoch only;
# AdamW, 8 epochs. Measured mAP and speed: configs/tood/README.md.
_base_ = './tood_r50_fpn_1x_voc0712.py'

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32, stacked_convs=3),
    train_cfg=dict(initial_epoch=1),
    test_cfg=dict(nms_pre=500))

# --- data: the base's VOC0712 recipe on the tiny data, with the changes of
# configs/_base_/datasets/tiny_voc0712.py (native ~320x256 scale, 8 px box
# filter, no workers, no repeats)
img_scale = (320, 256)
data_root = 'data/tiny/VOCdevkit/'
train_dataloader = _base_.train_dataloader
train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
train_dataloader.dataset.times = 1
val_dataloader = _base_.val_dataloader
val_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
for _dataset in train_dataloader.dataset.dataset.datasets:
    _dataset.filter_cfg.update(min_size=8, bbox_min_size=8)
for _dataset in (*train_dataloader.dataset.dataset.datasets,
                 val_dataloader.dataset):
    _dataset.data_root = data_root
    for _step in _dataset.pipeline:
        if _step.type == 'Resize':
            _step.scale = img_scale
train_pipeline = train_dataloader.dataset.dataset.datasets[0].pipeline
test_pipeline = val_dataloader.dataset.pipeline
del _dataset, _step
test_dataloader = val_dataloader

# --- schedule ---
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[7],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='AdamW', lr=0.002, weight_decay=0.05),
    # training from scratch: clipping keeps early iterations from diverging
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
