"""USB/IP: usbemu's devices exported to other hosts, and other hosts' devices imported —
the counterpart of drivers/usb/usbip/ and tools/usb/usbip/.

`protocol` is the wire format and connection state, sans-I/O; `stub` the usbip-host
driver that serves an exported device's URBs; `server` usbipd on asyncio streams;
`client` the importing side that connects a vhci controller's port (usbemu.host.vhci) to
a remote device.
"""
