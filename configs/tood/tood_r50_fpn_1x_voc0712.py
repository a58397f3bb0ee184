# mmdet's TOOD R50-FPN on the VOC0712 recipe of the Faster R-CNN baseline
# (./_base_/tood_r50_fpn_voc0712-data.py), 20 classes, with mmext's head
# (the whole batch assigned in one call; same targets as mmdet's head),
# TaskAligned assigner and task-aligned losses. mmext's DetectionAP reports
# the VOC07 11-point mAP of mmdet's VOCMetric (voc07/mAP) and, from the
# same pass, the COCO-style AP (coco/*).
_base_ = './_base_/tood_r50_fpn_voc0712-data.py'

custom_imports = dict(imports=['mmext'], allow_failed_imports=False)
default_scope = 'mmdet'

model = dict(
    bbox_head=dict(
        type='mmext.TOODHead',
        num_classes=20,
        loss_cls=dict(
            _delete_=True,
            type='mmext.AlignedQualityFocalLoss',
            use_sigmoid=True,
            activated=True,  # TOODHead passes probabilities
            beta=2.0,
            loss_weight=1.0),
        loss_bbox=dict(
            _delete_=True,
            type='mmext.AlignedIoULoss',
            mode='giou',
            loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            _delete_=True, type='mmext.TaskAlignedAssigner', topk=13)))

val_evaluator = dict(
    _delete_=True, type='mmext.DetectionAP', metric=('voc07', 'coco'))
test_evaluator = val_evaluator
# crash-safe saves: a run killed while saving keeps its last checkpoint
default_hooks = dict(checkpoint=dict(type='mmext.DurableCheckpointHook'))
