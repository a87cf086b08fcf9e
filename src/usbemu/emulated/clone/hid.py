"""The HID descriptor of an interface and the report descriptor it announces — the lookup
of `usbhid_parse` in drivers/hid/usbhid/hid-core.c (with `__usb_get_extra_descriptor` of
drivers/usb/core/usb.c).

Linux looks for the HID descriptor (type 0x21, at least 9 bytes) among the class-specific
descriptors after the interface descriptor, then after its first endpoint, and asks for the
report descriptor with the wDescriptorLength the HID descriptor gives it.  A clone answers
GET_DESCRIPTOR(HID) to the interface with the descriptor found here, and the reader asks
for the report descriptor with that length.  Nothing here parses a report descriptor.
"""

from __future__ import annotations

import struct
from typing import Final

from ...spec.descriptors import InterfaceDescriptor
from ...spec.hid import HID_DESCRIPTOR_SIZE, HidDescriptorType

__all__ = ["find_extra_descriptor", "hid_descriptor_of", "report_descriptor_length"]

_HEADER: Final = 2
_CLASS_ENTRY: Final = 3  # bDescriptorType, wDescriptorLength
_FIRST_ENTRY: Final = 6


def find_extra_descriptor(extra: bytes, dtype: int, minsize: int = _HEADER) -> bytes | None:
    """The first descriptor of type `dtype` and at least `minsize` bytes in `extra` (a
    descriptor's class-specific bytes), as `__usb_get_extra_descriptor` finds it; None when
    there is none or a bogus bLength (below 2, or past the end) stops the walk.
    Context: pure function."""
    pos = 0
    while len(extra) - pos >= _HEADER:
        length = extra[pos]
        if length < _HEADER or length > len(extra) - pos:
            return None
        if extra[pos + 1] == dtype and length >= minsize:
            return extra[pos:pos + length]
        pos += length
    return None


def hid_descriptor_of(alt: InterfaceDescriptor) -> bytes | None:
    """The HID descriptor of an altsetting: after the interface descriptor, else after its
    first endpoint (as usbhid_parse looks); None when it has none.  Context: pure
    function."""
    found = find_extra_descriptor(alt.extra, HidDescriptorType.HID, HID_DESCRIPTOR_SIZE)
    if found is None and alt.endpoints:
        found = find_extra_descriptor(alt.endpoints[0].extra, HidDescriptorType.HID,
                                      HID_DESCRIPTOR_SIZE)
    return found


def report_descriptor_length(hid_descriptor: bytes) -> int:
    """wDescriptorLength of the last REPORT entry among the HID descriptor's
    bNumDescriptors class descriptors (usbhid_parse keeps the last one it sees), 0 when
    there is none.  Context: pure function."""
    count = hid_descriptor[5] if len(hid_descriptor) > 5 else 0
    size = 0
    for n in range(count):
        at = _FIRST_ENTRY + n * _CLASS_ENTRY
        if at + _CLASS_ENTRY > len(hid_descriptor):
            break
        dtype, length = struct.unpack_from("<BH", hid_descriptor, at)
        if dtype == HidDescriptorType.REPORT:
            size = length
    return size
