"""WhatsApp's QR string rendered as an image the page can show as is."""

from __future__ import annotations

import base64

import qrcode
from qrcode.image.svg import SvgPathFillImage


def qr_data_url(text: str) -> str:
    """An SVG data URL, white background and the standard quiet zone so a camera reads it."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
        image_factory=SvgPathFillImage,
    )
    code.add_data(text)
    code.make(fit=True)
    svg = code.make_image().to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
