"""Generate the tiny VOC-format data set shipped in ``data/tiny/VOCdevkit``.

Objects are flat shapes with a distinct colour and shape per class (real VOC
class names), of varied sizes, several per image, some truncated by the image
border and some marked difficult, on a noisy background. The output is a
deterministic function of ``--seed``; the same files serve detection
(``Annotations/*.xml``) and multi-label classification (image-level labels
from the same XML).

Example:
    python tools/misc/make_tiny_voc.py --out data/tiny/VOCdevkit
"""
import argparse
import os
import os.path as osp
import random
import shutil
from typing import List, Tuple
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image, ImageDraw

# class name -> (shape, RGB colour)
CLASS_STYLES = {
    'aeroplane': ('triangle', (220, 30, 30)),
    'bicycle': ('circle', (30, 170, 40)),
    'bird': ('square', (30, 60, 220)),
    'boat': ('bar', (235, 200, 20)),
    'car': ('diamond', (200, 40, 200)),
    'person': ('pillar', (20, 190, 200)),
}
# (year, split, number of images, first image index)
SPLITS = [('2007', 'trainval', 120, 1), ('2007', 'test', 60, 1001),
          ('2012', 'trainval', 120, 1)]
DIFFICULT_SIZE = 20  # objects smaller than this (sqrt of area) are difficult

Box = Tuple[int, int, int, int]


def shape_polygon(shape: str, box: Box) -> List[Tuple[float, float]]:
    """Return the outline of ``shape`` filling ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2
    if shape == 'triangle':
        return [(cx, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)]
    if shape == 'diamond':
        return [(cx, y0), (x1 - 1, cy), (cx, y1 - 1), (x0, cy)]
    return [(x0, y0), (x1 - 1, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)]


def object_size(shape: str, rng: random.Random) -> Tuple[int, int]:
    """Draw a (width, height) for a class: bars are wide, pillars tall."""
    side = int(round(np.exp(rng.uniform(np.log(20), np.log(120)))))
    if shape == 'bar':
        return side, max(12, side * 2 // 5)
    if shape == 'pillar':
        return max(12, side * 2 // 5), side
    return side, side


def iou(a: Box, b: Box) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def render_image(rng: random.Random, width: int, height: int):
    """Render one image and return it with its objects.

    Returns:
        tuple: ``(PIL.Image, objects)``, each object a dict with ``name``,
        ``box`` (0-based, exclusive x1/y1), ``difficult``, ``truncated``.
    """
    np_rng = np.random.default_rng(rng.randrange(2**32))
    base = np.array([rng.randint(90, 200) for _ in range(3)], np.float32)
    noise = np_rng.normal(0, 12, (height // 4 + 1, width // 4 + 1, 3))
    noise = noise.repeat(4, 0).repeat(4, 1)[:height, :width]
    canvas = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    objects: List[dict] = []
    names = list(CLASS_STYLES)
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(names)
        shape, colour = CLASS_STYLES[name]
        w, h = object_size(shape, rng)
        w, h = min(w, width - 4), min(h, height - 4)
        for _attempt in range(20):
            # allow a few pixels outside the image: truncated objects
            x0 = rng.randint(-w // 4, width - 3 * w // 4)
            y0 = rng.randint(-h // 4, height - 3 * h // 4)
            full = (x0, y0, x0 + w, y0 + h)
            box = (max(0, x0), max(0, y0), min(width, x0 + w),
                   min(height, y0 + h))
            if box[2] - box[0] < 8 or box[3] - box[1] < 8:
                continue
            if all(iou(box, o['box']) < 0.2 for o in objects):
                break
        else:
            continue
        jitter = np.array([rng.randint(-25, 25) for _ in range(3)])
        fill = tuple(int(c) for c in np.clip(np.array(colour) + jitter, 0,
                                             255))
        if shape == 'circle':
            draw.ellipse([full[0], full[1], full[2] - 1, full[3] - 1],
                         fill=fill)
        else:
            draw.polygon(shape_polygon(shape, full), fill=fill)
        scale = ((box[2] - box[0]) * (box[3] - box[1]))**0.5
        objects.append(
            dict(
                name=name,
                box=box,
                truncated=int(box != full),
                difficult=int(scale < DIFFICULT_SIZE
                              or rng.random() < 0.05)))
    return canvas, objects


def voc_xml(filename: str, folder: str, width: int, height: int,
            objects: List[dict]) -> ET.ElementTree:
    """Build a VOC annotation; boxes are written 1-based and inclusive."""
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = folder
    ET.SubElement(root, 'filename').text = filename
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'mmext tiny VOC (synthetic)'
    size = ET.SubElement(root, 'size')
    for tag, value in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = str(obj['truncated'])
        ET.SubElement(node, 'difficult').text = str(obj['difficult'])
        bndbox = ET.SubElement(node, 'bndbox')
        x0, y0, x1, y1 = obj['box']
        for tag, value in (('xmin', x0 + 1), ('ymin', y0 + 1), ('xmax', x1),
                           ('ymax', y1)):
            ET.SubElement(bndbox, tag).text = str(value)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def make_tiny_voc(out_dir: str, seed: int = 0) -> dict:
    """Write the data set under ``out_dir`` (replaced if it exists).

    Args:
        out_dir (str): The ``VOCdevkit`` directory to create.
        seed (int): Seed of the generator. Defaults to 0.

    Returns:
        dict: ``{'VOC2007/trainval': n_images, ...}``.
    """
    tmp_dir = out_dir.rstrip('/') + '.tmp'
    shutil.rmtree(tmp_dir, ignore_errors=True)
    counts = {}
    for year, split, num_images, first in SPLITS:
        rng = random.Random(f'{seed}-{year}-{split}')
        voc = osp.join(tmp_dir, f'VOC{year}')
        for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
            os.makedirs(osp.join(voc, sub), exist_ok=True)
        ids = []
        for index in range(first, first + num_images):
            img_id = f'{index:06d}' if year == '2007' else f'{year}_{index:06d}'
            width, height = rng.randint(200, 300), rng.randint(180, 260)
            image, objects = render_image(rng, width, height)
            image.save(osp.join(voc, 'JPEGImages', f'{img_id}.jpg'),
                       quality=85)
            voc_xml(f'{img_id}.jpg', f'VOC{year}', width, height,
                    objects).write(
                        osp.join(voc, 'Annotations', f'{img_id}.xml'))
            ids.append(img_id)
        with open(osp.join(voc, 'ImageSets/Main', f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i}\n' for i in ids))
        counts[f'VOC{year}/{split}'] = len(ids)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp_dir, out_dir)  # never leave a half-written data set
    return counts


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/tiny/VOCdevkit')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    for split, count in make_tiny_voc(args.out, args.seed).items():
        print(f'{split}: {count} images')


if __name__ == '__main__':
    main()
