"""A HID boot keyboard — counterpart of QEMU's hw/usb/dev-hid.c "usb-kbd" (its descriptors
and report descriptor) and hw/input/hid.c (hid_keyboard_poll, hid_keyboard_write).

QEMU's keyboard, 0627:0001 "QEMU USB Keyboard": full speed (bMaxPacketSize0 8, bcdUSB 1.00)
by default, or QEMU's high-speed variant with `usb_version=2` (bcdUSB 2.00, bMaxPacketSize0 64,
bInterval 7 — the descriptors of the reference capture of Linux 6.12 on EHCI).  One HID
interface, boot subclass, keyboard protocol, HID 1.11, report descriptor of 63 bytes;
interrupt IN 0x81 of 8 bytes, bInterval 10 at full speed.

Input reports are the 8-byte boot report (HID 1.11 appendix B.1) in boot and report
protocol alike: the modifier bits, a reserved byte, and the usages of up to six keys held in
the order they went down; with more than six held, all six slots say ErrorRollOver (0x01).
Every key change — a modifier included — is one report, none merged away: typing "Hi" is
shift down, h down, h up, shift up, i down, i up.  At most one report goes out per 10 ms of
machine time, and with a nonzero idle rate the current report is repeated every idle × 4 ms
(`usbemu.emulated.hid.HidDevice`).  The output report is the LED byte (Num Lock 0x01, Caps
Lock 0x02, Scroll Lock 0x04, Compose 0x08, Kana 0x10): SET_REPORT(Output) sets `leds`,
GET_REPORT(Output) reads it back.

Keys are named as `usbemu.emulated.hid_script.parse_keys` names them: "ctrl+alt+del",
"shift+tab", "ctrl+C", or a `KeyUsage`.  The model does not repeat held keys (the host
does) and knows no layout but US for `type`.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode
from ...spec.descriptors import EndpointDescriptor, InterfaceDescriptor
from ...spec.hid import (
    BOOT_KEYBOARD_REPORT_SIZE,
    HidBootProtocol,
    HidSubclass,
    KeyboardLed,
    KeyModifier,
    KeyUsage,
    boot_keyboard_report,
    hid_descriptor,
    modifier_bit,
    us_key,
)
from ..hid import INTERRUPT_IN, HidDevice, QemuString, Thunk, qemu_hid_device
from ..hid_script import Action, Press, Release, Tap, Type, parse_keys

__all__ = ["INTERRUPT_IN", "QEMU_KEYBOARD_REPORT_DESCRIPTOR", "BootKeyboard", "KeyboardLed"]

QEMU_KEYBOARD_REPORT_DESCRIPTOR: Final = bytes((
    0x05, 0x01,  # Usage Page (Generic Desktop)
    0x09, 0x06,  # Usage (Keyboard)
    0xA1, 0x01,  # Collection (Application)
    0x75, 0x01,  #   Report Size (1)
    0x95, 0x08,  #   Report Count (8)
    0x05, 0x07,  #   Usage Page (Key Codes)
    0x19, 0xE0,  #   Usage Minimum (224)
    0x29, 0xE7,  #   Usage Maximum (231)
    0x15, 0x00,  #   Logical Minimum (0)
    0x25, 0x01,  #   Logical Maximum (1)
    0x81, 0x02,  #   Input (Data, Variable, Absolute): 8 modifier bits
    0x95, 0x01,  #   Report Count (1)
    0x75, 0x08,  #   Report Size (8)
    0x81, 0x01,  #   Input (Constant): reserved byte
    0x95, 0x05,  #   Report Count (5)
    0x75, 0x01,  #   Report Size (1)
    0x05, 0x08,  #   Usage Page (LEDs)
    0x19, 0x01,  #   Usage Minimum (1)
    0x29, 0x05,  #   Usage Maximum (5)
    0x91, 0x02,  #   Output (Data, Variable, Absolute): 5 LEDs
    0x95, 0x01,  #   Report Count (1)
    0x75, 0x03,  #   Report Size (3)
    0x91, 0x01,  #   Output (Constant): 3 bits padding
    0x95, 0x06,  #   Report Count (6)
    0x75, 0x08,  #   Report Size (8)
    0x15, 0x00,  #   Logical Minimum (0)
    0x25, 0xFF,  #   Logical Maximum (255)
    0x05, 0x07,  #   Usage Page (Key Codes)
    0x19, 0x00,  #   Usage Minimum (0)
    0x29, 0xFF,  #   Usage Maximum (255)
    0x81, 0x00,  #   Input (Data, Array): 6 keycodes
    0xC0,        # End Collection
))
"""QEMU's usb-kbd report descriptor (hw/usb/dev-hid.c qemu_keyboard_hid_report_descriptor,
63 bytes) — byte for byte the `report_descriptor` Linux 6.12 shows for QEMU's keyboard in
the reference capture."""


_ALL_LEDS: Final = ~KeyboardLed(0)


def _interface(interval: int) -> InterfaceDescriptor:
    return InterfaceDescriptor(
        ClassCode.HID, HidSubclass.BOOT, HidBootProtocol.KEYBOARD,
        endpoints=(EndpointDescriptor.interrupt(INTERRUPT_IN, BOOT_KEYBOARD_REPORT_SIZE,
                                                interval),),
        extra=hid_descriptor(len(QEMU_KEYBOARD_REPORT_DESCRIPTOR)))


class BootKeyboard(HidDevice):
    """QEMU's USB keyboard (0627:0001) driven from Python or by a script.

    `usb_version` 2 is QEMU's high-speed keyboard; `serial` QEMU's `serial` property, the
    whole serial-number string (QEMU makes "68284-<controller>-<port>" of it when unset, as
    "68284-0000:00:02.0-1" in the reference capture; a model does not know where it is
    plugged, so it says "68284").  State visible to tests: `modifiers` and `keys` (held
    now, keys in press order), `leds` (the host's last output report), `protocol`,
    `idle_rate`, `pending_reports`, `steps_pending`.  Script actions: Press, Release, Tap
    (key combinations) and Type.
    """

    model_name: ClassVar[str] = "keyboard"
    report_descriptor: ClassVar[bytes] = QEMU_KEYBOARD_REPORT_DESCRIPTOR

    def __init__(self, *, usb_version: int = 1, serial: str | None = None) -> None:
        descriptor, speed = qemu_hid_device(
            usb_version, product=QemuString.PRODUCT_KEYBOARD,
            serial=QemuString.SERIAL_KEYBOARD, configuration=QemuString.CONFIG_KEYBOARD,
            interface=_interface, intervals=(10, 7), serial_number=serial)
        super().__init__(descriptor, speed=speed)
        self.modifiers = KeyModifier(0)
        self.keys: list[KeyUsage] = []
        self.leds = KeyboardLed(0)
        self._queue: deque[bytes] = deque()

    # -- the immediate API ----------------------------------------------------------------

    def press(self, keys: str | int) -> None:
        """Hold down the keys of a combination ("ctrl+alt+del"), in order: one report for
        each key that was not down.  Context: atomic.  Raises ValueError for an unknown
        key."""
        self._press(parse_keys(keys))

    def release(self, keys: str | int) -> None:
        """Let the keys of a combination go, last named first: one report for each key that
        was down.  Context: atomic.  Raises ValueError for an unknown key."""
        self._release(parse_keys(keys))

    def tap(self, keys: str | int) -> None:
        """Press then release a combination ("ctrl+c").  Context: atomic."""
        self._tap(parse_keys(keys))

    def _press(self, keys: tuple[KeyUsage, ...]) -> None:
        for key in keys:
            self._key_down(key)

    def _release(self, keys: tuple[KeyUsage, ...]) -> None:
        for key in reversed(keys):
            self._key_up(key)

    def _tap(self, keys: tuple[KeyUsage, ...]) -> None:
        self._press(keys)
        self._release(keys)

    def type(self, text: str) -> None:
        """Type `text` on a US layout, key by key: shift goes down before a character that
        needs it (unless already held) and up after it.  Context: atomic.  Raises
        ValueError, before any key moves, for a character the layout cannot type."""
        plan = [us_key(char) for char in text]
        for key, shift in plan:
            shifting = shift and not self.modifiers & KeyModifier.LEFT_SHIFT
            if shifting:
                self._key_down(KeyUsage.LEFT_SHIFT)
            self._key_down(key)
            self._key_up(key)
            if shifting:
                self._key_up(KeyUsage.LEFT_SHIFT)

    def release_all(self) -> None:
        """Let every key go, the last pressed first.  Context: atomic."""
        for key in reversed(tuple(self.keys)):
            self._key_up(key)
        for bit in reversed(KeyModifier):
            if self.modifiers & bit:
                self._key_up(KeyUsage(KeyUsage.LEFT_CTRL + bit.bit_length() - 1))

    def _key_down(self, key: KeyUsage) -> None:
        bit = modifier_bit(key)
        if bit:
            if self.modifiers & bit:
                return
            self.modifiers |= bit
        elif key in self.keys:
            return
        else:
            self.keys.append(key)
        self._queue_state()

    def _key_up(self, key: KeyUsage) -> None:
        bit = modifier_bit(key)
        if bit:
            if not self.modifiers & bit:
                return
            self.modifiers &= ~bit
        elif key not in self.keys:
            return
        else:
            self.keys.remove(key)
        self._queue_state()

    def _queue_state(self) -> None:
        self._queue.append(self.current_report())
        self._reports_added()

    # -- reports ----------------------------------------------------------------------------

    @property
    def pending_reports(self) -> int:
        return len(self._queue)

    def clear_reports(self) -> None:
        """Drop every queued report (the keys held stay held)."""
        self._queue.clear()

    def current_report(self) -> bytes:
        """The boot report for the keys held now (ErrorRollOver beyond six keys)."""
        return boot_keyboard_report(self.modifiers, self.keys)

    def _take_report(self) -> bytes | None:
        return self._queue.popleft() if self._queue else None

    def set_output_report(self, data: bytes) -> None:
        """SET_REPORT(Output): the LED byte (an empty report changes nothing, as in QEMU)."""
        if data:
            self.leds = KeyboardLed(data[0]) & _ALL_LEDS

    def output_report(self) -> bytes:
        """GET_REPORT(Output): the LED byte last set."""
        return bytes((self.leds,))

    def _action(self, action: Action) -> Thunk:
        match action:
            case Press(what):
                pressed = parse_keys(what)
                return lambda: self._press(pressed)
            case Release(what):
                released = parse_keys(what)
                return lambda: self._release(released)
            case Tap(what):
                tapped = parse_keys(what)
                return lambda: self._tap(tapped)
            case Type(text):
                return lambda: self.type(text)
        raise ValueError(f"a keyboard cannot perform {action!r}: it presses, releases and "
                         "taps keys and types text")
