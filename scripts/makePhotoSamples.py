#!/usr/bin/env python3
"""Makes the playground's photographs and text images (media/samples/*.jpg, text_*.png).

Photographs: public-domain and CC0 images that scikit-image ships (Debian: python3-skimage),
centre-cropped to a square and downscaled to 224 x 224 (the input size of ImageNet models).
The licence of each is in media/samples/LICENSE.md, as scikit-image's own documentation of
skimage.data states it.

Text images, for OCR models (PaddleOCR's direction classifier takes 3 x 48 x 192, its text
detector any multiple of 32): lines of text rendered here with Pillow and the DejaVu fonts
(Debian: fonts-dejavu-core); the words are this project's own.

Usage: /usr/bin/python3 scripts/makePhotoSamples.py   (needs python3-skimage and python3-pil)
"""
import os

from PIL import Image, ImageDraw, ImageFont
from skimage import data

SIDE = 224
# Quality 88: a 224 x 224 photograph in 15-30 KB, no visible blocks at the playground's sizes.
JPEG_QUALITY = 88
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'media', 'samples')

# name -> (loader, horizontal centre of the crop as a fraction of the width)
PHOTOS = {
    'astronaut': (data.astronaut, 0.5),
    'coffee': (data.coffee, 0.5),
    'chelsea': (data.chelsea, 0.45),
    'rocket': (data.rocket, 0.5),
}


def square(image: Image.Image, centre_x: float) -> Image.Image:
    width, height = image.size
    side = min(width, height)
    left = min(max(0, round(centre_x * width - side / 2)), width - side)
    top = (height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((SIDE, SIDE), Image.LANCZOS)


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = 'DejaVuSans-Bold.ttf' if bold else 'DejaVuSans.ttf'
    return ImageFont.truetype(os.path.join('/usr/share/fonts/truetype/dejavu', name), size)


def text_line() -> Image.Image:
    """One line of dark text on a light ground, 192 x 48: the direction classifier's input."""
    image = Image.new('RGB', (192, 48), (246, 244, 238))
    draw = ImageDraw.Draw(image)
    draw.text((8, 10), 'Separable 3x3', font=font(22), fill=(24, 24, 28))
    return image


def text_page() -> Image.Image:
    """A few lines in several sizes and colours, 320 x 192: the text detector's input."""
    image = Image.new('RGB', (320, 192), (250, 250, 247))
    draw = ImageDraw.Draw(image)
    draw.text((12, 10), 'Depthwise conv', font=font(30, bold=True), fill=(20, 20, 24))
    draw.text((12, 56), 'then a 1x1 pointwise conv', font=font(20), fill=(40, 40, 90))
    draw.text((12, 92), 'MACs: 1/Cout + 1/9', font=font(22), fill=(150, 30, 30))
    draw.rectangle((12, 134, 308, 178), fill=(232, 238, 248))
    draw.text((20, 142), 'INVOICE No. 2024-0117', font=font(20, bold=True), fill=(20, 40, 80))
    return image


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for name, (load, centre_x) in PHOTOS.items():
        path = os.path.join(OUT, f'{name}.jpg')
        square(Image.fromarray(load()).convert('RGB'), centre_x).save(path, quality=JPEG_QUALITY, optimize=True)
        print(f'wrote {path} ({os.path.getsize(path)} bytes)')
    for name, make in (('text_line', text_line), ('text_page', text_page)):
        path = os.path.join(OUT, f'{name}.png')
        make().save(path, optimize=True)
        print(f'wrote {path} ({os.path.getsize(path)} bytes)')


if __name__ == '__main__':
    main()
