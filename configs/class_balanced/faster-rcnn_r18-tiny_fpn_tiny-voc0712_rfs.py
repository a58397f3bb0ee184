# The tiny demo with repeat-factor sampling on the shipped data in
# data/tiny/VOCdevkit: the wrapper goes around the demo's RepeatDataset(times=1,
# ConcatDataset(VOC2007, VOC2012)).
_base_ = '../faster_rcnn/faster-rcnn_r18-tiny_fpn_tiny-voc0712.py'

train_dataloader = dict(
    sampler=dict(type='mmext.RepeatFactorSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='mmext.RepeatFactorDataset',
        # The tiny data's classes are nearly uniform (f(c) 0.2-0.4); t = 0.5
        # makes the repeats visible.
        oversample_thr=0.5,
        rounding='stochastic',
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
