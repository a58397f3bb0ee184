"""Where the shipped tiny data and configs are, and the VOC class list."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_VOC_ROOT = osp.join(REPO_ROOT, 'data', 'tiny', 'VOCdevkit')

# the demo detector: tiny Faster R-CNN on the tiny VOC0712 data
DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'faster_rcnn',
                       'faster-rcnn_r18-tiny_fpn_tiny-voc0712.py')
# its data part alone (VOC2007 test: 60 images), for evaluator tests
TINY_VOC_DATASET_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_',
                                   'datasets', 'tiny_voc0712.py')
TINY_MULTILABEL_CONFIG = osp.join(REPO_ROOT, 'configs', 'multilabel',
                                  'resnet18-tiny_tiny-voc2007-multilabel.py')

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')
