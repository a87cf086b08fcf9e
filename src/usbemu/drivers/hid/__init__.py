"""HID — counterpart of Linux's drivers/hid/: the HID core and the drivers built on it.

    hid_core.py     hid-core.c and include/linux/hid.h: the report-descriptor parser, the
                    hid_device / hid_report / hid_field structures, report processing
                    (hid_input_report), output reports, the "hid" bus with its device
                    names BBBB:VVVV:PPPP.NNNN, sysfs files and uevents, driver matching
                    (hid_device_id tables and groups), hid_hw_start / hid_connect and the
                    transport hooks a low-level driver provides (`HidLlDriver`)
    hidraw.py       hidraw.c: /dev/hidrawN, raw reports read and written by applications
    hid_input.py    hid-input.c: HID usages mapped to input events
    hid.py          the loadable module `hid` (hid.ko: hid-core, hid-input and hidraw),
                    which starts the machine's HID core
    hid_generic.py  hid-generic.c: the driver bound to every HID device no specific
                    driver claims (module `hid_generic`)
    usbhid/         drivers/hid/usbhid/: the USB transport (usbhid) and the article's
                    boot-protocol drivers usbmouse and usbkbd

The core's state belongs to a machine (`HidCore`): loading `hid` creates it, unloading it
removes it; transport and driver modules depend on `hid` and find it through
`current_hid_core`.  This package itself holds no code.
"""
