"""The SCSI mid-layer and the SCSI disk driver — counterpart of Linux's drivers/scsi (the
parts a USB disk needs: scsi.c, hosts.c, scsi_scan.c, scsi_lib.c, scsi_error.c,
scsi_sysfs.c, scsi_logging.c, constants.c and sd.c).

A low-level driver (usb-storage) fills in a `ScsiHostTemplate`, allocates a host with
`scsi_host_alloc`, adds it under its USB interface with `scsi_add_host` and scans it with
`scsi_scan_host`; the mid-layer finds the logical units, registers them on the "scsi" bus,
and sd turns each disk into a block device.  The modules import only `usbemu.spec` and
`usbemu.kernel`.
"""
