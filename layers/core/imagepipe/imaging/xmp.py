"""The XMP packet that labels every image the pipeline writes as AI-generated (IPTC)."""

from __future__ import annotations

from functools import cache

from PIL import PngImagePlugin

from ..models import DIGITAL_SOURCE_TYPE

XMP_PNG_KEY = "XML:com.adobe.xmp"
"""iTXt keyword under which PNG carries XMP (Adobe XMP spec part 3)."""

_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""\n'
    '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">\n'
    "   <Iptc4xmpExt:DigitalSourceType>{dst}</Iptc4xmpExt:DigitalSourceType>\n"
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="r"?>'
)


@cache
def _packet_text() -> str:
    return _PACKET.format(dst=DIGITAL_SOURCE_TYPE)


@cache
def digital_source_type_xmp() -> bytes:
    """Return the XMP packet declaring ``Iptc4xmpExt:DigitalSourceType``.

    The value is `imagepipe.models.DIGITAL_SOURCE_TYPE` (``trainedAlgorithmicMedia``). The
    packet is constant, so outputs embedding it stay byte-for-byte reproducible.

    Returns
    -------
    bytes
        A UTF-8 ``<x:xmpmeta>`` packet wrapped in ``<?xpacket?>`` markers, suitable for the
        ``xmp=`` option of Pillow's JPEG, WebP and AVIF writers.
    """
    return _packet_text().encode("utf-8")


def png_xmp_pnginfo() -> PngImagePlugin.PngInfo:
    """Return PNG chunks carrying the same XMP packet as `digital_source_type_xmp`.

    Pillow ignores ``xmp=`` when saving PNG, so the packet goes into an uncompressed iTXt
    chunk with keyword ``XML:com.adobe.xmp``, which is where readers (and Pillow's
    ``getxmp()``) look for it.

    Returns
    -------
    PngImagePlugin.PngInfo
        A new object on every call: ``PngInfo`` is mutable, so it is never shared.
    """
    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_PNG_KEY, _packet_text(), lang="", tkey="", zip=False)
    return info
