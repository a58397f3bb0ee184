"""mmext.datasets.category_ids imports neither mmdet nor mmpretrain (some
seconds each, and a classification user need not have mmdet), and still
recognises their stock ``get_cat_ids`` when they are imported later."""
import textwrap

import pytest

from tests.helpers.process import run

PROBE = textwrap.dedent("""
    import sys
    from mmext.datasets import category_ids
    from mmext.datasets.repeat_factor_dataset import RepeatFactorDataset
    print('heavy', sorted(m for m in ('mmdet', 'mmpretrain')
                          if m in sys.modules))
    # imported afterwards, as a config's data set type would be
    from mmdet.datasets import VOCDataset
    from mmpretrain.datasets import VOC as MultiLabelVOC
    from tests.helpers.repeat_factor import voc_kwargs
    det = VOCDataset(**voc_kwargs())
    cls = MultiLabelVOC(data_root='data/tiny/VOCdevkit/VOC2007',
                        split='trainval', pipeline=[])
    for ds in (det, cls):
        cats = category_ids.collect_image_categories(ds)
        print('field', type(ds).__name__, cats.field, len(cats.lengths))
""")


@pytest.mark.slow  # a fresh interpreter importing torch, mmdet, mmpretrain
def test_no_upstream_import_and_stock_ids_recognised_later():
    proc = run(['python', '-c', PROBE])
    lines = proc.stdout.splitlines()
    assert "heavy []" in lines, proc.stdout
    fields = {line.split()[1]: line.split()[2:] for line in lines
              if line.startswith('field ')}
    # read straight from the stored infos: the stock functions' fields
    assert fields['VOCDataset'][0] == 'instances[].bbox_label'
    assert fields['VOC'][0] == 'gt_label'
    assert int(fields['VOCDataset'][1]) > 0 and int(fields['VOC'][1]) > 0
