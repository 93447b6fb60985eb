"""Build the fonts the receipt PDFs embed: billing/fonts/ReceiptSansSC-{Regular,Bold}.ttf.

Run once, and again only to change what the fonts cover; the results are committed, so
neither the portal nor its tests need npm or the network:

    .venv/bin/python tools/build_receipt_font.py

Provenance. The outlines are Noto Sans CJK SC ("Noto Sans S Chinese", version 1.000,
Adobe and Google), taken from the npm package `@embedpdf/fonts-sc` 1.0.0, which ships
its Regular and Bold weights cut down to GB2312 as CFF-flavoured OpenType, licensed
under the SIL Open Font License 1.1 (the package's LICENSE, copied to
billing/fonts/OFL.txt; the fonts' own name table still carries the Apache 2.0 notice of
their 2014 release, and both licences allow what is done here). The script checks the
package against the integrity hash the registry published.

What is done to them, and why:
1. Subset to what a receipt can show: every GB2312 character (the 6,763 common Hanzi
   and GB2312's punctuation and symbols), printable ASCII, Latin-1, Latin Extended-A
   (customers' names), general punctuation, currency signs, CJK punctuation and the
   full-width forms. Layout, vertical-writing and signature tables go: reportlab uses
   none of them.
2. CFF (cubic) outlines converted to TrueType (quadratic) ones with fontTools' cu2qu
   pen, as fontTools' own `Snippets/otf2ttf.py` does: reportlab embeds TrueType
   outlines only.
3. Renamed "Receipt Sans SC": the OFL forbids a modified font to keep its reserved name
   ("Noto Sans").

The output depends only on the package and the fontTools version (pinned in
requirements-dev.lock); timestamps are the source font's, so a rebuild is byte for byte
the same.
"""

import base64
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

PACKAGE = "@embedpdf/fonts-sc@1.0.0"
# `npm view @embedpdf/fonts-sc@1.0.0 dist.integrity`
INTEGRITY = ("sha512-ETXl7XCwaQLSSvMO3EUDwMNqtL64kX2LlFxarTRi/NsIGGOIxUurGfKtrkmtnKHrWy1j"
             "AJSt6oxK2uJhvdvQIw==")
WEIGHTS = {"Regular": "NotoSansHans-Regular.otf", "Bold": "NotoSansHans-Bold.otf"}
FAMILY = "Receipt Sans SC"
OUT = Path(__file__).resolve().parent.parent / "billing" / "fonts"

# Beyond GB2312: Latin for names and addresses, punctuation, every currency sign.
EXTRA_RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x0100, 0x017F),  # Latin Extended-A
    (0x2000, 0x206F),  # General Punctuation
    (0x20A0, 0x20CF),  # Currency Symbols
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
]
DROP_TABLES = ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "DSIG"]
MAX_ERR = 1.0  # how far a quadratic curve may stray from the cubic, in font units


def gb2312_characters() -> set[int]:
    """Every character GB2312 encodes: rows 0xA1-0xF7, cells 0xA1-0xFE."""
    found = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes([row, cell]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return found


def wanted_characters() -> set[int]:
    characters = gb2312_characters()
    for first, last in EXTRA_RANGES:
        characters.update(range(first, last + 1))
    return characters


def fetch_package(workdir: Path) -> Path:
    """`npm pack` the package into workdir, check its hash, unpack it."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch the font package")
    # A fixed command line: nothing in it comes from outside this file.
    name = subprocess.run([npm, "pack", PACKAGE, "--silent"], cwd=workdir, check=True,  # noqa: S603
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    tarball = workdir / name
    algorithm, expected = INTEGRITY.split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        sys.exit(f"{tarball.name}: integrity {algorithm}-{digest}, expected {INTEGRITY}")
    shutil.unpack_archive(tarball, workdir)
    return workdir / "package"


def subset_font(font: TTFont, characters: set[int]) -> None:
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += DROP_TABLES
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.glyph_names = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=characters)
    subsetter.subset(font)


def cff_to_truetype(font: TTFont) -> None:
    """fontTools' Snippets/otf2ttf.py: cubic CFF outlines to quadratic glyf ones."""
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    quadratic = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        # CFF contours run counter-clockwise, TrueType's clockwise.
        glyphs[name].draw(Cu2QuPen(pen, MAX_ERR, reverse_direction=True))
        quadratic[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = quadratic
    del font["CFF "]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in quadratic.items():  # left side bearings follow the new outlines
        hmtx[name] = (hmtx[name][0], getattr(glyph, "xMin", 0))
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for field in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                  "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions"):
        setattr(maxp, field, 0)
    maxp.maxComponentElements = max(
        (len(glyph.components) for glyph in quadratic.values() if glyph.isComposite()),
        default=0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 3.0  # no glyph names: nothing reads them, and they cost space
    post.extraNames = []
    post.mapping = {}
    font.sfntVersion = "\x00\x01\x00\x00"


def rename(font: TTFont, weight: str) -> None:
    """Family "Receipt Sans SC", style `weight`, in every name record that names it."""
    postscript = f"{FAMILY.replace(' ', '')}-{weight}"
    names = {1: FAMILY, 2: weight, 3: f"1.000;{postscript}", 4: f"{FAMILY} {weight}",
             6: postscript, 16: FAMILY, 17: weight}
    table = font["name"]
    table.names = [record for record in table.names if record.nameID not in names]
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)  # Windows, Unicode BMP, English (US)
        table.setName(value, name_id, 1, 0, 0)  # Macintosh, Roman, English


def build(source: Path, weight: str, characters: set[int]) -> Path:
    font = TTFont(source, recalcTimestamp=False)
    subset_font(font, characters)
    cff_to_truetype(font)
    rename(font, weight)
    target = OUT / f"{FAMILY.replace(' ', '')}-{weight}.ttf"
    font.save(target)
    return target


def main() -> None:
    characters = wanted_characters()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        package = fetch_package(Path(tmp))
        for weight, filename in WEIGHTS.items():
            target = build(package / "fonts" / filename, weight, characters)
            print(f"{target.relative_to(OUT.parent.parent)}: {target.stat().st_size:,} bytes")
        shutil.copyfile(package / "LICENSE", OUT / "OFL.txt")


if __name__ == "__main__":
    main()
