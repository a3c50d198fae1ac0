"""Draw samples/goat.jpg, the picture the durability samples upload.

The original guide asked learners to download a goat photo from the web. This
project draws its own instead, so the tutorial ships no third-party content and
the file is the same on every machine. Run it again with
``python samples/make_goat.py`` (Pillow is the only requirement).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 640, 480
SKY_TOP, SKY_BOTTOM = (120, 180, 235), (205, 230, 250)
GRASS, GRASS_DARK = (96, 168, 72), (70, 135, 55)
COAT, COAT_SHADE, HORN, HOOF = (238, 232, 220), (205, 196, 180), (150, 125, 90), (80, 70, 60)


def draw() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT))
    pen = ImageDraw.Draw(image)

    # sky: a vertical gradient, then a sun and the meadow
    for y in range(HEIGHT):
        t = y / HEIGHT
        colour = tuple(round(a + (b - a) * t) for a, b in zip(SKY_TOP, SKY_BOTTOM, strict=True))
        pen.line([(0, y), (WIDTH, y)], fill=colour)
    pen.ellipse([520, 40, 590, 110], fill=(255, 220, 90))
    pen.rectangle([0, 330, WIDTH, HEIGHT], fill=GRASS)
    for x in range(0, WIDTH, 14):
        pen.line([(x, HEIGHT), (x + 6, 322 + (x * 7) % 20)], fill=GRASS_DARK, width=2)

    # legs behind the body, then the body
    for x in (215, 250, 370, 405):
        pen.rectangle([x, 300, x + 20, 395], fill=COAT_SHADE)
        pen.rectangle([x, 385, x + 20, 400], fill=HOOF)
    pen.ellipse([180, 200, 450, 330], fill=COAT, outline=COAT_SHADE, width=3)
    pen.polygon([(445, 245), (490, 215), (470, 255)], fill=COAT)  # tail

    # neck and head, looking left
    pen.polygon([(215, 250), (170, 150), (215, 140), (260, 235)], fill=COAT)
    pen.ellipse([110, 110, 215, 185], fill=COAT, outline=COAT_SHADE, width=3)
    pen.ellipse([100, 140, 150, 185], fill=(225, 205, 200))  # muzzle
    pen.ellipse([114, 156, 122, 164], fill=HOOF)  # nostril
    pen.polygon([(130, 180), (150, 182), (138, 225)], fill=COAT_SHADE)  # beard
    pen.ellipse([160, 128, 178, 144], fill="white", outline=HOOF)
    pen.ellipse([166, 132, 176, 142], fill=(40, 30, 20))  # eye
    pen.polygon([(195, 125), (240, 115), (205, 145)], fill=COAT_SHADE)  # ear

    # horns curving back
    pen.arc([170, 60, 250, 140], start=180, end=290, fill=HORN, width=9)
    pen.arc([185, 70, 255, 140], start=190, end=290, fill=HORN, width=7)
    return image


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("goat.jpg")
    draw().save(target, "JPEG", quality=85, optimize=True)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
