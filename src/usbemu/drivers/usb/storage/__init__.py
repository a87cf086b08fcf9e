"""USB mass storage — counterpart of Linux's drivers/usb/storage/: the usb-storage driver
(usb.c, transport.c, protocol.c, scsiglue.c, usual-tables.c, initializers.c, which Linux
links into usb-storage.ko) and the uas driver.

    usb.py          usb.c: the loadable module `usb-storage` (parameters delay_use and
                    quirks), probe and disconnect, the control thread, the delayed scan
    us_data.py      usb.h and include/linux/usb_usual.h: struct us_data, us_unusual_dev,
                    the US_FLIDX_* state bits and the US_FL_* quirks
    transport.py    transport.c and transport.h: Bulk-Only and Control/Bulk(/Interrupt)
                    transports, auto-sense, GET MAX LUN, the reset recovery
    protocol.py     protocol.c: transparent SCSI, 12-byte ATAPI and UFI command blocks
    scsiglue.py     scsiglue.c: the SCSI host template, queuecommand, error handlers
    unusual_devs.py unusual_devs.h and unusual_uas.h: the unusual-devices table
    usual_tables.py usual-tables.c: the id table and the subdriver ignore list
    initializers.py initializers.c: device initialisation functions
    uas_detect.py   uas-detect.h: whether an interface is for uas
    uas.py          uas.c: the loadable module `uas`

usb-storage is a low-level driver of the SCSI mid-layer (usbemu.kernel.scsi): each
interface it binds gets a SCSI host whose disks sd makes block devices.  This package
itself holds no code.
"""
