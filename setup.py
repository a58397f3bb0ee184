"""mmext's packaging.

``install_requires`` holds the ranges mmext works with, so that it installs
into an existing OpenMMLab 2.x environment without replacing its stack; the
exact tested set is ``constraints.txt``, which ``tools/misc/setup_env.sh``
passes to every ``pip install``. Wheels carry ``configs/`` as
``mmext/.mim/configs`` (mmdet's layout; see ``mmext.get_config_path``).
"""
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


def read_version() -> str:
    """Return ``__version__`` from mmext/version.py without importing mmext.

    Returns:
        str: The version.
    """
    scope = {}
    with open('mmext/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithConfigs(build_py):
    """``build_py`` that copies ``configs/`` into ``mmext/.mim/configs``.

    The copy goes to the build folder only: the source tree holds one set of
    configs, and an editable install reads them from ``configs/``.
    """

    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = os.path.join(self.build_lib, 'mmext', '.mim', 'configs')
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(
            'configs', target, ignore=shutil.ignore_patterns('__pycache__'))


# mmpretrain is needed only by the multi-label configs: the multi-label
# metric and losses import neither it nor torchvision.
MMPRETRAIN = ['mmpretrain>=1.0.0,<2.0.0', 'torchvision']

setup(
    name='mmext',
    version=read_version(),
    description='Fast, exact evaluation and training modules for mmdet / '
    'mmpretrain',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(
        exclude=('tests', 'tests.*', 'configs', 'tools', 'benchmarks')),
    cmdclass={'build_py': BuildPyWithConfigs},
    install_requires=[
        # add_safe_globals (2.4) and the weights_only default (2.6) are
        # checked at run time; older 2.x loads checkpoints as before.
        'torch>=2.0',
        # mmcv 2.1 / mmdet 3.3 are built against numpy 1.x, and the safe
        # checkpoint globals are numpy 1.x's pickled names.
        'numpy<2',
        'mmengine>=0.10.0,<1.0.0',
        # mmext uses no mmcv API itself; mmdet 3.x needs mmcv's ops, and its
        # own metadata does not declare mmcv (mim installs it).
        'mmcv>=2.0.0rc4,<2.2.0',
        # registry, BaseAssigner/AssignResult, BboxOverlaps2D,
        # weight_reduce_loss, BaseDetDataset: all present since 3.0.
        'mmdet>=3.0.0,<3.4.0',
        'matplotlib',
        # COCO json ingest of tools/analysis/eval_dets.py (3x the stdlib)
        'orjson>=3.9',
        # typed decoding of COCO results json (records, no dict per entry)
        'msgspec>=0.18',
        'Pillow',
        'rich',
        'terminaltables',
    ],
    extras_require={
        'mmpretrain': MMPRETRAIN,
        'tests': [
            'build', 'pytest', 'pytest-randomly', 'pytest-xdist', 'hypothesis',
            'import-linter', 'mutmut', 'pycocotools', 'scikit-learn', 'tidecv',
            'ultralytics'
        ] + MMPRETRAIN,
        'bench': [
            'faster-coco-eval', 'hotcoco', 'ultrafast-pycocotools',
            'ultralytics'
        ],
    },
    zip_safe=False,
)
