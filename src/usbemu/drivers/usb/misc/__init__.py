"""Miscellaneous USB drivers — counterpart of Linux's drivers/usb/misc/: drivers that give a
device a char-device node of the USB major (180) with usb_register_dev and move its data in
their file operations.

Holds the out-of-tree pen drive driver of the "USB drivers in Linux" articles
(`pen_driver`), which `insmod pen_driver` loads by name and modprobe does not see.  This
package itself holds no code.
"""
