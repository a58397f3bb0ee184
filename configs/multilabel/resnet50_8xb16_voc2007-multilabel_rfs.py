# The ResNet-50 VOC2007 multi-label recipe with repeat-factor
# (class-balanced) sampling: images holding rare classes are repeated
# r = max(1, sqrt(t / f(c))) times, drawn anew each epoch.
_base_ = './resnet50_8xb16_voc2007-multilabel.py'

train_dataloader = dict(
    sampler=dict(_delete_=True, type='mmext.RepeatFactorSampler',
                 shuffle=True),
    dataset=dict(
        _delete_=True,
        type='mmext.RepeatFactorDataset',
        oversample_thr=0.1,
        rounding='stochastic',
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
