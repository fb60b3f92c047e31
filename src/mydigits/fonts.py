"""Handwriting fonts: digits and letters as many other hands shape them.

MNIST's digits come from about 500 American writers of the early 1990s: no continental 1s (a long
up-stroke), few crossed 7s, closed 4s more often than open ones. Google Fonts' handwriting faces
were each drawn from one person's writing, so they add some eighty hands: their digits are
training digits in shapes MNIST lacks, and their letters are the "not a digit" marks a reader meets
beside numbers. They come from the Fontsource npm packages (one WOFF file each, verified by SHA-256
and cached beside MNIST); rendering them needs only Pillow.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mydigits import npm, paths
from mydigits.errors import MydigitsError

VERSION = "5.3.0"
# Fontsource package name -> SHA-256 of its Latin, weight 400 WOFF file.
FONTS: dict[str, str] = {
    "allura": "7507db0d0a02fb9259cdcab4e45295a4c053f8c7c8055009f257c698cedd4237",
    "amatic-sc": "d71215390a3620f0f1eb98960fe50a25743efa302f050f015000eb5f942ec74e",
    "annie-use-your-telescope": "555a3ba045673dfa29aa1b2ed52f17772212380d2da9a79dc813ef51e26b0147",
    "architects-daughter": "0249dd5f81431dbf8a8406996c43f8018bf707221cf261d75145f083bb7091cf",
    "bad-script": "07202e03862cf10af6c0a9f5cfce39ef10e1923b64b965c3185b5ddef61b91f1",
    "calligraffitti": "1fee22a7ff179d7623483a623aba71e5541ef16efd5e28bc45d4403d6f010ad5",
    "caveat": "38b98dbeb922a14a74dfb41f83fc24e0e645e2eed9ce72145fefbdae8828cbfb",
    "caveat-brush": "2c57f92c541e3d7c8050ca99d8ce3f6ee2f64cbdfe72f304f6d7683f0db388ba",
    "cedarville-cursive": "8d8360a98492b42d02c17e94c38bcd2a3cce6db6b9b430f3a110e71f81d7149c",
    "coming-soon": "d0a25ae9b9ffb2a2c235687f1698af2bbe18a84f47f1b099077a50382b812858",
    "cookie": "15a6cbd163886857d89b3d5743237d606ab45002d00e5cc8d317d7df7bc65b7e",
    "courgette": "8cacc9a075ce6f2c68e0689b1be992376cf72ed0adf9a577cd9e0a8663b9d459",
    "covered-by-your-grace": "876d8371eedf1f9add237910aea034ca42cd5bdc8f7d722c7a04819ab3f711b8",
    "crafty-girls": "5d7392f508057ab8c20fa7e92989e679a9efd058b9d7736d688a614df9a79dfa",
    "dancing-script": "3e114c39b274829edb96a698275563336a42ec5c2a9c1fb7d7108b8bb804bfd3",
    "dawning-of-a-new-day": "db6b4ace05ee8134f67c89150c387961d9c4f3e8ecc3efecfe8510738c3158fd",
    "delius": "eabc55870044215231d9f905b1b898926bcf588dc78e53523ea6590281b606f1",
    "edu-nsw-act-foundation": "abebb0863c1a82e42f688b59d66851a6896cd8f46f543f60d3c24750709157ea",
    "edu-qld-beginner": "c8406989bc5c5dfcf60f1edc010bc13434c25985f27c9ef1e87b64071b193776",
    "edu-sa-beginner": "c33e51f7a131b9a2eefb06ae7e24af669fc9961ea1e4fd1d13f8658a995f0ea5",
    "edu-tas-beginner": "16c8a0af47a3862aa01547ca64dbdda2d9c5b4c3b45a9b522182340b7e350aad",
    "edu-vic-wa-nt-beginner": "d1d07ef8700ab8a5b349dc78e8c976629d63e62407dc092eb9f304d5a6ee08d6",
    "fuzzy-bubbles": "7d4f62492b07a98081096631cf93ce385b6646a6f38d63a4cabbe24f0acbeeba",
    "gaegu": "6d4c9dac093fce05bcf214b7b1e9d60de7ecae8a22aa940d63e586bcf32cab29",
    "gamja-flower": "a38f64533c71165be3845e8e1600a2c6062464d83c7c160d00ee5a9cbd67c46d",
    "give-you-glory": "84c8bec3e54403b756b60f5fa44aeb89ceb5a31c7296211a0d7717611bb73f8c",
    "gloria-hallelujah": "31e7def8cf155d4dcc98216517ad509923a8a197bc9c8937668d04767c52040e",
    "gochi-hand": "82a4149218f2edccef96d2b0ed5bf92adc6ea290222bac4dcfa3de91afb6b3a3",
    "great-vibes": "70db84ec82761fa328d65649439e2f9603ecbdaf0a397863875f62c43158a523",
    "handlee": "9a8af5254df769bbdc196fd998231daec67c81dc3d6fd6f294ed80c2c4343551",
    "hi-melody": "346d604a1b9cbe55b43837112ce70dd6d30909898d82c3014c1f37f8e40f27a3",
    "homemade-apple": "998f34b48e0bcb8974dc6e8d94961a87689ca40e3258554d2f6fc3778b1968a3",
    "indie-flower": "2cf7154e899ad16246196238d6d13f0135c5feba2d8ccde5d97a22664d012660",
    "itim": "b226c76f3c05960cc30eaeca322d31cc5ecbeb4c693996d5d0964f892de12b46",
    "just-another-hand": "996689005263a02315843bd1eff3f67b71ec1ca25be7fa9ee4523e4d282b7b89",
    "just-me-again-down-here": "154f149b85fa4145d2545b270db1a149c1815fca861b2ef90700cccf20e76050",
    "kalam": "70ab8c1d2c10a28f213c6f1c359888624d5e650ffcd64f93a8194c3e14403746",
    "kaushan-script": "e260cf8ef0dc9c5b277ea8f600f909710f96ab641325e401460da205fdd92ae1",
    "klee-one": "4c039b95126f61e0eb408e604751ac097fbf768043011d0156b407315776c720",
    "kristi": "baf2b649c525e4b3d6516c77c88c1533b4c0e7a8376e88f63c13ed4dd5e4be6a",
    "la-belle-aurore": "d5ec94f05c2cb9ab9dd5bba03faede9a6d767803e36b6b5df36f64ada8546ce0",
    "loved-by-the-king": "c865f5db8c24e82e05b74065da789d1df28b12d66d2977e884af4a444ff46cb5",
    "mali": "cd38e40d516ab13ab4ef21cdb01671bac4c326ef338b39d87eb1892c5fc17bbf",
    "mansalva": "956720ae5632b40a4f79e92b27b936e174a038aa41b8638d30965c61ab465aff",
    "marck-script": "c26db9210c0b2823550e11baaeb2b6d234e5e5a14e8e6497029f29844859610d",
    "mr-dafoe": "62dc3f44e4c9b9aab0cfce27dff0058fa82ce5b4aa6e6785d0a2e57f9a2e965c",
    "mynerve": "5d9deb86c7caed58b6c2624cc2ff1e4cd76bd389e99cf5d62f6342b0242d1d29",
    "nanum-brush-script": "4b1a6cfcd3147291f434cbf6a7b83fdaeba0f4c78190bb6290ef56650a3fc325",
    "nanum-pen-script": "08cdd640e142c977071b4c3d5c33fd9ec322990e540f5511ca2fccff4568d0ec",
    "neucha": "b0c09e2ecd7d760fb997f926f2d15e53c57561802fb071a317832942536ca82a",
    "nothing-you-could-do": "454bff123de1c8224aff670f12797ca91cf54becf6f8359391bd37a6dd68a60e",
    "over-the-rainbow": "e721f12763490802b576b3c1511cf4a0c6a33221772bf846885a295e5b758e3e",
    "pacifico": "4fd3a495c0b99e9279bc36da2bc82d827daa8eaea1974094a8ef97131acbcb03",
    "pangolin": "d51be35cd652ff73e3d174e01cd978942cf67bcea08ab3043f711814fab162ce",
    "patrick-hand": "0f7031f6665437e04d6f354c5f64d6ae6777b498afbe804638c45b957a7ce8aa",
    "permanent-marker": "ab8ac2bb72d48e089e37d8eefbacdfe2d74ccd48ae786d952fce9874837d2b2b",
    "playpen-sans": "25b16389b5a9978b1b9949398c494451d02c738f837e64095601e1c8447341fb",
    "reenie-beanie": "1b86681155e125625f01839b2e6688dde2b2a7766a8eb49645b3a8707c2bee9f",
    "rock-salt": "358d065405a805204d48cc51cc48a8447f8d86369aa05d44c70e0111d7ee7e29",
    "sacramento": "d3522a9bd9a636911205d65f8031b2baf2c1b1e91fc35070029dbf887364bd29",
    "satisfy": "5d08f3999955e4cc4eb26cc27496751a9b15f9cd47d69332d2c7f8902ced3f49",
    "schoolbell": "a448b8f4209a8ca16adc48753170f40a57e17f70675963e092501ed48842e4c8",
    "sedgwick-ave": "378d3d70f69fb7c7382cbbd3dc3663bc409bd45dee5711aa8543afee85de2f14",
    "shadows-into-light": "93cff8110a18bb3e1fb0179c95f706ed1e8037e2e527c4cb425b46deaddbd975",
    "shadows-into-light-two": "ba222b859894cd8ea9a5e2782d37c52fc3bb434c5057edfc1e82855174203ad4",
    "shantell-sans": "8aa8fe63633c806fac26f8ae5c712851eb67d8e1cd34555873d4e60abe685d31",
    "short-stack": "db596e8545afc95f708ad2d5ac878771998f7378da84c56759527fbdb02f5836",
    "sniglet": "db97d0e1a3b5f2b5461816be2721ae4254423e482ada8a4a5ff86cb01a1186fd",
    "square-peg": "f7da17dedee1e713341ea2b5a26bff3a8cb25e3dfe94e7a927c1ed56ecc4a1f7",
    "sriracha": "5d58be0698ba9a1b621ca2fa6d44e0b08b50fed7d913c956a4c0a9fd9fbfaa40",
    "sue-ellen-francisco": "e2c988155c07d4a26b81216397fa1841af0916c9737a61e05ea38bd1bd5361b1",
    "swanky-and-moo-moo": "f4f292b60677133249ab543ca178fa6786d3dd9681899ef7ccde255bf956aced",
    "the-girl-next-door": "301aabf8a983d1231988eea6e125338a3933bd69de8b14137df80840c8d8c5e8",
    "waiting-for-the-sunrise": "8a2cf921d4129a7d447370c559d0687579e842196c9e80a774fb428b1755911b",
    "walter-turncoat": "90a2eac28cf08ea30ebc93308f5de15abbfa6b8e54253f5fc9cfedb3971b9f89",
    "yellowtail": "caa2223ebdbb6b17a03563785cc8c3781d682695ff095ab3d08490ccece998ef",
    "yomogi": "889ffc6f4e2587b8bd94d0b2c7ddd2f7bb3d89b25be1b6f3290775620a204210",
    "zen-kurenaido": "1e20aeb08f255fbcf0ab5ccd03296d18bbeac3cefdb95e09c5b1676d73ac33b7",
    "zeyada": "91d3613bd2d6ca6d14bfba2a7c3918ee4ced380d570d1b29a6ebfbcf56e7a6ff",
}
# Old-style figures (descending 3, 4, 5, 7, 9): not how anybody writes a number on a form.
NOT_FOR_DIGITS = frozenset({"bad-script"})
RENDER_PX = 96  # glyphs are drawn at this size; the model sees them at 20 pixels


def _member(name: str) -> npm.Member:
    return npm.Member(f"@fontsource/{name}@{VERSION}", f"package/files/{name}-latin-400-normal.woff", FONTS[name])


class HandwritingFonts:
    """The fonts in a cache folder (``<data dir>/fonts``), fetched with ``download=True``.

    Args:
        root: the training-data cache (default: ``paths.data_dir()``).
        packer: stands in for ``npm pack`` (tests).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, download: bool = True,
                 progress: bool = True, packer: npm.Packer | None = None) -> None:
        self.root = paths.data_dir(root) / "fonts"
        wanted = {f"{name}.woff": _member(name) for name in FONTS}
        if download:
            npm.fetch_files(wanted, self.root, progress, packer)
        self.paths = [self.root / f for f in wanted]
        missing = [p.name for p in self.paths if not p.exists()]
        if missing:
            raise MydigitsError(f"{self.root}: handwriting fonts not found ({', '.join(missing[:3])}...); "
                                "run with download enabled")

    def load(self, for_digits: bool = False) -> list[ImageFont.FreeTypeFont]:
        """The fonts, ready to draw with (``for_digits``: without the old-style figures)."""
        return [ImageFont.truetype(str(p), RENDER_PX) for p in self.paths
                if not (for_digits and p.stem in NOT_FOR_DIGITS)]


def handwrite(text: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator,
              wobble: float = 2.0) -> np.ndarray:
    """``text`` drawn in ``font`` as a hand would: each character with its own size and baseline,
    the characters a little closer or further apart, the whole slanted, turned and bent slightly.
    Returns uint8 ink, white on black, framed loosely."""
    size = font.size
    canvas = Image.new("L", (int(size * (1.2 * len(text) + 2)), int(size * 2.6)), 0)
    draw = ImageDraw.Draw(canvas)
    x = size * 0.8
    for ch in text:
        base = size * 1.8 + rng.normal(0, 0.04 * size)
        glyph_font = font if rng.random() < 0.5 else font.font_variant(size=int(size * rng.uniform(0.85, 1.1)))
        draw.text((x, base), ch, fill=255, font=glyph_font, anchor="ls")
        x += glyph_font.getlength(ch) * rng.uniform(0.85, 1.05)
    ink = np.asarray(canvas)
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return ink
    m = size // 3
    ink = ink[max(0, ys.min() - m): ys.max() + m, max(0, xs.min() - m): xs.max() + m]
    ink = tilt(ink, rng.uniform(-8, 8), rng.uniform(-0.3, 0.2))
    h, w = ink.shape
    # a hand's wobble: a smooth random displacement over about a stroke's length
    dx, dy = (cv2.resize(rng.normal(0, wobble, (h // 24 + 2, w // 24 + 2)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC) for _ in range(2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(ink, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def pen_width(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same writing with a finer or a broader pen: eroded or dilated by up to a few pixels
    at the render size (a font has one stroke width; hands have many)."""
    r = int(rng.integers(-2, 4))
    if r == 0:
        return ink
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(r) + 1, 2 * abs(r) + 1))
    out = cv2.dilate(ink, k) if r > 0 else cv2.erode(ink, k)
    return out if (out > 127).sum() > 0.3 * (ink > 127).sum() else ink  # never erode a stroke away


def tilt(ink: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """Rotate by ``angle`` degrees about the centre and shear by ``shear``: a writer's slant. The
    canvas grows so that nothing is cut off."""
    h, w = ink.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 1] += shear
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ m.T
    x0, y0 = corners.min(0)
    x1, y1 = corners.max(0)
    m[:, 2] -= (x0, y0)
    return cv2.warpAffine(ink, m, (int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))))
