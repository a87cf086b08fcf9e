"""USB serial converters — counterpart of Linux's drivers/usb/serial/: the usb-serial core
(usb-serial.c, bus.c and generic.c, which Linux links into usbserial.ko) and the converter
drivers built on it.

    usb_serial.py   usb-serial.c and include/linux/usb/serial.h: `UsbSerialDriver`,
                    `UsbSerial`, `UsbSerialPort`, the probe that pairs endpoints with
                    ports, the ttyUSB tty driver (major 188) and its minors,
                    /proc/tty/driver/usbserial, usb_serial_register_drivers
    bus.py          bus.c: the usb-serial bus, port devices ttyUSBn, new_id
    generic.py      generic.c: the generic driver's operations, which every converter
                    driver inherits where it leaves one out
    usbserial.py    the loadable module `usbserial` (module parameters vendor and
                    product for the generic driver)
    ftdi_sio.py     ftdi_sio.c and ftdi_sio.h: the FTDI driver (module `ftdi_sio`)
    ftdi_sio_ids.py ftdi_sio_ids.h: the FTDI-vendor ids of its table
    tiny.py         the "tiny" driver of the usb-serial article: an id table and a port
                    count, nothing else (an example module: `insmod tiny`)

The core's state belongs to a machine (`UsbSerialCore`): loading `usbserial` creates it,
unloading it removes it; converter modules depend on `usbserial` and find it through
`usb_serial_core_of`.  This package itself holds no code.
"""
