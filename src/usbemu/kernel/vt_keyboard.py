"""The console's keyboard handler — counterpart of the input-handler half of
drivers/tty/vt/keyboard.c (kbd_handler: kbd_match, kbd_connect, kbd_disconnect).

Linux registers "kbd" at boot, before any input device exists: it connects to every
device that has a key below BTN_MISC or a Braille dot key, or a sound event (EV_SND), and
opens it at once — which is why a USB keyboard is polled from the moment it is bound
(usbhid_open submits the interrupt URB in the probe, before the hub driver goes on to the
next port).  The handler holds each keyboard open until it goes away.

What it does not do: there is no virtual console, so the keys it receives go nowhere
(no keymaps, no keyboard modes, no console switching, no LED state of a console to push
to new keyboards: every console's LEDs are off, the state a new keyboard already has).
"""

from __future__ import annotations

from typing import Final

from .input import (
    INPUT_DEVICE_ID_MATCH_EVBIT,
    InputDev,
    InputDeviceId,
    InputHandle,
    InputHandler,
    input_close_device,
    input_open_device,
    input_register_handle,
    input_unregister_handle,
)
from .input_event_codes import BTN_MISC, EV_KEY, EV_SND, KEY_BRL_DOT1, KEY_BRL_DOT10

__all__ = ["KBD_IDS", "kbd_handler", "kbd_match"]

#: kbd_ids: devices with keys, devices with sounds (kbd_match refines the first).
KBD_IDS: Final = (InputDeviceId(flags=INPUT_DEVICE_ID_MATCH_EVBIT, evbit=1 << EV_KEY),
                  InputDeviceId(flags=INPUT_DEVICE_ID_MATCH_EVBIT, evbit=1 << EV_SND))

#: Keys that make a keyboard: KEY_RESERVED up to BTN_MISC, and the Braille dots.
_KEYBOARD_KEYS: Final = ((1 << BTN_MISC) - 1) \
    | (((1 << (KEY_BRL_DOT10 + 1)) - 1) & ~((1 << KEY_BRL_DOT1) - 1))


def kbd_match(handler: InputHandler, dev: InputDev) -> bool:
    """kbd_match(): a device that beeps, or one with a keyboard key (a mouse's buttons, all
    from BTN_MISC on, do not count).  Context: atomic."""
    if dev.evbit >> EV_SND & 1:
        return True
    return bool(dev.evbit >> EV_KEY & 1 and dev.keybit & _KEYBOARD_KEYS)


async def kbd_connect(handler: InputHandler, dev: InputDev, id: InputDeviceId) -> int:
    """kbd_connect(): a handle named "kbd", registered and opened.  0, or the open's
    error (the handle is then unregistered).  Context: may sleep (the device's open)."""
    handle = InputHandle(dev, handler, "kbd")
    input_register_handle(handle)
    error = await input_open_device(handle)
    if error:
        input_unregister_handle(handle)
    return error


async def kbd_disconnect(handle: InputHandle) -> None:
    """kbd_disconnect(): close the device and drop the handle.  Context: may sleep."""
    await input_close_device(handle)
    input_unregister_handle(handle)


def kbd_handler() -> InputHandler:
    """The "kbd" input handler of one machine.  Context: atomic."""
    return InputHandler(name="kbd", connect=kbd_connect, disconnect=kbd_disconnect,
                        match=kbd_match, id_table=KBD_IDS)
