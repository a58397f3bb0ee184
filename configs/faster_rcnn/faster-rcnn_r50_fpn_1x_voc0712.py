# mmdet's Faster R-CNN R50-FPN 1x on VOC 2007+2012 trainval, tested on VOC2007
# test: model, data, schedule and optimizer are mmdet's, unchanged. Only the
# evaluator and the checkpoint hook (crash-safe saves, last lines) change:
# mmext's DetectionAP reports the VOC07 11-point mAP that mmdet's VOCMetric
# gives (voc07/mAP, the figure of mmdet's model zoo) and, from the same pass
# over the predictions, the COCO-style AP@[.5:.95], AP50/75, APs/m/l and AR
# (coco/*), with VOC's difficult boxes as ignored regions. See
# configs/faster_rcnn/README.md to reproduce it.
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'

custom_imports = dict(imports=['mmext'], allow_failed_imports=False)

val_evaluator = dict(
    _delete_=True, type='mmext.DetectionAP', metric=('voc07', 'coco'))
test_evaluator = val_evaluator
# crash-safe saves: a run killed while saving keeps its last checkpoint
default_hooks = dict(checkpoint=dict(type='mmext.DurableCheckpointHook'))
# the metric's relative curve_dir / analysis_dir go under the run's work dir
custom_hooks = [dict(type='mmext.MetricWorkDirHook')]
