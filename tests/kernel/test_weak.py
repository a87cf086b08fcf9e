"""WeakTable (usbemu.kernel.weak), and what it is for: a closed machine is freed, whatever
its drivers registered in the per-machine tables of usbcore, sysfs, tty, input, block, SCSI,
HID, usb-serial and usbmon.  (The device fuzzer found machines piling up: each table held
its value, each value its key, so no machine was ever freed — 3 MB and 7,500 objects per
machine, a campaign slowing down as it ran.)"""

from __future__ import annotations

import gc
import weakref

from usbemu.emulated.models import load_model
from usbemu.kernel.weak import WeakTable
from usbemu.system import System


class Key:
    pass


class Value:
    def __init__(self, key: Key) -> None:
        self.key = key          # a value that refers to its key, as a subsystem to its core


def test_a_weak_table_finds_what_is_alive() -> None:
    table: WeakTable[Key, Value] = WeakTable()
    key = Key()
    value = Value(key)
    key.value = value           # type: ignore[attr-defined]  # the owner holds its value
    table[key] = value
    assert table.get(key) is value and key in table and len(table) == 1
    assert list(table.values()) == [value]
    assert table.pop(key) is value and table.get(key) is None and key not in table
    assert table.pop(key, value) is value


def test_a_weak_table_keeps_neither_key_nor_value_alive() -> None:
    table: WeakTable[Key, Value] = WeakTable()
    key = Key()
    value = Value(key)
    key.value = value           # type: ignore[attr-defined]
    table[key] = value
    gone = weakref.ref(key)
    del key, value
    gc.collect()
    assert gone() is None and len(table) == 0


def test_a_closed_machine_is_freed() -> None:
    system = System()
    system.boot()
    system.add_controller()
    for port, name in enumerate(("mouse", "ftdi", "pendrive", "acm", "hub"), start=1):
        system.plug(load_model(name)(), f"1-{port}")
    system.settle()
    system.unplug("1-4")        # cdc-acm leaves a port in its tty driver's table
    system.settle()
    parts = {name: weakref.ref(getattr(system, name))
             for name in ("loop", "usb", "vfs", "tty", "input", "block", "scsi", "usb_files")}
    system.close()
    del system
    gc.collect()
    assert [name for name, ref in parts.items() if ref() is not None] == []
