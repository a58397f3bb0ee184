# The demo: mmdet's Faster R-CNN VOC0712 recipe (VOC2007+2012 trainval,
# VOC2007 test, VOC07 11-point mAP) with a CPU-sized model on the tiny data.
_base_ = [
    '../_base_/models/faster-rcnn_r18-tiny_fpn.py',
    '../_base_/datasets/tiny_voc0712.py',
    'mmdet::_base_/default_runtime.py'
]

max_epochs = 6
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[5],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    # training from scratch: clipping keeps early iterations from diverging
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(
    logger=dict(interval=10),
    # crash-safe saves: a run killed while saving keeps its last checkpoint
    checkpoint=dict(
        type='mmext.DurableCheckpointHook',
        interval=max_epochs,
        max_keep_ckpts=1,
        save_best='voc07/mAP'))
# a fixed seed makes the demo's mAP repeatable from run to run
randomness = dict(seed=0)
# the metric's relative curve_dir / analysis_dir go under the run's work dir
custom_hooks = [dict(type='mmext.MetricWorkDirHook')]
