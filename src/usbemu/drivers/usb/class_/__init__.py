"""USB class drivers — counterpart of Linux's drivers/usb/class/ (the directory is named
`class_` because `class` is a Python keyword).

    cdc_acm.py      cdc-acm.c and cdc-acm.h: the loadable module `cdc_acm`, the driver of
                    CDC Abstract Control Model interfaces (modems, virtual COM ports),
                    whose lines are the ttys ttyACM0, ttyACM1 … (major 166)

This package itself holds no code.
"""
