# CPU demo of the VOC2007 multi-label recipe on the shipped tiny data
# (trainval 120 / test 60 images, 6 of the 20 VOC classes): a narrow
# ResNet-18 from scratch at 112 px, 192 iterations.
_base_ = './resnet50_8xb16_voc2007-multilabel.py'

classes = ('aeroplane', 'bicycle', 'bird', 'boat', 'car', 'person')
model = dict(
    backbone=dict(
        depth=18, stem_channels=16, base_channels=16, init_cfg=None),
    head=dict(num_classes=len(classes), in_channels=128))
data_preprocessor = dict(num_classes=len(classes))

tiny_voc2007 = dict(
    data_root='data/tiny/VOCdevkit/VOC2007', metainfo=dict(classes=classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=112, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 112)),
    dict(
        type='PackInputs',
        # the metric reads gt_label_difficult to ignore difficult labels
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'gt_label_difficult')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**tiny_voc2007, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=20,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**tiny_voc2007, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4))
max_epochs = 24
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, T_max=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(
    logger=dict(interval=8),
    checkpoint=dict(interval=max_epochs, save_best=None))
