"""Data checks on the shipped tiny VOC data and on broken copies of it."""
import os.path as osp
import re
import shutil
import sys

import pytest
from mmengine.config import Config

from mmext.datasets.config_check import check_dataset_config
from mmext.datasets.voc_check import DataCheckError, check_voc_split
from tests.helpers.config_cache import load_config
from tools.misc.check_dataset import format_report, main, run

TINY_CFG = 'configs/faster_rcnn/faster-rcnn_r18-tiny_fpn_tiny-voc0712.py'
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')
FIX_ROOT = 'run tools/misc/download_voc.py or fix data_root in your config'


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    """Keep the check cache out of the user's home."""
    monkeypatch.setenv('MMEXT_CACHE_DIR', str(tmp_path / 'cache'))


@pytest.fixture
def small_voc(voc_root, tmp_path):
    """A copy of 4 VOC2007 test images of the tiny data, to break."""
    src = osp.join(voc_root, 'VOC2007')
    with open(osp.join(src, 'ImageSets/Main/test.txt')) as f:
        ids = f.read().split()[:4]
    root = tmp_path / 'VOCdevkit' / 'VOC2007'
    for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        (root / sub).mkdir(parents=True)
    for i in ids:
        shutil.copy(osp.join(src, 'JPEGImages', i + '.jpg'),
                    root / 'JPEGImages')
        shutil.copy(osp.join(src, 'Annotations', i + '.xml'),
                    root / 'Annotations')
    (root / 'ImageSets/Main/test.txt').write_text('\n'.join(ids) + '\n')
    return root, ids


def _check(root, **kwargs):
    return check_voc_split(
        str(root / 'ImageSets/Main/test.txt'), str(root / 'JPEGImages'),
        str(root / 'Annotations'), VOC_CLASSES, **kwargs)


def _edit_xml(path, pattern, repl, count=1):
    text = path.read_text()
    new = re.sub(pattern, repl, text, count=count)
    assert new != text
    path.write_text(new)


def _mmdet_voc(leaf):
    """mmdet's own parse of a ``VOCDataset`` config: its data infos."""
    from mmdet.datasets import VOCDataset
    kwargs = {k: v for k, v in leaf.items() if k not in ('type', '_scope_')}
    ds = VOCDataset(**dict(kwargs, pipeline=[]))
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_tiny_config_counts_match_mmdet():
    cfg = load_config(TINY_CFG)
    reports = check_dataset_config(cfg)
    files = [osp.normpath(p) for p in reports]
    assert files == [
        osp.normpath(f'data/tiny/VOCdevkit/{p}/ImageSets/Main/{s}.txt')
        for p, s in [('VOC2007', 'trainval'), ('VOC2012', 'trainval'),
                     ('VOC2007', 'test')]
    ]
    test_report = list(reports.values())[-1]
    assert test_report.roles == ['val', 'test']
    assert list(reports.values())[0].roles == ['train']

    # the same numbers as mmdet's own parse of the test split
    infos = _mmdet_voc(cfg.test_dataloader.dataset)
    assert test_report.num_images == len(infos)
    instances = [i for info in infos for i in info['instances']]
    assert test_report.num_objects == len(instances)
    for label, name in enumerate(VOC_CLASSES):
        assert test_report.objects[name] == sum(
            i['bbox_label'] == label for i in instances)
    assert test_report.num_difficult == sum(
        i['ignore_flag'] for i in instances)
    assert 'total' in format_report(test_report)


def test_bbox_min_size_counts_ignored_boxes():
    cfg = load_config(TINY_CFG)
    voc07 = cfg.train_dataloader.dataset.dataset.datasets[0]
    voc07.filter_cfg = dict(bbox_min_size=32)  # no image filters
    cfg.train_dataloader.dataset.dataset.datasets = [voc07]
    # mmdet ignores difficult boxes and boxes under bbox_min_size
    ignored = sum(i['ignore_flag'] for info in _mmdet_voc(voc07)
                  for i in info['instances'])
    report, = check_dataset_config(cfg, splits=['train']).values()
    assert sum(report.small.values()) > 0
    assert sum(report.small.values()) + report.num_difficult == ignored
    assert 'small' in format_report(report)


def test_wrappers_and_mmpretrain_leaf(voc_root):
    voc07 = dict(
        type='VOCDataset',
        data_root='data/tiny/VOCdevkit/',
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'))
    cfg = dict(
        default_scope='mmdet',
        train_dataloader=dict(
            dataset=dict(
                type='ClassBalancedDataset',
                oversample_thr=0.1,
                dataset=dict(
                    type='mmdet.ConcatDataset',
                    datasets=[
                        dict(type='RepeatDataset', times=2, dataset=voc07),
                        dict(
                            type='mmpretrain.VOC',
                            data_root='data/tiny/VOCdevkit/VOC2012',
                            split='trainval'),
                        dict(type='CocoDataset', ann_file='none.json'),
                    ]))))
    reports = check_dataset_config(cfg)
    assert [osp.normpath(p) for p in reports] == [
        'data/tiny/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
        'data/tiny/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt'
    ]
    assert all(r.num_objects > 0 for r in reports.values())


def test_class_subset_skips_other_classes(small_voc):
    root, _ = small_voc
    full = _check(root)
    named = [c for c in VOC_CLASSES if full.objects[c]]
    sub = check_voc_split(
        str(root / 'ImageSets/Main/test.txt'), str(root / 'JPEGImages'),
        str(root / 'Annotations'), named[:1], strict_classes=False)
    assert sub.num_objects == full.objects[named[0]]
    assert sub.skipped == full.num_objects - sub.num_objects


def test_missing_data_root_and_split_file(tmp_path):
    cfg = load_config(TINY_CFG)
    cfg.test_dataloader.dataset.data_root = str(tmp_path / 'nowhere')
    cfg.val_dataloader = cfg.test_dataloader
    with pytest.raises(DataCheckError) as err:
        check_dataset_config(cfg, splits=['test'])
    assert str(err.value) == (f'data root {tmp_path / "nowhere"} (of the '
                              f'test dataset) not found: {FIX_ROOT}')
    (tmp_path / 'nowhere').mkdir()
    with pytest.raises(DataCheckError) as err:
        check_dataset_config(cfg, splits=['test'])
    split_file = osp.join(tmp_path, 'nowhere',
                          'VOC2007/ImageSets/Main/test.txt')
    assert str(err.value) == f'{split_file} not found: {FIX_ROOT}'


@pytest.mark.parametrize('broken', ['image', 'xml', 'folder'])
def test_missing_files(small_voc, broken):
    root, ids = small_voc
    if broken == 'image':
        path = root / 'JPEGImages' / f'{ids[1]}.jpg'
        path.unlink()
    elif broken == 'xml':
        path = root / 'Annotations' / f'{ids[2]}.xml'
        path.unlink()
    else:
        path = root / 'Annotations'
        shutil.rmtree(path)
    with pytest.raises(DataCheckError) as err:
        _check(root)
    msg = str(err.value)
    assert str(path) in msg and 'not found' in msg
    assert 'tools/misc/download_voc.py' in msg


@pytest.mark.parametrize('edit, expected', [
    ((r'</annotation>', ''), 'is not valid XML'),
    ((r'(?s)<size>.*?</size>', ''), 'has no valid <size>'),
    ((r'<name>\w+</name>', '<name>persn</name>'), "class 'persn'"),
    ((r'<difficult>0</difficult>', '<difficult>2</difficult>'),
     'expected 0 or 1'),
    ((r'<xmax>\d+</xmax>', '<xmax>100000</xmax>'), 'outside the'),
    ((r'<xmin>\d+</xmin>', '<xmin>500</xmin>'), 'xmin >= xmax'),
    ((r'<ymax>\d+</ymax>', '<ymax>a</ymax>'), 'no valid <bndbox>'),
])
def test_broken_xml(small_voc, edit, expected):
    root, ids = small_voc
    xml = root / 'Annotations' / f'{ids[3]}.xml'
    _edit_xml(xml, *edit, )
    with pytest.raises(DataCheckError) as err:
        _check(root)
    msg = str(err.value)
    assert msg.startswith(str(xml)) and expected in msg
    assert msg.endswith('fix or re-download the file' if 'persn' not in msg
                        else 'in the config)')


def test_all_problems_in_one_error(small_voc):
    root, ids = small_voc
    for i in ids[:3]:
        _edit_xml(root / 'Annotations' / f'{i}.xml', r'<difficult>0<',
                  '<difficult>x<')
    with pytest.raises(DataCheckError) as err:
        _check(root)
    assert len(err.value.problems) == 3
    assert str(err.value).startswith('3 data problems:\n  - ')


def test_quick_reuses_a_passed_check_until_a_file_changes(
        small_voc, tmp_path):
    root, ids = small_voc
    full = _check(root)
    assert list((tmp_path / 'cache').iterdir())  # a passed check is kept
    assert _check(root, quick=True) == full
    # a changed file is parsed again, even in quick mode
    _edit_xml(root / 'Annotations' / f'{ids[0]}.xml', r'</annotation>', '')
    with pytest.raises(DataCheckError, match='is not valid XML'):
        _check(root, quick=True)


def test_check_dataset_tool(capsys):
    run(TINY_CFG, ['val', 'test'])
    out = capsys.readouterr().out
    assert 'VOC2007/ImageSets/Main/test.txt (val, test)' in out
    assert '| total ' in out


def test_check_dataset_tool_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [
        'check_dataset.py', TINY_CFG, '--splits', 'test', '--cfg-options',
        f'test_dataloader.dataset.data_root={tmp_path}'
    ])
    with pytest.raises(SystemExit) as exc:
        main()
    split_file = osp.join(tmp_path, 'VOC2007/ImageSets/Main/test.txt')
    assert exc.value.code == f'error: {split_file} not found: {FIX_ROOT}'


# ----------------------------------------------------------------------------
# data_root overrides, undecodable images, problems listed once


@pytest.fixture
def tiny_copy(voc_root, tmp_path):
    """A copy of the whole tiny data set, to point configs at and break."""
    dst = tmp_path / 'copy' / 'VOCdevkit'
    shutil.copytree(voc_root, dst)
    return dst


def test_cfg_options_data_root_moves_every_dataset(tiny_copy, capsys):
    root = f'{tiny_copy}/'
    reports = run(TINY_CFG, ['train', 'val', 'test'], {'data_root': root})
    assert [r.data_root for r in reports.values()] == [root] * 3
    assert all(p.startswith(root) for p in reports)
    assert f'checked data root {root} (train, val, test)' in \
        capsys.readouterr().out
    # the copy is what gets checked: breaking it fails the tool
    (tiny_copy / 'VOC2012/ImageSets/Main/trainval.txt').unlink()
    with pytest.raises(SystemExit) as exc:
        main([TINY_CFG, '--cfg-options', f'data_root={root}'])
    assert exc.value.code == (
        f'error: {root}VOC2012/ImageSets/Main/trainval.txt not found: '
        f'{FIX_ROOT}')
    # a missing root is named once for the three dataloaders
    with pytest.raises(SystemExit) as exc:
        main([TINY_CFG, '--cfg-options', 'data_root=/nonexistent/VOCdevkit/'])
    assert exc.value.code == (
        'error: data root /nonexistent/VOCdevkit/ (of the train, val, test '
        f'datasets) not found: {FIX_ROOT}')


def test_data_root_override_keeps_subfolders_and_explicit_roots(tiny_copy):
    from mmext.utils.run_config import merge_cfg_options
    cfg = Config(dict(
        data_root='data/tiny/VOCdevkit/',
        train_dataloader=dict(dataset=dict(
            type='mmpretrain.VOC', data_root='data/tiny/VOCdevkit/VOC2007',
            split='trainval')),
        test_dataloader=dict(dataset=dict(
            type='mmpretrain.VOC', data_root='data/tiny/VOCdevkit/VOC2007',
            split='test'))))
    merge_cfg_options(cfg, {
        'data_root': str(tiny_copy),
        'test_dataloader.dataset.data_root': 'data/tiny/VOCdevkit/VOC2007'
    })
    assert cfg.train_dataloader.dataset.data_root == str(tiny_copy /
                                                         'VOC2007')
    assert cfg.test_dataloader.dataset.data_root == \
        'data/tiny/VOCdevkit/VOC2007'
    reports = check_dataset_config(cfg)
    assert list(reports) == [
        str(tiny_copy / 'VOC2007/ImageSets/Main/trainval.txt'),
        'data/tiny/VOCdevkit/VOC2007/ImageSets/Main/test.txt'
    ]


def test_data_root_override_that_changes_nothing_is_an_error():
    from mmext.utils.run_config import load_run_config
    config = 'configs/multilabel/resnet18-tiny_tiny-voc2007-multilabel.py'
    with pytest.raises(DataCheckError) as err:
        load_run_config(config, cfg_options={'data_root': '/data/VOC2007'})
    assert str(err.value) == (
        'data_root=/data/VOC2007 changes nothing: no dataset uses the '
        "config's data_root data/VOCdevkit/VOC2007 (they use: "
        'train_dataloader: data/tiny/VOCdevkit/VOC2007; val_dataloader: '
        'data/tiny/VOCdevkit/VOC2007; test_dataloader: '
        'data/tiny/VOCdevkit/VOC2007); set <loader>.dataset.data_root '
        'instead')


@pytest.mark.parametrize('ultralytics_patch', [False, True])
def test_undecodable_images_named_by_full_check(small_voc, monkeypatch,
                                                 ultralytics_patch):
    from mmcv.transforms import LoadImageFromFile
    from PIL import Image
    if ultralytics_patch:
        # importing ultralytics replaces Image.open by one that imports a
        # HEIF plugin (absent here) when PIL cannot identify a file
        monkeypatch.setattr(Image, 'open', Image.open)  # restored after
        from ultralytics.utils import patches
        monkeypatch.setattr(Image, 'open', patches.image_open)
    root, ids = small_voc
    truncated = root / 'JPEGImages' / f'{ids[1]}.jpg'
    truncated.write_bytes(truncated.read_bytes()[:600])
    garbage = root / 'JPEGImages' / f'{ids[2]}.jpg'
    garbage.write_bytes(bytes(range(256)) * 8)
    # what the data loader would hit mid-epoch
    for path in (truncated, garbage):
        with pytest.raises(Exception):
            LoadImageFromFile()(dict(img_path=str(path)))
    assert _check(root).num_images == 4  # the XML-only check misses them
    with pytest.raises(DataCheckError) as err:
        _check(root, check_images=True)
    assert [p.split(' cannot be decoded as an image (')[0]
            for p in err.value.problems] == [str(truncated), str(garbage)]
    assert all(p.endswith('remove the id from the split file')
               for p in err.value.problems)


def test_check_dataset_tool_decodes_images_unless_quick(tiny_copy):
    with open(tiny_copy / 'VOC2007/ImageSets/Main/test.txt') as f:
        img = tiny_copy / 'VOC2007/JPEGImages' / (f.readline().strip() +
                                                 '.jpg')
    img.write_bytes(img.read_bytes()[:len(img.read_bytes()) // 2])
    argv = [TINY_CFG, '--splits', 'val', 'test', '--cfg-options',
            f'data_root={tiny_copy}/']
    main(argv + ['--quick'])  # quick mode does not decode
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code.startswith(
        f'error: {img} cannot be decoded as an image (image file is '
        'truncated')


def test_split_shared_by_val_and_test_reports_once(tiny_copy):
    from mmext.utils.run_config import load_run_config
    cfg = load_run_config(TINY_CFG,
                          cfg_options={'data_root': f'{tiny_copy}/'})
    with open(tiny_copy / 'VOC2007/ImageSets/Main/test.txt') as f:
        xml = tiny_copy / 'VOC2007/Annotations' / (f.readline().strip() +
                                                  '.xml')
    _edit_xml(xml, r'</annotation>', '')
    with pytest.raises(DataCheckError) as err:
        check_dataset_config(cfg, splits=['val', 'test'])
    assert len(err.value.problems) == 1
    assert str(err.value).startswith(f'{xml} is not valid XML')
