"""RepeatFactorDataset on real mmdet / mmpretrain data sets (tiny VOC)."""
import functools
import json

import numpy as np
import pytest
from mmdet.datasets import BaseDetDataset, VOCDataset
from mmengine.dataset import BaseDataset, ClassBalancedDataset, ConcatDataset
from mmengine.registry import DATASETS, DefaultScope

from mmext.datasets.category_ids import (collect_image_categories,
                                         upstream_function)
from mmext.datasets.functional import repeat_counts, repeat_indices
from mmext.datasets.repeat_factor_dataset import RepeatFactorDataset
from tests.helpers.repeat_factor import THR, ListDataset, voc_cfg, voc_kwargs


@pytest.fixture
def mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def voc():
    """The tiny VOC 2007 trainval set, built once (a build parses its
    XML files): the tests that take it only read it."""
    return VOCDataset(**voc_kwargs())


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
        assert ours.get_cat_ids(idx) == ref.get_cat_ids(idx)
        assert ours[idx]['img_path'] == ref[idx]['img_path']
    assert ours.metainfo['classes'] == ref.metainfo['classes']


@pytest.mark.slow
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
    assert ours.get_cat_ids(5) == ref.get_cat_ids(5)


def test_lazy_init(mmdet_scope):
    ours = RepeatFactorDataset(
        voc_cfg(lazy_init=True), oversample_thr=THR, lazy_init=True)
    assert not ours._fully_initialized
    assert not ours.dataset._fully_initialized
    assert ours.metainfo['classes'][0] == 'aeroplane'
    assert len(ours) > 0  # loads on first use
    assert ours.dataset._fully_initialized


def test_build_logs_one_line_and_no_table(voc, monkeypatch):
    # the per-class table is the tool's (tools/analysis/class_balance.py)
    messages = []
    monkeypatch.setattr('mmext.datasets.repeat_factor_dataset.print_log',
                        lambda msg, **kwargs: messages.append(msg))
    ours = RepeatFactorDataset(voc, oversample_thr=THR)
    text, = messages
    assert '\n' not in text
    assert 'VOCDataset' in text and 'aeroplane' not in text
    n = len(ours.dataset)
    assert f'{n} images -> {len(ours)} slots' in text


def test_stochastic_epochs(voc):
    ours = RepeatFactorDataset(
        voc, oversample_thr=THR, rounding='stochastic', seed=3)
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
def test_bad_oversample_thr(voc, thr):
    with pytest.raises(ValueError, match=r'VOCDataset.*oversample_thr'):
        RepeatFactorDataset(voc, oversample_thr=thr)


def test_bad_rounding(voc):
    with pytest.raises(ValueError, match='rounding'):
        RepeatFactorDataset(voc, oversample_thr=THR, rounding='floor')


def test_dataset_without_categories():
    with pytest.raises(ValueError,
                       match=r"NoCategories.*no category information.*"
                       r"'instances'.*'gt_label'"):
        RepeatFactorDataset(NoCategories(ann_file='', serialize_data=False),
                            oversample_thr=0.1)


def test_ids_outside_the_classes_as_mmengine(monkeypatch):
    # mmengine keys categories by value: label 7 of a 2-class data set is
    # one more category; ours counts it too, and says so
    messages = []
    monkeypatch.setattr('mmext.datasets.repeat_factor_dataset.print_log',
                        lambda msg, **kwargs: messages.append(msg))
    ours = RepeatFactorDataset(UnknownClass(ann_file=''), oversample_thr=0.9)
    ref = ClassBalancedDataset(UnknownClass(ann_file=''), 0.9)
    assert ours.slot_to_image.tolist() == ref.repeat_indices == [0, 0, 1, 1]
    assert "UnknownClass, field 'instances[].bbox_label': category ids [7] " \
        'are not among the 2 classes' in messages[0]
    assert ours.class_names == ['a', 'b', '7']
    assert ours.get_cat_ids(3) == ref.get_cat_ids(3) == [7]


def assert_same_as_mmengine(dataset, thr=0.2):
    """Indices and per-slot category ids equal mmengine's wrapper's."""
    ours = RepeatFactorDataset(dataset, oversample_thr=thr)
    ref = ClassBalancedDataset(dataset, thr)
    assert ours.slot_to_image.tolist() == ref.repeat_indices
    # some images repeated, some not: the categories decide
    assert 1 < len(ours) / len(dataset) < 2
    for idx in range(0, len(ours), 7):
        assert ours.get_cat_ids(idx) == ref.get_cat_ids(idx)
    return ours


class FirstLabelVOC(VOCDataset):
    """get_cat_ids defined on the class: only the first object counts."""

    def get_cat_ids(self, idx):
        return super().get_cat_ids(idx)[:1]


class RelabelledVOC(VOCDataset):
    """get_data_info overridden: the stock get_cat_ids sees its labels."""

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        for inst in info['instances']:
            inst['bbox_label'] = 0 if idx % 4 else inst['bbox_label']
        return info


def test_get_cat_ids_defined_on_the_class(voc):
    ours = assert_same_as_mmengine(FirstLabelVOC(**voc_kwargs()))
    stock = RepeatFactorDataset(voc, oversample_thr=0.2)
    assert ours.slot_to_image.tolist() != stock.slot_to_image.tolist()
    assert_same_as_mmengine(RelabelledVOC(**voc_kwargs()))


@pytest.mark.parametrize('ids', ['strings', 'ints'])
def test_get_cat_ids_set_on_the_instance(mmdet_scope, voc, ids):
    dataset = DATASETS.build(voc_cfg())
    if ids == 'strings':  # any hashable is a category for mmengine
        dataset.get_cat_ids = lambda i: ['rare'] if i % 9 == 0 else [
            'common', 'other'
        ]
    else:  # negative and beyond-the-classes ids among class indices
        dataset.get_cat_ids = lambda i: [-1] if i % 9 == 0 else [
            i % 3, 40 + i % 2
        ]
    ours = assert_same_as_mmengine(dataset)
    assert len(ours) > len(dataset)
    # on a wrapper without get_cat_ids of its own as well (mmengine refuses
    # a ConcatDataset: compare with it over the same category lists)
    concat = ConcatDataset([voc, dataset])
    concat.get_cat_ids = lambda i: [i % 7 == 0]
    ours = RepeatFactorDataset(concat, oversample_thr=0.2)
    lists = [concat.get_cat_ids(i) for i in range(len(concat))]
    assert ours.slot_to_image.tolist() == ClassBalancedDataset(
        ListDataset(lists), 0.2).repeat_indices


def test_get_cat_ids_patched_onto_base_classes(voc, monkeypatch):
    # mmengine's BaseDataset, for a data set that defines none
    monkeypatch.setattr(
        BaseDataset, 'get_cat_ids',
        lambda self, i: [int(self.get_data_info(i)['img_path'][0]) // 2])
    assert_same_as_mmengine(
        NoCategories(ann_file='', serialize_data=False), thr=0.5)
    # mmdet's BaseDetDataset: the stock function is replaced, so the
    # stored data infos must not be read in its place
    monkeypatch.setattr(
        BaseDetDataset, 'get_cat_ids',
        lambda self, i: [len(self.get_data_info(i)['instances'])])
    ours = assert_same_as_mmengine(voc, thr=0.25)
    assert set(ours.repeat_factors.category_ids.tolist()) <= {1, 2, 3, 4}


def test_upstream_function_recognises_replacements(monkeypatch):
    stock = BaseDetDataset.get_cat_ids
    assert upstream_function(BaseDetDataset, 'get_cat_ids') is stock
    # a wrapper that copies the stock function's name (functools.wraps),
    # as a patch applied before mmext is imported would be
    monkeypatch.setattr(BaseDetDataset, 'get_cat_ids',
                        functools.wraps(stock)(lambda self, i: []))
    assert upstream_function(BaseDetDataset, 'get_cat_ids') is None


def test_wrapper_over_a_wrapper_as_mmengine(voc):
    # the inner RepeatFactorDataset is read through its own get_cat_ids
    inner = RepeatFactorDataset(voc, oversample_thr=THR)
    outer = RepeatFactorDataset(inner, oversample_thr=THR)
    # mmengine's wrapper takes BaseDataset only: the same ids in a list
    lists = [inner.get_cat_ids(i) for i in range(len(inner))]
    ref = ClassBalancedDataset(ListDataset(lists), THR)
    assert outer.slot_to_image.tolist() == ref.repeat_indices
    assert len(outer) > len(inner)
