"""The read pipeline's steps on their own (no model needed): loading every kind of input and every
kind of bad input, finding ink, segmenting and line grouping."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mydigits import binarizing, loading, normalizing, segmenting
from mydigits.errors import MydigitsError
from mydigits.reading import Reader, _unrotate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _one_line_error(exc: pytest.ExceptionInfo, name: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(name), msg


# -- loading: bad input ----------------------------------------------------------------------


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not a picture\n")
    with pytest.raises(MydigitsError) as exc:
        loading.load(p)
    _one_line_error(exc, str(p))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(MydigitsError, match="empty") as exc:
        loading.load(p)
    _one_line_error(exc, str(p))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MydigitsError, match="not found"):
        loading.load(tmp_path / "nope.png")
    with pytest.raises(MydigitsError, match="folder"):
        loading.load(tmp_path)


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_truncated(tmp_path, kind):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    data = _png_bytes(img) if kind == "png" else _jpeg_bytes(img)
    p = tmp_path / f"cut.{kind}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MydigitsError) as exc:
        loading.load(p)
    _one_line_error(exc, str(p))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_refused_before_decoding(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)  # 900 megapixels, gray
    idat = zlib.compress(b"\x00" * 100)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
    data += _png_chunk(b"IEND", b"")
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    with pytest.raises(MydigitsError, match="too large") as exc:
        loading.load(p)
    _one_line_error(exc, str(p))


def test_bad_array():
    with pytest.raises(MydigitsError):
        loading.load(np.zeros((4, 4, 7), np.uint8))
    with pytest.raises(MydigitsError):
        loading.load(np.zeros((0, 5), np.uint8))


# -- loading: good input of every kind --------------------------------------------------------


def test_exif_orientation_applied(tmp_path):
    arr = np.full((60, 100, 3), 255, np.uint8)
    arr[:10, :10] = 0  # dark mark at the stored image's top left
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rotated.jpg"
    p.write_bytes(_jpeg_bytes(img, exif=exif.tobytes()))
    out = loading.load_image(p)
    assert out.shape[:2] == (100, 60)  # upright: tall
    assert out[:10, -10:].mean() < 60  # the mark is now at the top right
    loaded = loading.load(p)
    assert loaded.original_size == (60, 100)


def test_16bit_palette_alpha_gif():
    ramp = (np.arange(256, dtype=np.uint16)[None, :].repeat(20, 0) * 257).astype(np.uint16)
    im16 = Image.fromarray(ramp)
    assert im16.mode.startswith("I;16")
    out = loading.load_image(_png_bytes(im16))
    assert out.dtype == np.uint8 and out.shape == (20, 256)
    assert abs(int(out[0, 200]) - 200) <= 1

    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[:, 15:] = (200, 30, 30)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = loading.load_image(_png_bytes(pal))
    assert out.shape == (30, 30, 3) and tuple(out[5, 20]) == pytest.approx((200, 30, 30), abs=3)

    rgba = np.zeros((30, 30, 4), np.uint8)  # fully transparent black...
    rgba[10:20, 10:20] = (0, 0, 0, 255)  # ...with an opaque black square
    out = loading.load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].min() == 255 and out[15, 15].max() == 0

    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (10, 240)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = loading.load_image(buf.getvalue())
    assert out.mean() < 50  # the first frame


def test_array_sources():
    gray = np.full((50, 60), 200, np.uint8)
    assert loading.load_image(gray).shape == (50, 60)
    assert loading.load_image(gray.astype(np.float32) / 255).max() == 200
    rgba = np.zeros((50, 60, 4), np.uint8)
    assert loading.load_image(rgba).min() == 255  # transparent -> white


def test_big_image_downscaled_with_scale():
    big = np.full((1000, 6000), 255, np.uint8)
    loaded = loading.load(big)
    assert max(loaded.pixels.shape) <= loading.WORK_SIDE * 1.1
    assert loaded.scale == pytest.approx(6000 / loaded.pixels.shape[1])
    assert loaded.original_size == (6000, 1000)


def test_big_jpeg_uses_draft(tmp_path):
    img = Image.fromarray(np.full((3000, 4000, 3), 230, np.uint8))
    p = tmp_path / "big.jpg"
    img.save(p, quality=80)
    loaded = loading.load(p)
    assert max(loaded.pixels.shape[:2]) <= loading.WORK_SIDE * 1.1
    assert loaded.original_size == (4000, 3000)
    assert loaded.scale == pytest.approx(4000 / loaded.pixels.shape[1], rel=1e-3)


# -- binarizing -------------------------------------------------------------------------------


def _paper(h=300, w=400, shadow=0.5):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - shadow * (xx / w) ** 2
    rng = np.random.default_rng(1)
    img = 235 * light[..., None] + rng.normal(0, 3, (h, w, 1))
    return np.clip(np.repeat(img, 3, 2), 0, 255).astype(np.uint8)


def test_blank_paper_has_no_ink():
    ink = binarizing.binarize(_paper())
    assert ink.mask.sum() == 0


def test_grainy_paper_is_smoothed_and_its_ink_found():
    img = _paper()
    cv2.circle(img, (200, 150), 60, (40, 40, 60), 5)
    clean = binarizing.ink_gray(img, False)
    assert binarizing.noise_level(clean) < binarizing.NOISY and binarizing.denoised(clean) is clean
    grain = 1 + 0.15 * np.random.default_rng(0).standard_normal(img.shape[:2])
    grainy = np.clip(img * grain[..., None], 0, 255).astype(np.uint8)
    gray = binarizing.ink_gray(grainy, False)
    assert binarizing.noise_level(gray) > binarizing.NOISY
    assert binarizing.noise_level(binarizing.denoised(gray)) < binarizing.NOISY
    # the grain made thousands of specks of "ink"; smoothed, the circle is the only mark
    n, _ = cv2.connectedComponents(binarizing.binarize(grainy).mask)
    assert n - 1 == 1


def test_blur_is_measured_and_undone():
    img = _paper()
    cv2.putText(img, "2839", (60, 190), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (40, 40, 60), 4, cv2.LINE_AA)

    def blur_of(pixels):
        gray = binarizing.ink_gray(pixels, False)
        strength, _, mask = binarizing._ink(gray, binarizing.background(gray))
        return binarizing.blur_sigma(strength, mask)

    blurred = cv2.GaussianBlur(img, (0, 0), 3.0)
    assert blur_of(img) < binarizing.BLURRED < blur_of(blurred) < 4.5
    # sharpened, the strokes are as thin as in focus again, and the paper as bright
    gray = binarizing.ink_gray(blurred, False)
    sharp = binarizing.deblurred(gray, blur_of(blurred))
    assert abs(float(np.median(sharp)) - float(np.median(gray))) < 3
    widths = [binarizing._stroke_width(binarizing.binarize(p).mask) for p in (img, blurred)]
    assert widths[1] < 1.5 * widths[0]


def test_coloured_and_light_ink():
    img = _paper()
    cv2.circle(img, (200, 150), 60, (200, 30, 30), 4)  # red ink
    ink = binarizing.binarize(img)
    assert not ink.inverted and ink.mask[150, 140:146].any()
    dark = np.full((300, 400, 3), 25, np.uint8)
    cv2.circle(dark, (200, 150), 60, (240, 240, 90), 6)  # yellow on a dark canvas
    ink = binarizing.binarize(dark)
    assert ink.inverted and ink.mask[150, 137:143].any() and ink.mask[0, 0] == 0


def test_ink_on_coloured_paper_balanced_to_the_paper():
    img = np.empty((200, 300, 3), np.uint8)
    img[:] = (40, 150, 110)  # green card
    img[90:110, 50:250] = (25, 25, 30)  # a black stroke
    assert binarizing.paper_gain(img) == pytest.approx([3.75, 1.0, 150 / 110])
    plain, balanced = (binarizing.ink_gray(img, False, b).astype(int) for b in (False, True))
    # in the darkest channel the card is nearly as dark as the ink; balanced, it is as bright as
    # in its brightest channel
    assert plain[0, 0] - plain[100, 100] == 15 and balanced[0, 0] - balanced[100, 100] == 125
    gray = np.full((200, 300), 200, np.uint8)
    assert (binarizing.ink_gray(gray, False, True) == gray).all() and (binarizing.paper_gain(gray) == 1).all()


@pytest.mark.parametrize("covered", [0.4, 0.5, 0.6])
def test_polarity_of_a_sheet_half_in_shadow_or_on_a_desk(covered):
    # the picture's median fell between the lit paper and the rest, and the lit paper, the brighter
    # "minority", was taken for light ink: nothing was read at all
    h, w = 300, 400
    img = _paper(h, w, shadow=0.0)
    for x in range(60, 340, 40):
        cv2.line(img, (x, 40), (x + 15, 90), (30, 30, 40), 4)  # strokes on the lit paper
    cut = int(w * (1 - covered))
    shadowed = img.copy()
    shadowed[:, cut:] = (shadowed[:, cut:] * 0.5).astype(np.uint8)
    assert not binarizing.polarity_is_light_ink(cv2.GaussianBlur(shadowed, (0, 0), 2))
    on_desk = img.copy()
    on_desk[:, cut:] = (70, 55, 45)  # the sheet lies on a dark desk
    assert not binarizing.polarity_is_light_ink(on_desk)


def test_a_bright_line_on_blank_paper_is_not_light_ink():
    # with the paper's gradient no longer counting, the only marks on a blank sheet were a fold
    # catching the light, and its "1" was read; light ink is written on a dark surface
    img = _paper(600, 600, shadow=0.3)
    img = (img.astype(np.float32) * 0.8).astype(np.uint8)
    cv2.line(img, (250, 0), (290, 599), (225, 225, 225), 2)
    assert not binarizing.polarity_is_light_ink(img)
    assert not binarizing.binarize(img).mask.any()


def test_polarity_of_broad_light_strokes():
    # a canvas drawing with a broad brush: inside its loops the strokes are the neighbourhood's
    # majority, and the dark canvas there must not count as dark ink
    dark = np.full((280, 280), 0, np.uint8)
    cv2.circle(dark, (140, 100), 55, 255, 45)
    cv2.circle(dark, (140, 200), 60, 255, 45)
    assert binarizing.polarity_is_light_ink(dark)


def test_grid_lines_removed_digit_kept():
    img = _paper(shadow=0.2)
    for x in range(0, 400, 40):
        cv2.line(img, (x, 0), (x, 300), (120, 120, 120), 1)
    for y in range(0, 300, 40):
        cv2.line(img, (0, y), (400, y), (120, 120, 120), 1)
    cv2.ellipse(img, (200, 150), (30, 50), 0, 0, 360, (20, 20, 20), 5)  # a "0" over the grid
    ink = binarizing.binarize(img)
    seg = segmenting.find_candidates(ink.mask)
    assert len(seg.candidates) == 1
    x, y, w, h = seg.candidates[0].box
    assert abs(x + w / 2 - 200) < 6 and abs(h - 105) < 12


@pytest.mark.parametrize("degrees", [-12, 7, 25])
def test_grid_photographed_askew_is_measured_and_removed(degrees):
    # a grid tilted past a degree or two breaks into pieces too short for the upright search:
    # it stayed, and the 0 on it was one mark with the whole grid
    img = _paper(shadow=0.2)
    for x in range(40, 400, 40):  # a block of graph paper on a sheet
        cv2.line(img, (x, 30), (x, 270), (120, 120, 120), 2)
    for y in range(30, 300, 40):
        cv2.line(img, (40, y), (360, y), (120, 120, 120), 2)
    cv2.ellipse(img, (200, 150), (30, 50), 0, 0, 360, (20, 20, 20), 5)
    img = loading.tilted(img, degrees, border=cv2.BORDER_REPLICATE)[0]
    raw = binarizing.binarize(img, remove_lines=False)
    assert abs(binarizing.line_tilt(raw.mask) + degrees) < 1.0
    seg = segmenting.find_candidates(binarizing.binarize(img).mask)
    assert len(seg.candidates) == 1 and 95 < seg.candidates[0].box[3] < 125


def test_slanted_digit_strokes_are_not_lines():
    # two parallel strokes at a slant ("11") measure as lines askew; searched for level, they are
    # strokes as they would be upright
    img = np.full((400, 400), 255, np.uint8)
    cv2.line(img, (120, 40), (180, 360), 0, 14)
    cv2.line(img, (240, 40), (300, 360), 0, 14)
    ink = binarizing.binarize(img)
    assert abs(binarizing.line_tilt(ink.mask) + 10.6) < 1.0
    assert ink.lines.sum() == 0
    # a lone slanted stroke, or a digit's curve, is not measured at all
    img[:, 200:] = 255
    cv2.ellipse(img, (280, 200), (100, 150), 20, 200, 340, 0, 12)
    assert binarizing.line_tilt(binarizing.binarize(img).mask) == 0.0


def test_long_digit_strokes_are_not_lines():
    img = np.full((600, 600, 3), 255, np.uint8)
    cv2.line(img, (300, 60), (310, 540), (0, 0, 0), 8)  # a big "1"
    ink = binarizing.binarize(img)
    assert ink.lines.sum() == 0 and ink.mask.sum() > 3000


def test_a_stroke_spanning_the_picture_is_a_line_only_if_printed():
    # a 1 from the top of its canvas to the bottom ends on the paper and is as thick as a pen
    img = np.full((280, 280), 255, np.uint8)
    cv2.line(img, (150, 10), (135, 270), 0, 16)
    ink = binarizing.binarize(img)
    assert ink.lines.sum() == 0 and ink.mask.sum() > 3000
    # a printed rule as long is a hairline, and one as thick runs off the picture
    for thickness, ends in ((2, 10), (16, 0)):
        img = np.full((280, 280), 255, np.uint8)
        img[::7] = 250  # paper texture, so that the rule is not the picture's only contrast
        cv2.line(img, (140, ends), (140, 279 - ends), 0, thickness)
        ink = binarizing.binarize(img)
        assert ink.lines.sum() > 0 and ink.mask.sum() == 0


# -- segmenting -------------------------------------------------------------------------------


def test_detached_bar_merged():
    mask = np.zeros((200, 200), np.uint8)
    cv2.line(mask, (70, 60), (120, 60), 1, 5)  # top bar of a 5, not touching
    cv2.ellipse(mask, (95, 120), (30, 35), 0, -120, 180, 1, 5)
    cv2.line(mask, (72, 70), (75, 100), 1, 5)
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 1


def test_thousands_of_pieces_merge_pairwise():
    # a texture photo gives thousands of components; merging once restarted its scan after every
    # merge (30 s for one picture). 900 "50"s whose 5 has a detached bar: 1,800 digits, each 5 of
    # two pieces.
    mask = np.zeros((1200, 1200), np.uint8)
    for y in range(0, 1200, 40):
        for x in range(0, 1200, 40):
            cv2.line(mask, (x + 5, y + 4), (x + 15, y + 4), 1, 2)
            cv2.ellipse(mask, (x + 10, y + 17), (6, 7), 0, -120, 180, 1, 2)
            cv2.ellipse(mask, (x + 28, y + 14), (6, 10), 0, 0, 360, 1, 2)
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 1800
    assert sorted(len(c.ids) for c in seg.candidates) == [1] * 900 + [2] * 900


def test_specks_and_dashes_rejected():
    mask = np.zeros((200, 400), np.uint8)
    cv2.ellipse(mask, (100, 100), (25, 40), 0, 0, 360, 1, 4)
    cv2.ellipse(mask, (200, 100), (25, 40), 0, 0, 360, 1, 4)
    cv2.circle(mask, (300, 135), 4, 1, -1)  # a full stop
    cv2.line(mask, (250, 100), (340, 100), 1, 3)  # a dash
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 2
    assert sorted(r for _, r in seg.rejected) == ["line or dash", "too small"]


def _cand(x, y, w=20, h=40):
    return segmenting.Candidate((x, y, w, h), [0])


def test_lines_and_numbers():
    row1 = [_cand(10 + 30 * i, 10 + i) for i in range(4)] + [_cand(200, 14)]
    row2 = [_cand(10 + 30 * i, 100 - i) for i in range(3)]
    lines = segmenting.group_lines(row2 + row1[::-1], 40)
    assert [len(ln) for ln in lines] == [5, 3]
    numbers = segmenting.split_numbers(lines[0], 40)
    assert [len(n) for n in numbers] == [4, 1]


def test_tilted_lines():
    # two lines rising 0.2 pixel per pixel: the second line's left end is above the first's right
    row1 = [_cand(10 + 25 * i, int(300 - 0.2 * 25 * i)) for i in range(20)]
    row2 = [_cand(10 + 25 * i, int(360 - 0.2 * 25 * i)) for i in range(20)]
    lines = segmenting.group_lines(row1 + row2, 40)
    assert [len(ln) for ln in lines] == [20, 20]
    assert lines[0][0].box[1] == 300


def test_close_numbers_split_by_the_lines_own_spacing():
    # "27 28 29 30 31": digits 0.15 heights apart inside a number, 0.7 between numbers (less than
    # NUMBER_GAP, but clearly a second group of gaps)
    line, x = [], 10
    for _ in range(5):
        for _ in range(2):
            line.append(_cand(x, 10))
            x += 20 + 6
        x += 28 - 6
    assert [len(n) for n in segmenting.split_numbers(line, 40)] == [2] * 5
    # one number with uneven spacing stays one number: a single wider gap is no second group
    uneven = [_cand(10, 10), _cand(36, 10), _cand(62, 10), _cand(106, 10), _cand(132, 10)]
    assert [len(n) for n in segmenting.split_numbers(uneven, 40)] == [5]
    # evenly spaced digits: one number
    even = [_cand(10 + 40 * i, 10) for i in range(8)]
    assert [len(n) for n in segmenting.split_numbers(even, 40)] == [8]


def test_lone_small_mark_is_a_stray():
    row = [_cand(10 + 30 * i, 100) for i in range(5)]
    speck = _cand(300, 400, 14, 16)  # a shadow's corner far below the line
    small_digit = _cand(160, 105, 12, 18)  # small, but written right after the number
    kept, strays = segmenting.drop_strays(row + [speck, small_digit], 40)
    assert strays == [speck] and small_digit in kept and len(kept) == 6
    # a picture of one small digit (nothing to compare with) keeps it
    assert segmenting.drop_strays([speck], 40) == ([speck], [])


def test_filled_shape_rejected():
    mask = np.zeros((200, 500), np.uint8)
    cv2.ellipse(mask, (100, 100), (25, 40), 0, 0, 360, 1, 6)  # a "0" drawn with a bold marker
    cv2.ellipse(mask, (200, 100), (25, 40), 0, 0, 360, 1, 6)
    cv2.ellipse(mask, (400, 100), (30, 42), 0, 0, 360, 1, -1)  # a solid shape of the same size
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 2
    assert [r for _, r in seg.rejected] == ["filled shape"]


def test_filled_shape_beside_a_digit_goes_to_the_model():
    # the same shape in the row of digits, a letter space away: a bold MNIST 4 or 6, whose loop
    # or triangle the marker filled, looks like that and was refused inside its number (the model
    # has "not a digit" for the solid shapes: test_reading)
    mask = np.zeros((200, 400), np.uint8)
    cv2.ellipse(mask, (100, 100), (25, 40), 0, 0, 360, 1, 6)
    cv2.ellipse(mask, (200, 100), (25, 40), 0, 0, 360, 1, 6)
    cv2.ellipse(mask, (300, 100), (30, 42), 0, 0, 360, 1, -1)
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 3 and seg.rejected == []


def test_edge_of_the_page_unless_beside_a_digit():
    mask = np.zeros((200, 600), np.uint8)
    cv2.line(mask, (8, 60), (8, 140), 1, 5)  # a page's edge, a margin away from the writing
    for x in (210, 310, 410, 510):
        cv2.ellipse(mask, (x, 100), (25, 40), 0, 0, 360, 1, 6)
    seg = segmenting.find_candidates(mask)
    assert [r for _, r in seg.rejected] == [segmenting.EDGE_OF_PAGE] and len(seg.candidates) == 4
    # the last 1 of a number written up to the picture's right edge, a letter space from the 0
    cv2.line(mask, (575, 60), (575, 140), 1, 5)
    seg = segmenting.find_candidates(mask)
    assert len(seg.candidates) == 5 and [r for _, r in seg.rejected] == [segmenting.EDGE_OF_PAGE]


def test_digits_in_a_line_of_letters_are_dropped():
    line = [_cand(10 + 30 * i, 100) for i in range(5)]  # "hello": h, e rejected by the model
    digits, others = line[2:], line[:2]
    kept, dropped = segmenting.text_lines(digits, others, 40)
    assert kept == [] and dropped == digits
    # a long number with one doubtful digit keeps the rest
    number = [_cand(10 + 30 * i, 300) for i in range(6)]
    kept, dropped = segmenting.text_lines(number[1:] + digits, number[:1] + others, 40)
    assert kept == number[1:] and dropped == digits


def test_a_number_beside_words_is_kept():
    # "Total 250 ok": T, t, a rejected, o and l read as digits; the number stands apart
    total = [_cand(10 + 30 * i, 100) for i in range(5)]
    number = [_cand(250 + 30 * i, 100) for i in range(3)]
    ok = [_cand(420, 100), _cand(450, 100)]
    others = [total[0], total[2], total[3], ok[1]]
    digits = [total[1], total[4], *number, ok[0]]
    kept, dropped = segmenting.text_lines(digits, others, 40)
    assert kept == number and dropped == [total[1], total[4], ok[0]]
    # a lone digit-like mark between words ("I") goes with them
    lone = _cand(160, 100)
    kept, dropped = segmenting.text_lines([lone, total[1]], [total[0], total[2]], 40)
    assert kept == [] and dropped == [total[1], lone]


def test_a_number_a_word_space_after_a_word_is_kept():
    # "vex 63" in bold print as big as the digits: v and x rejected, e read as a digit; the number
    # is under a digit height away (one number by NUMBER_GAP) but a word space from the "x"
    vex = [_cand(10 + 22 * i, 100) for i in range(3)]
    number = [_cand(102, 100), _cand(128, 100)]
    kept, dropped = segmenting.text_lines([vex[1], *number], [vex[0], vex[2]], 40)
    assert kept == number and dropped == [vex[1]]
    # the same marks with letter spacing before the number are one word
    close = [_cand(76, 100), _cand(102, 100)]
    kept, dropped = segmenting.text_lines([vex[1], *close], [vex[0], vex[2]], 40)
    assert kept == [] and dropped == [vex[1], *close]


def test_a_word_is_not_saved_by_the_splitter():
    # "kMH": k rejected, M rejected whole but cut into "1" and "4", H read as 4
    k, m1, m4, h = (_cand(10 + 30 * i, 100) for i in range(4))
    kept, dropped = segmenting.text_lines([m1, m4, h], [k], 40, doubtful=[m1, m4])
    assert kept == [] and dropped == [m1, m4, h]
    # "2024" written as two touching pairs, each rejected whole and cut in two: nothing else is
    # in the line, so the number stays (a doubtful speck elsewhere does not change that)
    pairs = [_cand(10 + 30 * i, 300) for i in range(4)]
    speck = _cand(10, 500)
    kept, dropped = segmenting.text_lines(pairs, [speck], 40, doubtful=pairs)
    assert kept == pairs and dropped == []


def test_digits_in_a_pattern_are_dropped():
    # a brick wall or foliage: marks all over, most of them "not a digit", a few that look like 1s
    marks = [(40 + 50 * i, 40 + 60 * j, 20, 40) for i in range(8) for j in range(6)]
    ones = [_cand(65 + 100 * i, 70, 20, 40) for i in range(3)]
    kept, dropped = segmenting.in_clutter(ones, marks, 40)
    assert kept == [] and dropped == ones
    # a number written on clean paper beside that pattern is kept, and a page with a few doubtful
    # marks keeps its digits
    number = [_cand(900 + 30 * i, 100) for i in range(4)]
    kept, dropped = segmenting.in_clutter(number + ones, marks, 40)
    assert kept == number and dropped == ones
    kept, dropped = segmenting.in_clutter(number, [(1000, 100, 20, 40), (1030, 100, 20, 40)], 40)
    assert kept == number


def test_ones_beside_marks_that_are_not_digits_are_strokes():
    def read_as(x, digit):
        c = _cand(x, 100)
        c.probs = np.eye(11, dtype=np.float32)[digit]
        return c

    ones = [read_as(100, 1), read_as(130, 1)]
    # beside a mark the reader rejected (a drawing's body, a word), strokes read as 1 go
    assert segmenting.lone_ones(ones, marks=1) == ([], ones)
    # on clean paper they are 1s, and beside any other digit the whole reading stays
    assert segmenting.lone_ones(ones, marks=0) == (ones, [])
    number = ones + [read_as(160, 7)]
    assert segmenting.lone_ones(number, marks=3) == (number, [])


def test_a_row_of_five_ones_is_hatching_but_a_number_with_ones_stays():
    def read_as(x, digit):
        c = _cand(x, 100)
        c.probs = np.eye(11, dtype=np.float32)[digit]
        return c

    hatching = [read_as(100 + 30 * i, 1) for i in range(6)]
    year = [read_as(400, 2), *(read_as(430 + 30 * i, 1) for i in range(2)), read_as(490, 9)]
    kept, dropped = segmenting.stroke_rows(hatching + year, 40)
    assert kept == year and dropped == hatching
    four = [read_as(100 + 30 * i, 1) for i in range(4)] + [read_as(220, 0)]  # 11110, a binary number
    assert segmenting.stroke_rows(four, 40) == (four, [])


def _stroke_crop(lean_deg: float) -> np.ndarray:
    crop = np.zeros((28, 28), np.float32)
    dx = 9 * np.tan(np.radians(lean_deg))
    cv2.line(crop, (round(14 - dx), 5), (round(14 + dx), 23), 1.0, 2, cv2.LINE_AA)
    return crop


@pytest.mark.parametrize("lean_deg", [-40, -20, 0, 25, 40])
def test_lean_of_a_stroke(lean_deg):
    assert segmenting.lean(_stroke_crop(lean_deg)) == pytest.approx(lean_deg, abs=4)


def test_ones_leaning_every_way_are_strokes_of_a_drawing():
    def one(x, y, lean_deg):
        c = _cand(x, y)
        c.crop = _stroke_crop(lean_deg)
        return c

    # a roof /\ beside an upright post: all three go; a number written with one slant stays
    roof = [one(100, 100, -35), one(130, 100, 35), one(160, 100, 0)]
    number = [one(600 + 30 * i, 100, a) for i, a in enumerate((10, 25, 18, 30))]
    kept, dropped = segmenting.opposed_strokes(roof + number, 40)
    assert kept == number and dropped == roof
    # strokes leaning both ways but far apart (two numbers in two hands) do not meet
    far = [one(100, 100, -30), one(400, 100, 30)]
    assert segmenting.opposed_strokes(far, 40) == (far, [])


def test_slanted_cut_separates_leaning_strokes():
    ink = np.zeros((90, 70), np.float32)
    cv2.line(ink, (30, 2), (5, 88), 1.0, 4)  # two strokes leaning right, overlapping in x
    cv2.line(ink, (64, 2), (39, 88), 1.0, 4)
    lean = segmenting.slant(ink)
    assert lean == pytest.approx(-25 / 86, abs=0.05)
    assert segmenting._cut_columns(ink, 1, 0.0)  # a straight cut exists but cuts both strokes
    xc = segmenting._cut_columns(ink, 1, lean)[0]
    left = segmenting._cut_masks(ink.shape, xc, lean)
    first = np.zeros_like(ink)
    cv2.line(first, (30, 2), (5, 88), 1.0, 4)
    assert (ink[left] > 0).sum() == (first > 0).sum() and (ink[~left] > 0).sum() == ((ink > 0) & (first == 0)).sum()


def test_path_cut_threads_between_digits_that_overlap_in_x():
    # an L and a mirrored one interlocked: the first's foot runs under the second's arm, so every
    # straight cut takes a piece of one with the other; the path through no ink does not
    ink = np.zeros((60, 50), np.float32)
    first, second = np.zeros_like(ink), np.zeros_like(ink)
    cv2.line(first, (8, 2), (8, 56), 1.0, 4)
    cv2.line(first, (8, 56), (28, 56), 1.0, 4)  # foot
    cv2.line(second, (40, 2), (40, 56), 1.0, 4)
    cv2.line(second, (20, 3), (40, 3), 1.0, 4)  # arm
    ink = np.maximum(first, second)
    xc = 24
    straight = segmenting._cut_masks(ink.shape, xc, 0.0)
    assert (second[straight] > 0).any() and (first[~straight] > 0).any()
    left = segmenting._path_cuts(ink, [xc], 12)[0]
    assert not (second[left] > 0).any() and not (first[~left] > 0).any()
    assert (first[left] > 0).sum() == (first > 0).sum()


@pytest.mark.parametrize("i,j", [(9449, 6250), (5628, 1924), (2454, 5523), (7278, 4282), (5782, 7756), (6636, 1544)])
def test_touching_mnist_pairs_are_cut_where_they_join(mnist, i, j):
    """MNIST test digits pushed together as ``benchmarks/touching.py`` does, each pair a mark the
    model calls "digits touching": the first four ("80", "34", "69", "90") read only with path
    cuts, the other two ("49", "37") with more than two cuts; before either, five read nothing and
    "37" read "57"."""
    tb = _benchmark("touching")
    test = mnist.load("test")
    pic = tb.touching(tb.glyph(test.images[i]), tb.glyph(test.images[j]))
    assert Reader().read(pic).text == f"{test.labels[i]}{test.labels[j]}"


# -- normalizing ------------------------------------------------------------------------------


def test_thickened_thin_digit_still_fills_the_box():
    img = np.zeros((34, 24), np.float32)  # a "7" drawn with a 1-pixel pen: it gets thickened
    cv2.line(img, (2, 2), (18, 2), 1.0, 1)
    cv2.line(img, (18, 2), (8, 31), 1.0, 1)
    out = normalizing.to_mnist(img)
    ys, _ = np.nonzero(out > 0.5)
    assert ys.max() - ys.min() + 1 >= 19  # the padding added for thickening is not framed in


def test_thickening_keeps_a_small_loop_open():
    nine = np.zeros((130, 40), np.float32)  # a long-tailed 9 with a small head, thin pen
    cv2.circle(nine, (20, 12), 6, 1.0, 2)
    cv2.line(nine, (26, 12), (22, 125), 1.0, 2)
    out = normalizing.to_mnist(nine)
    assert normalizing._holes((out > 0.5).astype(np.uint8), 1) == 1
    assert normalizing.stroke_width(out > 0.5) > 1.0  # the tail was still thickened


def test_unrotate_boxes():
    h, w = 100, 200
    img = np.zeros((h, w), np.uint8)
    img[10:30, 50:90] = 1
    box = (50, 10, 40, 20)
    for k in (1, 2, 3):
        rot = np.rot90(img, k)
        ys, xs = np.nonzero(rot)
        rbox = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        assert _unrotate(rbox, k, (h, w)) == box


# -- the not-a-digit benchmark's generators ---------------------------------------------------


def _benchmark(name: str):
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _not_digits_module():
    return _benchmark("not_digits")


def test_touching_benchmark_joins_two_real_digits_into_one_blob(mnist):
    tb = _benchmark("touching")
    test = mnist.load("test")
    a = tb.glyph(test.images[int(np.flatnonzero(test.labels == 1)[0])])
    b = tb.glyph(test.images[int(np.flatnonzero(test.labels == 0)[0])])
    assert a.shape[0] == b.shape[0] == tb.HEIGHT
    pic = tb.touching(a, b)
    assert pic is not None and pic.dtype == np.uint8
    assert (pic[:60] == 255).all() and (pic[:, -60:] == 255).all()  # paper margin
    n, _ = cv2.connectedComponents((pic < 155).astype(np.uint8))
    assert n == 2  # one blob of ink
    assert pic.shape[1] - 120 <= a.shape[1] + b.shape[1]  # pushed together, no gap


def test_not_digits_benchmark_writes_a_number_beside_the_marks(mnist):
    nd = _not_digits_module()
    test = mnist.load("test")
    pic, _ = nd.drawing(np.random.default_rng([2, 3]))
    glyphs = [test.images[i] for i in (0, 1, 2)]
    out = nd.write_number(np.random.default_rng(5), pic, glyphs)
    assert out.shape == pic.shape and out.dtype == np.uint8
    changed = np.abs(out.astype(int) - pic.astype(int)).max(2) > 60
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200 and np.ptp(ys) < 0.2 * pic.shape[0]  # one line of ink
    # written on the paper, away from the drawing's edges
    edges = cv2.Canny(cv2.cvtColor(pic, cv2.COLOR_RGB2GRAY), 50, 150)
    assert edges[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].mean() < 0.01 * 255
    assert nd.number_read("12 7\n3", "7") and not nd.number_read("127", "7")


def test_bold_blue_digit_beside_thin_strokes_is_not_a_shadow(mnist):
    # a number written on shadowed paper, one digit of it a bold blue MNIST 6 much wider than the
    # other strokes: the closing a few thin strokes wide keeps the 6's core, which looked like a
    # shadow (soft-edged, darker than around it) and was turned into paper; it dims one colour only
    nd = _not_digits_module()
    test = mnist.load("test")
    rng, nrng = np.random.default_rng([nd.SEED, 0]), np.random.default_rng([nd.SEED, 0, 2])
    for _ in range(23):  # the benchmark's picture blank_022, with its number
        pic, _ = nd.blank(rng)
        pick = nrng.integers(len(test.labels), size=int(nrng.integers(2, 6)))
        out = nd.write_number(nrng, pic, [test.images[j] for j in pick])
    assert "".join(str(test.labels[j]) for j in pick) == "63"
    assert binarizing.binarize(out).mask[558:684, 703:828].sum() > 6000  # the 6 (691 when hollowed)


@pytest.mark.parametrize("turn", [1, 3])
def test_number_on_its_side_with_one_mark_read_surely(mnist, turn):
    # picture 6 of benchmarks/turned.py: on its side, 7876324 has its 6 read surely (a 9 one way,
    # a 6 the other) and its other six digits refused; the digits read were all sure, so the page
    # was not tried turned. Refused marks wider than tall now count among the unsure
    nd = _not_digits_module()
    test = mnist.load("test")
    rng = np.random.default_rng(5)
    for _ in range(7):
        number, pic = nd.number_on_paper(rng, test.images, test.labels)
    assert number == "7876324"
    assert nd.number_read(Reader().read(np.ascontiguousarray(np.rot90(pic, turn))).text, number)


@pytest.mark.parametrize(("index", "number", "turn"), [(7, "595", 1), (106, "2293184", 1), (106, "2293184", 3)])
def test_number_on_its_side_nothing_called_sideways_is_read_turned(mnist, index, number, turn):
    # pictures of benchmarks/turned.py on their side that _looks_turned let pass: 595 read as two
    # sure digits and two refused marks, a line of two among them; 2293184 as eight refused marks,
    # two of them on one line. Neither was tried turned; both are now, as upside-down ones are
    nd = _not_digits_module()
    test = mnist.load("test")
    rng = np.random.default_rng(5)
    for _ in range(index + 1):
        got, pic = nd.number_on_paper(rng, test.images, test.labels)
    assert got == number
    assert Reader().read(np.ascontiguousarray(np.rot90(pic, turn))).text == number


@pytest.mark.parametrize(("kind", "index"), [("letters", 36), ("scribble", 31)])
def test_marks_read_on_their_side_as_a_column_or_as_bars_stay_refused(kind, index):
    # pictures of benchmarks/not_digits.py that read surely on their side: letters as "0 / 45 / 0"
    # (lines of one or two digits, as a number on its side stands) and a scribble as "111411 / 5"
    # (its strokes, on their side, are bars: sure 1s)
    nd = _not_digits_module()
    k = list(nd.KINDS).index(kind)
    rng = np.random.default_rng([nd.SEED, k])
    for _ in range(index + 1):
        pic, _ = nd.KINDS[kind](rng)
    assert Reader().read(pic).text == ""


def test_not_digit_pictures_are_reproducible_and_not_the_training_negatives():
    nd = _not_digits_module()
    from mydigits import negatives

    for k, make in enumerate(nd.KINDS.values()):
        a_pic, a_ink = make(np.random.default_rng([1, k]))
        b_pic, b_ink = make(np.random.default_rng([1, k]))
        assert a_pic.dtype == np.uint8 and a_pic.ndim == 3 and min(a_pic.shape[:2]) >= 360
        assert np.array_equal(a_pic, b_pic)
        if a_ink is not None:
            assert np.array_equal(a_ink, b_ink) and a_ink.max() > 0.5
    # letters the training negatives never show are half the benchmark's letters
    assert len(set(nd.LETTERS) - set(negatives.GLYPHS)) >= len(nd.LETTERS) // 2
    # the letters negatives (``mydigits train --letters``) are drawn in other fonts than these
    assert not set(nd.SCRIPT_FONTS) & set(negatives.LETTER_FONTS)
    probs = np.array([[0.0] * 10 + [1.0], [0.9] + [0.0] * 9 + [0.1], [0.4] + [0.0] * 9 + [0.3]])
    assert nd.rejected_crops(probs).tolist() == [True, False, True]
