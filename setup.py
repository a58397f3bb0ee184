from setuptools import find_packages, setup


def read_version() -> str:
    scope = {}
    with open('mmext/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmext',
    version=read_version(),
    description='Fast, exact evaluation and training modules for mmdet / '
    'mmpretrain',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'configs', 'tools', 'benchmarks')),
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy<2',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
        'mmpretrain==1.2.0',
        'pycocotools',
        'matplotlib',
        'rich',
    ],
    extras_require={
        'tests': ['pytest', 'hypothesis', 'scikit-learn', 'ultralytics'],
        'bench': [
            'faster-coco-eval', 'hotcoco', 'ultrafast-pycocotools',
            'ultralytics'
        ],
    },
    zip_safe=False,
)
