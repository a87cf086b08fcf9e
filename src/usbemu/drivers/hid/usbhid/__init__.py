"""usbhid — counterpart of Linux's drivers/hid/usbhid/: HID over USB.

    hid_core.py     hid-core.c, the loadable module `usbhid` (usbhid.ko): the USB
                    transport of the HID core — the interface driver "usbhid" that turns
                    every HID interface into a hid device (0003:VVVV:PPPP.NNNN) and
                    carries its reports (interrupt IN, interrupt OUT or SET_REPORT,
                    GET_REPORT, SET_IDLE)
    usbmouse.py     usbmouse.c: the boot-protocol mouse driver of the USB core article,
                    an example module (`insmod usbmouse`)
    usbkbd.py       usbkbd.c: the boot-protocol keyboard driver with its LED report, an
                    example module (`insmod usbkbd`)

udev autoloads usbhid (and, for the hid device it adds, hid-generic) for a HID interface,
as on Linux; usbmouse and usbkbd are not installed, so they bind only when loaded by hand
before usbhid takes the interface.  This package itself holds no code.
"""
