"""Class drivers — counterpart of Linux's drivers/ tree, for the drivers written against
usbemu.core (the USB core's driver API) and usbemu.kernel (char devices, tty, input, block).

The package mirrors Linux's paths, one package per kernel directory, created with its first
module:

    drivers/usb/misc/       drivers/usb/misc/: char-device drivers that take a minor of the
                            USB major with usb_register_dev — the pen drive driver of the
                            "USB drivers in Linux" articles (pen_driver, an out-of-tree
                            example), later usbtest
    drivers/usb/serial/     drivers/usb/serial/: the usb-serial core (usb-serial.c, bus.c,
                            generic.c) and its converters
    drivers/usb/class_/     drivers/usb/class/ (`class` is a Python keyword): cdc-acm
                            (cdc_acm), the ttyACM driver of CDC-ACM modems and virtual
                            COM ports
    drivers/hid/            drivers/hid/: the HID core (hid-core, hidraw, hid-input: the
                            module hid) and hid-generic
    drivers/hid/usbhid/     drivers/hid/usbhid/: usbhid, usbmouse, usbkbd
    drivers/usb/storage/    drivers/usb/storage/: usb-storage (Bulk-Only and CB[I]
                            transports, the SCSI host of each mass-storage interface)
                            and uas
    drivers/usb/usbip/      drivers/usb/usbip/: the USB/IP host (stub) and vhci sides

Today drivers/usb/misc/, drivers/usb/serial/, drivers/usb/class_/, drivers/usb/storage/,
drivers/hid/ and drivers/hid/usbhid/ exist.  Not here, though Linux keeps them under
drivers/ too: the USB core (drivers/usb/core/) is usbemu.core, the host controller
drivers (drivers/usb/host/) are usbemu.host, and the input core with evdev
(drivers/input/), the tty core (drivers/tty/) and the char-device layer are
usbemu.kernel.  A driver module imports usbemu.core, usbemu.kernel and usbemu.linux, never
usbemu.host, the bridges, the command line or the System (tests/test_layers.py holds
that).

A driver module is a Python module that calls `module_init` and `module_exit` (what a .ko
carries).  The module tools of kernel/kmod.py find one by name, and always by import path,
never by a file inside this package:

- `INSTALLED_MODULES` (name → import path) is usbemu's /lib/modules/<release>/kernel:
  modprobe loads those modules, depmod lists their aliases, udev autoloads them;
- the `usbemu.drivers` entry-point group adds the driver modules of installed packages
  (`mydrv = "mypackage.mydrv"`); `DRIVER_MODULES` is the registry of both;
- `EXAMPLE_MODULES` (name → import path) holds the out-of-tree examples shipped here, such
  as pen_driver: `insmod pen_driver` loads one, as the articles' `insmod pen_driver.ko`
  does, but modprobe, depmod and autoload do not see it until `KernelModules.install()`
  (an autoloading pen_driver would take every pen drive plugged in).

Each load executes a fresh copy of the module's code (kernel/module_loader.py), so a module
starts with fresh globals at each insmod.  Importing a driver module yourself gives its
functions and tables without loading it into any machine.  This package itself holds no
code.
"""
