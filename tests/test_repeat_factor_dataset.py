"""RepeatFactorDataset on real mmdet / mmpretrain data sets (tiny VOC)."""
import json

import numpy as np
import pytest
from mmdet.datasets import BaseDetDataset
from mmengine.dataset import BaseDataset, ClassBalancedDataset
from mmengine.registry import DATASETS, DefaultScope

from mmext.datasets import RepeatFactorDataset, collect_image_categories
from mmext.datasets.functional import repeat_counts, repeat_indices
from tests.test_repeat_factor_functional import ListDataset

THR = 0.5  # the tiny data's classes sit at f(c) 0.2-0.4


def voc_cfg(year='2007', type='VOCDataset', **kwargs):
    return dict(
        type=type,
        data_root='data/tiny/VOCdevkit/',
        ann_file=f'VOC{year}/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root=f'VOC{year}/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8, bbox_min_size=8),
        pipeline=[],
        **kwargs)


@pytest.fixture
def mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def reference_indices(dataset, thr=THR):
    """mmengine's ClassBalancedDataset over the same category lists."""
    cats = collect_image_categories(dataset)
    bounds = np.cumsum(cats.lengths)
    lists = np.split(cats.labels, bounds[:-1])
    return ClassBalancedDataset(ListDataset(lists), thr).repeat_indices


@pytest.mark.parametrize('inner_type', ['VOCDataset', 'mmdet.VOCDataset'])
@pytest.mark.parametrize('serialize', [True, False])
def test_ceil_parity_with_mmengine_on_voc(mmdet_scope, inner_type,
                                          serialize):
    inner = voc_cfg(type=inner_type, serialize_data=serialize)
    ours = DATASETS.build(
        dict(type='mmext.RepeatFactorDataset', oversample_thr=THR,
             dataset=inner))
    ref = ClassBalancedDataset(DATASETS.build(inner), THR)
    assert len(ours) > len(ours.dataset)  # some images are repeated
    assert ours.slot_to_image.tolist() == ref.repeat_indices
    assert len(ours) == len(ref)
    # The wrapper shows the inner data set through the repeats.
    for idx in (0, len(ours) // 2, len(ours) - 1):
        assert ours.get_data_info(idx) == ref.get_data_info(idx)
        assert ours.get_cat_ids(idx) == sorted(set(ref.get_cat_ids(idx)))
        assert ours[idx]['img_path'] == ref[idx]['img_path']
    assert ours.metainfo['classes'] == ref.metainfo['classes']


def test_concat_voc0712_and_repeat(mmdet_scope):
    concat = dict(
        type='ConcatDataset',
        ignore_keys=['dataset_type'],
        datasets=[voc_cfg('2007'), voc_cfg('2012', type='mmdet.VOCDataset')])
    ours = DATASETS.build(
        dict(type='mmext.RepeatFactorDataset', oversample_thr=THR,
             dataset=concat))
    parts = ours.dataset.datasets
    assert len(ours.dataset) == len(parts[0]) + len(parts[1])
    assert ours.slot_to_image.tolist() == reference_indices(ours.dataset)
    # Per-image ids agree with the parts' own get_cat_ids.
    last = len(ours) - 1
    image = ours.slot_to_image[last]
    assert ours.get_cat_ids(last) == sorted(
        set(parts[1].get_cat_ids(image - len(parts[0]))))

    repeated = DATASETS.build(
        dict(type='mmext.RepeatFactorDataset', oversample_thr=THR,
             dataset=dict(type='RepeatDataset', times=2, dataset=concat)))
    # f(c) is unchanged by repeating the whole set: twice the indices.
    n = len(ours.dataset)
    np.testing.assert_array_equal(
        repeated.slot_to_image[:len(ours)], ours.slot_to_image)
    np.testing.assert_array_equal(repeated.slot_to_image[len(ours):],
                                  ours.slot_to_image + n)


def test_coco_dataset(mmdet_scope, tmp_path):
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(30):
        images.append(dict(id=i, file_name=f'{i}.jpg', height=64, width=64))
        # category 3 is rare, 1 frequent
        for cat in rng.choice([1, 1, 1, 2, 2, 3], size=rng.integers(1, 4)):
            anns.append(
                dict(id=len(anns), image_id=i, category_id=int(cat),
                     bbox=[1, 1, 20, 20], area=400, iscrowd=0))
    cats = [dict(id=c, name=f'c{c}') for c in (1, 2, 3)]
    ann_file = tmp_path / 'coco.json'
    ann_file.write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    inner = dict(type='CocoDataset', ann_file=str(ann_file),
                 data_prefix=dict(img=''), pipeline=[],
                 metainfo=dict(classes=('c1', 'c2', 'c3')))
    ours = DATASETS.build(
        dict(type='mmext.RepeatFactorDataset', oversample_thr=0.9,
             dataset=inner))
    ref = ClassBalancedDataset(DATASETS.build(inner), 0.9)
    assert ours.slot_to_image.tolist() == ref.repeat_indices
    assert ours.repeat_factors.category_repeat[2] > 1


@pytest.mark.parametrize('inner_type', ['VOC', 'mmpretrain.VOC'])
def test_mmpretrain_multilabel_voc(mmpretrain_scope, inner_type):
    inner = dict(type=inner_type, data_root='data/tiny/VOCdevkit/VOC2007',
                 split='trainval', pipeline=[])
    ours = DATASETS.build(
        dict(type='mmext.RepeatFactorDataset', oversample_thr=THR,
             dataset=inner))
    ref = ClassBalancedDataset(DATASETS.build(inner), THR)
    assert ours.slot_to_image.tolist() == ref.repeat_indices
    assert ours.get_cat_ids(5) == sorted(ref.get_cat_ids(5))


def test_lazy_init(mmdet_scope):
    ours = RepeatFactorDataset(
        voc_cfg(lazy_init=True), oversample_thr=THR, lazy_init=True)
    assert not ours._fully_initialized
    assert not ours.dataset._fully_initialized
    assert ours.metainfo['classes'][0] == 'aeroplane'
    assert len(ours) > 0  # loads on first use
    assert ours.dataset._fully_initialized


def test_build_logs_table(mmdet_scope, monkeypatch):
    messages = []
    monkeypatch.setattr('mmext.datasets.class_balanced_dataset.print_log',
                        lambda msg, **kwargs: messages.append(msg))
    ours = RepeatFactorDataset(voc_cfg(), oversample_thr=THR)
    text = messages[0]
    assert 'VOCDataset' in text and 'repeat r(c)' in text
    assert 'aeroplane' in text and 'freq after' in text
    n = len(ours.dataset)
    assert f'length: {n} images -> {len(ours)} ' in text


def test_stochastic_epochs(mmdet_scope):
    ours = RepeatFactorDataset(
        voc_cfg(), oversample_thr=THR, rounding='stochastic', seed=3)
    r = ours.repeat_factors.image_repeat
    e0, e1 = ours.epoch_indices(0), ours.epoch_indices(1)
    np.testing.assert_array_equal(e0, ours.epoch_indices(0))
    assert not np.array_equal(e0, e1)
    for epoch, idx in ((0, e0), (1, e1)):
        # The slots map to the images the functional draw asks for.
        counts = repeat_counts(r, 'stochastic', seed=3, epoch=epoch)
        np.testing.assert_array_equal(ours.slot_to_image[idx],
                                      repeat_indices(counts))
    assert ours.expected_length() == round(r.sum())


class NoCategories(BaseDataset):

    def load_data_list(self):
        return [dict(img_path=f'{i}.jpg') for i in range(3)]


class UnknownClass(BaseDetDataset):
    METAINFO = dict(classes=('a', 'b'))

    def load_data_list(self):
        return [
            dict(img_path='0.jpg', instances=[dict(bbox_label=0)]),
            dict(img_path='1.jpg', instances=[dict(bbox_label=7)])
        ]


@pytest.mark.parametrize('thr', [0, 1.01, -1, None])
def test_bad_oversample_thr(mmdet_scope, thr):
    with pytest.raises(ValueError, match=r'VOCDataset.*oversample_thr'):
        RepeatFactorDataset(voc_cfg(), oversample_thr=thr)


def test_bad_rounding(mmdet_scope):
    with pytest.raises(ValueError, match='rounding'):
        RepeatFactorDataset(voc_cfg(), oversample_thr=THR, rounding='floor')


def test_dataset_without_categories():
    with pytest.raises(ValueError,
                       match=r"NoCategories.*no category information.*"
                       r"'instances'.*'gt_label'"):
        RepeatFactorDataset(NoCategories(ann_file='', serialize_data=False),
                            oversample_thr=0.1)


def test_unknown_class():
    with pytest.raises(
            ValueError,
            match=r"UnknownClass.*'instances\[\]\.bbox_label'.*image 1 has "
            r'category id 7'):
        RepeatFactorDataset(UnknownClass(ann_file=''), oversample_thr=0.1)
