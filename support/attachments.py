"""Screenshots customers attach to support tickets: checked by what they contain, stored
under a random name, and served back only to whoever may read the ticket.

A file is taken only when Pillow, allowed to try nothing but the PNG, JPEG and WebP
decoders, reads it whole as an image of one of those formats. The name and type the
browser sent are not believed: a script renamed `.png` is refused. The size of the file
is bounded by SUPPORT_ATTACHMENT_MAX_BYTES and the image's dimensions are read from its
header and checked before any pixel is decoded, so a small file that claims a huge image
(a decompression bomb) is refused without the memory it would take.
"""

import io
import secrets
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image

# What a screenshot may be, with the extension it is stored under and the content type
# it is served with.
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"),
           "WEBP": ("webp", "image/webp")}
CONTENT_TYPES = {extension: content_type for extension, content_type in FORMATS.values()}
# A screenshot of a 6K screen is about 20 million pixels; a tall phone capture is
# narrow. Decoding this many pixels takes at most ~100 MB of memory.
MAX_PIXELS = 25_000_000
MAX_SIDE = 20_000


@dataclass(frozen=True)
class Screenshot:
    """A checked screenshot, ready to store."""

    content: bytes
    extension: str
    name: str  # what the customer called it, tidied, with the extension it really has

    @property
    def stored_name(self) -> str:
        """A random file name: nothing the customer sent ends up in a path."""
        return f"{secrets.token_hex(16)}.{self.extension}"


def screenshot_check(upload: UploadedFile) -> Screenshot:
    """The upload as a Screenshot, or ValidationError saying what is wrong with it."""
    limit = settings.SUPPORT_ATTACHMENT_MAX_BYTES
    too_big = ValidationError(
        _("This file is larger than %(max)s. Take a smaller screenshot, or crop it.")
        % {"max": filesizeformat(limit)}, code="too_big")
    if upload.size is not None and upload.size > limit:
        raise too_big
    upload.seek(0)
    content = upload.read(limit + 1)
    if len(content) > limit:
        raise too_big
    image_format = _image_format(content)
    extension = FORMATS[image_format][0]
    return Screenshot(content=content, extension=extension,
                      name=_display_name(upload.name or "", extension))


def _image_format(content: bytes) -> str:
    not_an_image = ValidationError(
        _("Attach a PNG, JPEG or WebP image. This file is not one of those."),
        code="not_an_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content), formats=list(FORMATS))
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise ValidationError(
                    _("This image is too large: %(width)s × %(height)s pixels. Take a "
                      "screenshot of a smaller area.") % {"width": width, "height": height},
                    code="too_many_pixels")
            image.load()  # every pixel decodes: not a header glued to something else
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(_("This image is too large. Take a screenshot of a smaller "
                                "area."), code="too_many_pixels") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise not_an_image from None
    if image.format not in FORMATS:
        raise not_an_image
    return image.format


def _display_name(raw: str, extension: str) -> str:
    """The customer's file name without any folder, control characters or extension of
    its own, cut to fit the model's field, ending in the extension the content has."""
    stem = PurePath(raw.replace("\\", "/")).name.rsplit(".", 1)[0]
    stem = "".join(ch for ch in stem if unicodedata.category(ch)[0] != "C").strip(" .")
    return f"{stem[:150] or 'screenshot'}.{extension}"
