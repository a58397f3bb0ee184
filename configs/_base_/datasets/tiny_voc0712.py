# The mmdet VOC0712 data recipe (VOC2007+VOC2012 trainval through
# ConcatDataset, VOC2007 test) on the shipped tiny data in data/tiny/VOCdevkit,
# at the tiny data's native resolution. Boxes of the tiny data go down to
# 16 px, so the bbox_min_size=32 filter of mmdet's recipe would ignore many
# of them; it is lowered to 8 px here.
_base_ = 'mmdet::_base_/datasets/voc0712.py'

custom_imports = dict(imports=['mmext'], allow_failed_imports=False)

dataset_type = 'VOCDataset'
data_root = 'data/tiny/VOCdevkit/'
img_scale = (320, 256)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
voc_trainval = dict(
    type=dataset_type,
    data_root=data_root,
    filter_cfg=dict(filter_empty_gt=True, min_size=8, bbox_min_size=8),
    pipeline=train_pipeline,
    backend_args=backend_args)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='RepeatDataset',
        times=1,
        dataset=dict(
            type='ConcatDataset',
            ignore_keys=['dataset_type'],
            datasets=[
                dict(
                    **voc_trainval,
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/')),
                dict(
                    **voc_trainval,
                    ann_file='VOC2012/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2012/')),
            ])))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# VOC07 11-point mAP (the VOC0712 recipe's figure) plus the COCO-style stats,
# from one pass (difficult boxes are ignored regions for both)
val_evaluator = dict(
    _delete_=True,
    type='mmext.DetectionAP',
    metric=('voc07', 'coco'),
    classwise=True,
    # PR curves (PNG + JSON) under <work_dir>/pr_curves
    curve_dir='pr_curves')
test_evaluator = val_evaluator
