"""Images and videos sent to the server, checked before the model sees them.

They come inline, as base64 or a ``data:`` URL, never as a path or an address: the server
reads no file and fetches nothing it is pointed at. Each upload is checked for size, for its
type by its content (not its name), and for its pixel count before it is decoded in full.
A video becomes frames sampled at the rate asked for, each with its time, since the model
is shown images.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tempfile
import warnings

import cv2
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 20 * 2**20
MAX_VIDEO_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP"}
MAX_FRAMES = 32
FRAME_PIXELS = 640 * 480  # a video frame needs fewer tokens than a screenshot
_DATA_URL = re.compile(r"^data:([\w.+/-]*)(;[\w=.+-]+)*?;base64,", re.IGNORECASE)
_VIDEO_MAGIC = (  # (offset, bytes): MP4/MOV, WebM/Matroska, AVI
    (4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"), (8, b"AVI "),
)


def limits() -> dict[str, dict[str, object]]:
    """What is accepted, for the page to check a file when it is attached rather than when it is sent."""
    return {"image": {"max_bytes": MAX_IMAGE_BYTES, "max_pixels": MAX_IMAGE_PIXELS, "formats": sorted(IMAGE_FORMATS)},
            "video": {"max_bytes": MAX_VIDEO_BYTES, "formats": ["MP4", "MOV", "WebM", "MKV", "AVI"]}}


class UploadRejected(ValueError):
    """An upload that is not used; the message says why and what would be accepted."""


def decode(value: str, what: str, limit: int) -> bytes:
    """The bytes of a base64 string or ``data:`` URL, at most ``limit`` of them."""
    if not isinstance(value, str) or not value.strip():
        raise UploadRejected(f"the {what} is empty: send it as base64 or a data: URL")
    text = value.strip()
    match = _DATA_URL.match(text)
    if match:
        text = text[match.end():]
    if len(text) * 3 // 4 > limit:
        raise UploadRejected(f"the {what} is larger than {limit // 2**20} MiB")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        if not match and re.match(r"^([/~.]|[a-z]+:|[A-Za-z]:\\)", text):
            raise UploadRejected(f"the {what} must be sent inline as base64 or a data: URL; the server does not "
                                 "read files or fetch addresses it is given") from None
        raise UploadRejected(f"the {what} is not valid base64") from None


def load_image(value: str, what: str = "image") -> Image.Image:
    """A decoded image in RGB; only common picture formats of a sane size."""
    data = decode(value, what, MAX_IMAGE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in IMAGE_FORMATS:
                raise UploadRejected(f"the {what} is {image.format}; send PNG, JPEG, WebP, GIF or BMP")
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise UploadRejected(f"the {what} has {image.width}x{image.height} pixels; at most "
                                     f"{MAX_IMAGE_PIXELS // 1_000_000} million are accepted")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError) as error:
        raise UploadRejected(f"the {what} is not a readable picture ({type(error).__name__})") from None
    return image.convert("RGB")


def video_frames(value: str, fps: float = 1.0, what: str = "video") -> list[tuple[float, Image.Image]]:
    """Frames sampled ``fps`` times a second (at most ``MAX_FRAMES``, spread evenly), with their times."""
    if not 0.05 <= fps <= 10:
        raise UploadRejected(f"the frame rate must be between 0.05 and 10 frames a second, not {fps:g}")
    data = decode(value, what, MAX_VIDEO_BYTES)
    if not any(data[offset:offset + len(magic)] == magic for offset, magic in _VIDEO_MAGIC):
        raise UploadRejected(f"the {what} is not an MP4, MOV, WebM, MKV or AVI file")
    with tempfile.NamedTemporaryFile(suffix=".video") as file:
        file.write(data)
        file.flush()
        capture = cv2.VideoCapture(file.name)
        try:
            if not capture.isOpened():
                raise UploadRejected(f"the {what} cannot be decoded")
            rate = capture.get(cv2.CAP_PROP_FPS) or 25.0
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            duration = count / rate
            wanted = max(1, min(MAX_FRAMES, int(duration * fps) or 1))
            times = [duration * (i + 0.5) / wanted for i in range(wanted)]
            frames = []
            for moment in times:
                capture.set(cv2.CAP_PROP_POS_FRAMES, min(count - 1, int(moment * rate)))
                ok, frame = capture.read()
                if ok:
                    frames.append((round(moment, 2), _small(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))))
        finally:
            capture.release()
    if not frames:
        raise UploadRejected(f"no frames could be read from the {what}")
    return frames


def _small(image: Image.Image) -> Image.Image:
    scale = (FRAME_PIXELS / (image.width * image.height)) ** 0.5
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
