"""The USB monitor — counterpart of Linux's drivers/usb/mon/: usbmon's readers of every
URB a machine's host controllers see.

`mon_main` fans the HCD framework's three hooks out to the readers of one bus and of the
pseudo-bus 0 (all buses); `mon_text` is the debugfs text interface
(/sys/kernel/debug/usb/usbmon/<bus>u, <bus>t, <bus>s); `mon_bin` encodes an event as
struct mon_bin_hdr, the record of /dev/usbmonN and of pcap's LINKTYPE_USB_LINUX_MMAPPED.
The capture files themselves are written by `usbemu.bridges.usbmon`.  This package itself
holds no code.
"""
