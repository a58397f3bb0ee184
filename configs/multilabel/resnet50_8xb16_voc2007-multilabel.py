# ResNet-50 (ImageNet-pretrained) multi-label classification on VOC2007
# trainval -> test, 20 classes, asymmetric loss, evaluated with mmext's
# CP/CR/CF1/OP/OR/OF1/mAP (difficult-only labels ignored).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/voc_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmext'], allow_failed_imports=False)

pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa: E501
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=20,
        in_channels=2048,
        loss=dict(
            type='mmext.MultiLabelAsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05)))

data_root = 'data/VOCdevkit/VOC2007'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='mmext.MultiLabelMetric',
    thr=0.5,  # or per-class: thr='thresholds.json' (ml_thresholds.py)
    items=('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'mAP', 'AUC'),
    # ROC and PR curves (PNG) under the work dir
    curve_dir='curves')
test_evaluator = val_evaluator
# tells the metric where the work dir is, for curve_dir
custom_hooks = [dict(type='mmext.MetricWorkDirHook')]

# the freshly initialised head learns 10x faster than the pretrained body
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[12, 16], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
# crash-safe saves: a run killed while saving keeps its last checkpoint
default_hooks = dict(
    checkpoint=dict(
        type='mmext.DurableCheckpointHook', max_keep_ckpts=1,
        save_best='auto'))
