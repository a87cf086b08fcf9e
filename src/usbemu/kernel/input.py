"""The input core — counterpart of drivers/input/input.c and include/linux/input.h.

A driver describes an input device with an `InputDev` (struct input_dev: name, phys, uniq,
id, capability bitmaps, absolute axes, autorepeat settings and its open/close/event
callbacks), registers it with `input_register_device` and reports what happens with
`input_event` and its helpers (`input_report_key`, `input_report_rel`, `input_report_abs`,
`input_sync` …).  The core filters events as Linux's input_get_disposition does — keys and
switches only on a change of state (value 2, autorepeat, always passes), relative motion of
0 dropped, absolute values defuzzed and dropped when unchanged, LED and sound changes and
MSC events also passed to the device's `event` callback — collects a frame of values until
SYN_REPORT and hands the frame to the open handles of the handlers connected to the device
(a frame holding nothing but the SYN_REPORT is dropped), and repeats held keys in software
(REP_DELAY 250 ms, REP_PERIOD 33 ms of machine time) for a device with EV_REP whose driver
set no repeat rates of its own.  Handlers (`InputHandler`: evdev is kernel/evdev.py's) are
offered every device; a handle's first open opens the device (`open`), its last close
closes it.

`InputCore` is one machine's input layer: the "input" class (/sys/class/input/inputN, the
input device below its parent with name, phys, uniq, modalias, properties, inhibited,
capabilities/*, id/* and uevent as Linux formats them), the char-device region of major 13,
the minors handlers take (input_get_new_minor), /proc/bus/input/devices and
/proc/bus/input/handlers, and the log line "input: <name> as <sysfs path>".  Devices are
numbered as Linux numbers them: inputN counts up for the life of the machine (at
allocation, or at registration for a device built directly), never reusing a number.
Bitmaps are Python ints (bit n of `keybit` is key code n).  Callbacks follow the kernel's
contexts: `open`, `close` and handlers' `connect`/`disconnect` run in process context and
may be coroutines; `event`, `flush` and handlers' `event`/`events`/`filter`/`start` are
atomic.  Not modelled: multitouch slots (input_mt_*: ABS_MT_* values pass unfiltered, as
for a device without slots), force feedback, keymaps (getkeycode/setkeycode), pollers,
devres-managed devices, and polling /proc/bus/input/devices for changes.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ..errors import Errno
from .devclass import ClassDevice, DeviceClass, DeviceClasses
from .device import Device, DriverCore
from .fs import mkdev
from .input_event_codes import (
    ABS_MAX,
    ABS_MT_POSITION_X,
    ABS_MT_SLOT,
    ABS_MT_TOOL_Y,
    ABS_MT_TOUCH_MAJOR,
    ABS_MT_TRACKING_ID,
    EV_ABS,
    EV_FF,
    EV_FF_STATUS,
    EV_KEY,
    EV_LED,
    EV_MAX,
    EV_MSC,
    EV_PWR,
    EV_REL,
    EV_REP,
    EV_SND,
    EV_SW,
    EV_SYN,
    FF_MAX,
    INPUT_PROP_MAX,
    KEY_MAX,
    KEY_MIN_INTERESTING,
    KEY_RESERVED,
    LED_MAX,
    MSC_MAX,
    REL_MAX,
    REP_DELAY,
    REP_MAX,
    REP_PERIOD,
    SND_MAX,
    SW_MAX,
    SYN_CONFIG,
    SYN_MT_REPORT,
    SYN_REPORT,
    InputAbsinfo,
    InputId,
)
from .printk import Level
from .sysfs import SysAttr, attr_group, kstrtobool, ro
from .vfs import Attr, Node, StaticDir, Vfs
from .vtime import NS_PER_S, VirtualTimeLoop

if TYPE_CHECKING:
    from .char_dev import CharDevices
    from .fs import File

__all__ = [
    "CAPABILITIES",
    "INPUT_MAJOR",
    "InputCore",
    "InputDev",
    "InputDevice",
    "InputDeviceId",
    "InputHandle",
    "InputHandler",
    "InputValue",
    "input_abs_get_flat",
    "input_abs_get_fuzz",
    "input_abs_get_max",
    "input_abs_get_min",
    "input_abs_get_res",
    "input_abs_get_val",
    "input_abs_set_flat",
    "input_abs_set_fuzz",
    "input_abs_set_max",
    "input_abs_set_min",
    "input_abs_set_res",
    "input_abs_set_val",
    "input_alloc_absinfo",
    "input_allocate_device",
    "input_close_device",
    "input_core_of",
    "input_enable_softrepeat",
    "input_event",
    "input_flush_device",
    "input_free_device",
    "input_free_minor",
    "input_get_drvdata",
    "input_get_new_minor",
    "input_get_timestamp",
    "input_grab_device",
    "input_handle_event",
    "input_inhibit_device",
    "input_inject_event",
    "input_match_device_id",
    "input_mt_sync",
    "input_open_device",
    "input_print_bitmap",
    "input_print_modalias",
    "input_register_device",
    "input_register_handle",
    "input_register_handler",
    "input_release_device",
    "input_report_abs",
    "input_report_ff_status",
    "input_report_key",
    "input_report_rel",
    "input_report_switch",
    "input_reset_device",
    "input_set_abs_params",
    "input_set_capability",
    "input_set_drvdata",
    "input_set_events_per_packet",
    "input_set_timestamp",
    "input_sync",
    "input_uninhibit_device",
    "input_unregister_device",
    "input_unregister_handle",
    "input_unregister_handler",
]

#: The input char major (include/uapi/linux/major.h) and its minors (input.c).
INPUT_MAJOR: Final = 13
INPUT_MAX_CHAR_DEVICES: Final = 1024
INPUT_FIRST_DYNAMIC_DEV: Final = 256

#: input_get_disposition()'s verdicts, as bits.
INPUT_IGNORE_EVENT: Final = 0
INPUT_PASS_TO_HANDLERS: Final = 1
INPUT_PASS_TO_DEVICE: Final = 2
INPUT_FLUSH: Final = 8
INPUT_PASS_TO_ALL: Final = INPUT_PASS_TO_HANDLERS | INPUT_PASS_TO_DEVICE

#: struct input_device_id match flags (include/linux/mod_devicetable.h).
INPUT_DEVICE_ID_MATCH_BUS: Final = 1
INPUT_DEVICE_ID_MATCH_VENDOR: Final = 2
INPUT_DEVICE_ID_MATCH_PRODUCT: Final = 4
INPUT_DEVICE_ID_MATCH_VERSION: Final = 8
INPUT_DEVICE_ID_MATCH_EVBIT: Final = 0x0010
INPUT_DEVICE_ID_MATCH_KEYBIT: Final = 0x0020
INPUT_DEVICE_ID_MATCH_RELBIT: Final = 0x0040
INPUT_DEVICE_ID_MATCH_ABSBIT: Final = 0x0080
INPUT_DEVICE_ID_MATCH_MSCIT: Final = 0x0100
INPUT_DEVICE_ID_MATCH_LEDBIT: Final = 0x0200
INPUT_DEVICE_ID_MATCH_SNDBIT: Final = 0x0400
INPUT_DEVICE_ID_MATCH_FFBIT: Final = 0x0800
INPUT_DEVICE_ID_MATCH_SWBIT: Final = 0x1000
INPUT_DEVICE_ID_MATCH_PROPBIT: Final = 0x2000

#: The software autorepeat rates input_register_device() sets (ms).
REP_DELAY_DEFAULT_MS: Final = 250
REP_PERIOD_DEFAULT_MS: Final = 33

ABS_MT_FIRST: Final = ABS_MT_TOUCH_MAJOR
ABS_MT_LAST: Final = ABS_MT_TOOL_Y

BITS_PER_LONG: Final = 64
_LONG_MASK: Final = (1 << BITS_PER_LONG) - 1
PAGE_SIZE: Final = 4096
#: The environment buffer of one uevent, and what input_add_uevent_modalias_var leaves
#: for the variables the driver core adds after it.
UEVENT_BUFFER_SIZE: Final = 2048
UEVENT_ENV_EXTRA_LEN: Final = 96

#: One value of a frame: (type, code, value) — struct input_value.
InputValue: TypeAlias = tuple[int, int, int]
INPUT_VALUE_SYNC: Final[InputValue] = (EV_SYN, SYN_REPORT, 1)

OpenFn: TypeAlias = "Callable[[InputDev], int | Awaitable[int | None] | None]"
CloseFn: TypeAlias = "Callable[[InputDev], Awaitable[None] | None]"
EventFn: TypeAlias = "Callable[[InputDev, int, int, int], int | None]"
FlushFn: TypeAlias = "Callable[[InputDev, File | None], int]"

#: The capability bitmap of each event type that has codes (the InputDev attribute), with
#: the type's highest code.
CAPABILITIES: Final[Mapping[int, tuple[str, int]]] = {
    EV_KEY: ("keybit", KEY_MAX),
    EV_REL: ("relbit", REL_MAX),
    EV_ABS: ("absbit", ABS_MAX),
    EV_MSC: ("mscbit", MSC_MAX),
    EV_LED: ("ledbit", LED_MAX),
    EV_SND: ("sndbit", SND_MAX),
    EV_FF: ("ffbit", FF_MAX),
    EV_SW: ("swbit", SW_MAX),
}


def bits_to_longs(nr: int) -> int:
    """BITS_TO_LONGS(): the unsigned longs (64 bits) a bitmap of `nr` bits takes.
    Context: atomic."""
    return (nr + BITS_PER_LONG - 1) // BITS_PER_LONG


def _set_bits(bitmap: int, start: int = 0, end: int | None = None) -> Iterable[int]:
    """The numbers of the bits set in `bitmap`, from `start` up to `end` (excluded)."""
    if end is not None:
        bitmap &= (1 << end) - 1
    bitmap = bitmap >> start << start
    while bitmap:
        low = bitmap & -bitmap
        yield low.bit_length() - 1
        bitmap ^= low


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncating toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# -- the objects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputDeviceId:
    """struct input_device_id: what a handler connects to — the fields `flags` names
    (INPUT_DEVICE_ID_MATCH_*) and the capability bits a device must have.  An entry with
    neither flags nor driver_info ends a table; `InputDeviceId(driver_info=1)` matches
    every device (evdev's table)."""

    flags: int = 0
    bustype: int = 0
    vendor: int = 0
    product: int = 0
    version: int = 0
    evbit: int = 0
    keybit: int = 0
    relbit: int = 0
    absbit: int = 0
    mscbit: int = 0
    ledbit: int = 0
    sndbit: int = 0
    ffbit: int = 0
    swbit: int = 0
    propbit: int = 0
    driver_info: int = 0


class InputDev:
    """struct input_dev.  What a driver sets before registering: `name`, `phys`, `uniq`
    (None: not set — different from ""), `id` (bustype, vendor, product, version),
    `parent` (the USB interface or HID device it belongs to), the capability bitmaps
    `propbit`, `evbit`, `keybit`, `relbit`, `absbit`, `mscbit`, `ledbit`, `sndbit`,
    `ffbit`, `swbit`, `absinfo` (per axis, through `input_set_abs_params`), `rep`
    ([REP_DELAY, REP_PERIOD] in ms; set both to handle repeat itself),
    `hint_events_per_packet`, and the callbacks `open(dev)` and `close(dev)` (process
    context, may be coroutines; open returns 0 or -errno), `event(dev, type, code,
    value)` (atomic: an LED, sound or repeat change for the hardware) and `flush(dev,
    file)`.  The core keeps the state: `key`, `led`, `snd`, `sw` bitmaps, `users`, the
    handles (`h_list`), the grabbing handle (`grab`).  `number` is N of inputN; `dev` is
    the registered sysfs device (None until then)."""

    __slots__ = ("__weakref__", "absbit", "absinfo", "close", "core", "dev", "driver_data",
                 "evbit", "event", "ffbit", "flush", "going_away", "grab", "h_list",
                 "hint_events_per_packet", "id", "inhibited", "key", "keybit", "led",
                 "ledbit", "max_vals", "mscbit", "mutex", "name", "number", "open", "parent",
                 "phys", "propbit", "registered", "relbit", "rep", "repeat_key", "snd",
                 "sndbit", "softrepeat", "sw", "swbit", "timer", "timestamp_ns", "uniq",
                 "users", "vals")

    def __init__(self, name: str | None = None, *, phys: str | None = None,
                 uniq: str | None = None, id: InputId | None = None,
                 parent: Device | None = None) -> None:
        self.name = name
        self.phys = phys
        self.uniq = uniq
        self.id = id if id is not None else InputId()
        self.parent = parent
        self.driver_data: Any = None
        self.propbit = self.evbit = self.keybit = self.relbit = self.absbit = 0
        self.mscbit = self.ledbit = self.sndbit = self.ffbit = self.swbit = 0
        self.key = self.led = self.snd = self.sw = 0
        self.absinfo: list[InputAbsinfo] | None = None
        self.rep = [0, 0]
        self.hint_events_per_packet = 0
        #: The frame being collected (dev->vals) and how long it may grow (max_vals).
        self.vals: list[InputValue] = []
        self.max_vals = 10
        self.open: OpenFn | None = None
        self.close: CloseFn | None = None
        self.event: EventFn | None = None
        self.flush: FlushFn | None = None
        self.users = 0
        self.going_away = False
        self.inhibited = False
        self.registered = False
        self.grab: InputHandle | None = None
        self.h_list: list[InputHandle] = []
        self.mutex = asyncio.Lock()
        #: Software autorepeat: enabled (the timer has its function), the key, the timer.
        self.softrepeat = False
        self.repeat_key = 0
        self.timer: asyncio.TimerHandle | None = None
        #: The frame's CLOCK_MONOTONIC time in ns (dev->timestamp), None until asked.
        self.timestamp_ns: int | None = None
        self.number: int | None = None
        self.core: InputCore | None = None
        self.dev: InputDevice | None = None

    def __repr__(self) -> str:
        return f"<InputDev {self.dev_name} {self.name!r}>"

    @property
    def dev_name(self) -> str:
        """dev_name(&dev->dev): "input5" ("input?" before it has a number)."""
        return f"input{'?' if self.number is None else self.number}"

    def driver_string(self) -> str:
        """dev_driver_string(): the class name, "input"."""
        return "input"


class InputHandle:
    """struct input_handle: one handler connected to one device — `name` (evdev's is
    "event5"), how often it is open (`open`), the handler's `private` data."""

    def __init__(self, dev: InputDev, handler: InputHandler, name: str,
                 private: Any = None) -> None:
        self.dev = dev
        self.handler = handler
        self.name = name
        self.private = private
        self.open = 0
        self.handle_events: Callable[[InputHandle, list[InputValue]], int] = _events_null

    def __repr__(self) -> str:
        return f"<InputHandle {self.name} of {self.dev.dev_name} open={self.open}>"


@dataclass(eq=False)
class InputHandler:
    """struct input_handler.  `connect(handler, dev, id)` (may sleep; 0 or -errno,
    -ENODEV quietly declines) registers a handle for the device; `disconnect(handle)` (may
    sleep) undoes it.  At most one of the atomic frame callbacks: `filter(handle, type,
    code, value)` (True: the value goes no further), `event(handle, type, code, value)`,
    or `events(handle, vals)` (the whole frame).  `start(handle)` (atomic) is called when
    the handle is registered and when a grab ends; `match(handler, dev)` refines
    `id_table`.  `legacy_minors` and `minor` are shown in /proc/bus/input/handlers."""

    name: str
    connect: Callable[[InputHandler, InputDev, InputDeviceId], int | Awaitable[int]]
    disconnect: Callable[[InputHandle], Awaitable[None] | None]
    event: Callable[[InputHandle, int, int, int], None] | None = None
    events: Callable[[InputHandle, list[InputValue]], int | None] | None = None
    filter: Callable[[InputHandle, int, int, int], bool] | None = None
    match: Callable[[InputHandler, InputDev], bool] | None = None
    start: Callable[[InputHandle], None] | None = None
    legacy_minors: bool = False
    minor: int = 0
    id_table: tuple[InputDeviceId, ...] = (InputDeviceId(driver_info=1),)
    #: The handles of this handler (handler->h_list).
    h_list: list[InputHandle] = field(default_factory=list, init=False)


# -- the machine's input layer ----------------------------------------------------------------


def input_devnode(dev: ClassDevice) -> str:
    """input_devnode(): nodes of the input class live in /dev/input."""
    return f"input/{dev.name}"


#: The core of each machine, by its loop.  The machine holds its core; a weak value lets
#: a closed machine go (a weak key could not: the core holds the loop).
_cores: weakref.WeakValueDictionary[asyncio.AbstractEventLoop, InputCore] = \
    weakref.WeakValueDictionary()


class InputCore:
    """The input layer of one machine (see the module docstring): the registered devices
    (`dev_list`) and handlers (`handler_list`, with `handlers` registered at once, as
    built-in handlers are).  Context: construction is atomic; registering devices and
    handlers may sleep.  `realtime_offset_ns` is what CLOCK_REALTIME reads ahead of
    CLOCK_MONOTONIC (0: the machine's wall clock starts at the epoch with its boot)."""

    def __init__(self, driver_core: DriverCore, chrdev: CharDevices, classes: DeviceClasses,
                 vfs: Vfs, loop: asyncio.AbstractEventLoop,
                 handlers: Iterable[InputHandler] = ()) -> None:
        self.driver_core = driver_core
        self.chrdev = chrdev
        self.classes = classes
        self.loop = loop
        self.log = driver_core.log
        self.dev_list: list[InputDev] = []
        self.handler_list: list[InputHandler] = []
        self.mutex = asyncio.Lock()
        self.realtime_offset_ns = 0
        self._input_no = -1
        self._minors: set[int] = set()
        self.input_class = DeviceClass("input", devnode=input_devnode)
        classes.class_register(self.input_class)
        chrdev.register_chrdev_region(mkdev(INPUT_MAJOR, 0), INPUT_MAX_CHAR_DEVICES, "input")
        vfs.mount("/proc/bus/input/devices", Attr(show=self.show_devices))
        vfs.mount("/proc/bus/input/handlers", Attr(show=self.show_handlers))
        for handler in handlers:
            handler.h_list = []
            self.handler_list.append(handler)
        _cores[loop] = self

    def __repr__(self) -> str:
        return f"<InputCore devices={[d.dev_name for d in self.dev_list]}>"

    # -- numbers, time, contained calls --------------------------------------------------------

    def number(self, dev: InputDev) -> None:
        """Give `dev` the next inputN number (input_allocate_device).  Context: atomic."""
        self._input_no += 1
        dev.number = self._input_no

    def get_new_minor(self, legacy_base: int, legacy_num: int, allow_dynamic: bool) -> int:
        """input_get_new_minor(): the lowest free minor of legacy_base..+legacy_num-1
        (legacy_base < 0: none), else (allow_dynamic) of 256..1023; -ENOSPC when none is
        free.  Context: atomic."""
        ranges = [(legacy_base, legacy_base + legacy_num)] if legacy_base >= 0 else []
        if allow_dynamic or not ranges:
            ranges.append((INPUT_FIRST_DYNAMIC_DEV, INPUT_MAX_CHAR_DEVICES))
        for start, end in ranges:
            minor = next((m for m in range(start, end) if m not in self._minors), None)
            if minor is not None:
                self._minors.add(minor)
                return minor
        return -Errno.ENOSPC

    def free_minor(self, minor: int) -> None:
        """input_free_minor().  Context: atomic."""
        self._minors.discard(minor)

    def now_ns(self) -> int:
        """ktime_get(): CLOCK_MONOTONIC of the machine in ns.  Context: atomic."""
        loop = self.loop
        if isinstance(loop, VirtualTimeLoop):
            return loop.time_ns()
        return round(loop.time() * NS_PER_S)

    async def call(self, what: str, fn: Callable[..., Any], *args: Any) -> int:
        """Run a driver or handler callback: its int result (None: 0), -errno for an
        OSError, -EIO after anything else it raised (logged like an oops).  Context: may
        sleep."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
        except OSError as exc:
            return -(exc.errno or Errno.EIO)
        except BaseException as exc:
            self.driver_core.contain(what, exc)
            return -Errno.EIO
        if result is None:
            return 0
        if isinstance(result, bool) or not isinstance(result, int):
            self.driver_core.oops(what, TypeError(f"returned {result!r}: return 0 or a "
                                                  "negative errno"))
            return -Errno.EIO
        return result

    # -- devices -------------------------------------------------------------------------------

    async def register_device(self, dev: InputDev) -> int:
        """input_register_device(): see the module function.  Context: may sleep."""
        if dev.registered:
            raise ValueError(f"{dev.dev_name} is already registered")
        if dev.number is None:
            self.number(dev)
        if dev.evbit >> EV_ABS & 1 and dev.absinfo is None:
            self.log.dev_err(dev, "Absolute device without dev->absinfo, refusing to register")
            return -Errno.EINVAL
        dev.evbit |= 1 << EV_SYN
        dev.keybit &= ~(1 << KEY_RESERVED)
        input_cleanse_bitmasks(dev)
        input_device_tune_vals(dev)
        if not dev.rep[REP_DELAY] and not dev.rep[REP_PERIOD]:
            input_enable_softrepeat(dev, REP_DELAY_DEFAULT_MS, REP_PERIOD_DEFAULT_MS)
        device = InputDevice(self.input_class, dev)
        try:
            await self.classes.device_register(device)
        except OSError as exc:
            return -(exc.errno or Errno.EINVAL)
        dev.core, dev.dev = self, device
        self.log.info(f"input: {dev.name if dev.name is not None else 'Unspecified device'}"
                      f" as {device.sysfs_path()}")
        async with self.mutex:
            self.dev_list.append(dev)
            dev.registered = True
            for handler in tuple(self.handler_list):
                await self.attach_handler(dev, handler)
        return 0

    async def unregister_device(self, dev: InputDev) -> None:
        """input_unregister_device(): see the module function.  Context: may sleep."""
        if not dev.registered or dev.dev is None:
            raise ValueError(f"{dev.dev_name} is not registered")
        async with dev.mutex:
            dev.going_away = True
        if input_dev_release_keys(dev):
            input_handle_event(dev, EV_SYN, SYN_REPORT, 1)
        for handle in dev.h_list:
            handle.open = 0
        async with self.mutex:
            for handle in tuple(dev.h_list):
                handler = handle.handler
                await self.call(f"disconnect of {dev.dev_name} by input handler "
                                f"{handler.name}", handler.disconnect, handle)
            input_stop_autorepeat(dev)
            self.dev_list.remove(dev)
            dev.registered = False
        await self.classes.device_unregister(dev.dev)

    async def attach_handler(self, dev: InputDev, handler: InputHandler) -> int:
        """input_attach_handler(): connect `handler` to `dev` when its id table (and
        match) accept the device; 0 or -errno ("failed to attach handler" logged for
        errors other than -ENODEV).  Context: may sleep."""
        id = input_match_device(handler, dev)
        if id is None:
            return -Errno.ENODEV
        error = await self.call(f"connect of {dev.dev_name} by input handler {handler.name}",
                                handler.connect, handler, dev, id)
        if error and error != -Errno.ENODEV:
            self.log.log(Level.ERR, f"input: failed to attach handler {handler.name} to "
                                    f"device {dev.dev_name}, error: {error}")
        return error

    # -- handlers ------------------------------------------------------------------------------

    async def register_handler(self, handler: InputHandler) -> int:
        """input_register_handler(): see the module function.  Context: may sleep."""
        methods = sum(fn is not None for fn in (handler.filter, handler.events, handler.event))
        if methods > 1:
            self.log.log(Level.ERR, "input: input_handler_check_methods: only one event "
                                    f"processing method can be defined ({handler.name})")
            return -Errno.EINVAL
        async with self.mutex:
            handler.h_list = []
            self.handler_list.append(handler)
            for dev in tuple(self.dev_list):
                await self.attach_handler(dev, handler)
        return 0

    async def unregister_handler(self, handler: InputHandler) -> None:
        """input_unregister_handler(): see the module function.  Context: may sleep."""
        async with self.mutex:
            for handle in tuple(handler.h_list):
                await self.call(f"disconnect of {handle.dev.dev_name} by input handler "
                                f"{handler.name}", handler.disconnect, handle)
            if handler in self.handler_list:
                self.handler_list.remove(handler)

    # -- /proc/bus/input -----------------------------------------------------------------------

    def show_devices(self) -> str:
        """/proc/bus/input/devices (input_devices_seq_show): a block per device.
        Context: atomic."""
        return "".join(_device_block(dev) for dev in self.dev_list)

    def show_handlers(self) -> str:
        """/proc/bus/input/handlers (input_handlers_seq_show).  Context: atomic."""
        lines = []
        for number, handler in enumerate(self.handler_list):
            line = f"N: Number={number} Name={handler.name}"
            if handler.filter is not None:
                line += " (filter)"
            if handler.legacy_minors:
                line += f" Minor={handler.minor}"
            lines.append(line + "\n")
        return "".join(lines)


_SEQ_BITMAPS: Final = (("KEY", EV_KEY), ("REL", EV_REL), ("ABS", EV_ABS), ("MSC", EV_MSC),
                       ("LED", EV_LED), ("SND", EV_SND), ("FF", EV_FF), ("SW", EV_SW))


def _device_block(dev: InputDev) -> str:
    """One device of /proc/bus/input/devices."""
    path = dev.dev.sysfs_path() if dev.dev is not None else ""
    lines = [
        f"I: Bus={dev.id.bustype:04x} Vendor={dev.id.vendor:04x} "
        f"Product={dev.id.product:04x} Version={dev.id.version:04x}",
        f'N: Name="{dev.name or ""}"',
        f"P: Phys={dev.phys or ''}",
        f"S: Sysfs={path}",
        f"U: Uniq={dev.uniq or ''}",
        "H: Handlers=" + "".join(f"{handle.name} " for handle in dev.h_list),
        f"B: PROP={input_print_bitmap(dev.propbit, INPUT_PROP_MAX)}",
        f"B: EV={input_print_bitmap(dev.evbit, EV_MAX)}",
    ]
    for name, type_ in _SEQ_BITMAPS:
        if dev.evbit >> type_ & 1:
            attr, maximum = CAPABILITIES[type_]
            lines.append(f"B: {name}={input_print_bitmap(getattr(dev, attr), maximum)}")
    return "\n".join(lines) + "\n\n"


def input_core_of(loop: asyncio.AbstractEventLoop | None = None) -> InputCore:
    """The input layer of the machine whose loop is `loop` (default: the running loop).
    Raises RuntimeError outside a machine.  Context: atomic."""
    try:
        found = _cores.get(loop or asyncio.get_running_loop())
    except RuntimeError:
        found = None
    if found is None:
        raise RuntimeError("no usbemu machine with an input layer is running here: call "
                           "this from code that runs on a System (System.run())")
    return found


# -- formats: bitmaps, modalias, uevent -------------------------------------------------------


def input_print_bitmap(bitmap: int, max: int) -> str:
    """input_print_bitmap(): the bitmap of bits 0..max as hex unsigned longs, most
    significant first, leading zero longs left out, separated by spaces; "0" when no bit
    is set ("1f0000 0 0 0 0" for BTN_LEFT..BTN_EXTRA).  Context: atomic."""
    words = [bitmap >> (BITS_PER_LONG * i) & _LONG_MASK
             for i in range(bits_to_longs(max) - 1, -1, -1)]
    first = next((i for i, word in enumerate(words) if word), len(words))
    return " ".join(f"{word:x}" for word in words[first:]) or "0"


def _modalias_bits(name: str, bitmap: int, min_bit: int, max_bit: int) -> str:
    """input_print_modalias_bits(): the letter, then "%X," for each set bit."""
    return name + "".join(f"{bit:X}," for bit in _set_bits(bitmap, min_bit, max_bit))


def _modalias_parts(dev: InputDev, size: int, full_len: int) -> tuple[str, int]:
    """input_print_modalias_parts(): what a buffer of `size` bytes holds (without the
    NUL) and the length the whole text would have; key data trimmed to "…,+," when the
    whole (`full_len`) does not fit."""
    head = (f"input:b{dev.id.bustype:04X}v{dev.id.vendor:04X}p{dev.id.product:04X}"
            f"e{dev.id.version:04X}-" + _modalias_bits("e", dev.evbit, 0, EV_MAX))
    length = len(head)
    space = max(size - (length + 1), 0)
    keys = _modalias_bits("k", dev.keybit, KEY_MIN_INTERESTING, KEY_MAX)
    text = head + keys
    length += len(keys)
    if full_len and size < full_len + 1 and len(keys) > 3:
        remainder = full_len - length
        if remainder <= space - 3:
            buf = text[:size - 1]
            for i in range(min(size - 1 - remainder - 3, len(buf) - 1), -1, -1):
                if buf[i] in "k,":
                    text, length = buf[:i + 1] + "+,", i + 3
                    break
    rest = (_modalias_bits("r", dev.relbit, 0, REL_MAX)
            + _modalias_bits("a", dev.absbit, 0, ABS_MAX)
            + _modalias_bits("m", dev.mscbit, 0, MSC_MAX)
            + _modalias_bits("l", dev.ledbit, 0, LED_MAX)
            + _modalias_bits("s", dev.sndbit, 0, SND_MAX)
            + _modalias_bits("f", dev.ffbit, 0, FF_MAX)
            + _modalias_bits("w", dev.swbit, 0, SW_MAX))
    return (text + rest)[:max(size - 1, 0)], length + len(rest)


def input_print_modalias(dev: InputDev, size: int | None = None) -> tuple[str, int]:
    """input_print_modalias(): the modalias ("input:b0003v046DpC077e0111-e0,1,2,4,k110,…")
    as a buffer of `size` bytes holds it (None: unlimited), and its full length — when
    the whole does not fit, key codes are left out and "+," marks where.  Context:
    atomic."""
    full_len = _modalias_parts(dev, 0, 0)[1]
    if size is None:
        return _modalias_parts(dev, full_len + 1, full_len)
    return _modalias_parts(dev, size, full_len)


def input_dev_uevent(dev: InputDev, used: int = 0) -> list[tuple[str, str]]:
    """input_dev_uevent(): PRODUCT, NAME, PHYS, UNIQ, PROP, EV, a bitmap per event type
    the device has, MODALIAS — the modalias sized to what is left of the uevent buffer
    after `used` bytes of variables before these.  Context: atomic."""
    env = [("PRODUCT", f"{dev.id.bustype:x}/{dev.id.vendor:x}/{dev.id.product:x}/"
                       f"{dev.id.version:x}")]
    env += [(key, f'"{value}"') for key, value in
            (("NAME", dev.name), ("PHYS", dev.phys), ("UNIQ", dev.uniq)) if value is not None]
    env.append(("PROP", input_print_bitmap(dev.propbit, INPUT_PROP_MAX)))
    env.append(("EV", input_print_bitmap(dev.evbit, EV_MAX)))
    for name, type_ in _SEQ_BITMAPS:
        if dev.evbit >> type_ & 1:
            attr, maximum = CAPABILITIES[type_]
            env.append((name, input_print_bitmap(getattr(dev, attr), maximum)))
    buflen = used + sum(len(k) + len(v) + 2 for k, v in env) + len("MODALIAS=") + 1
    size = UEVENT_BUFFER_SIZE - buflen - UEVENT_ENV_EXTRA_LEN
    modalias, length = input_print_modalias(dev, size)
    if length < size:
        env.append(("MODALIAS", modalias))
    return env


# -- sysfs: the inputN device -----------------------------------------------------------------


class InputDevice(ClassDevice):
    """The struct device of a registered input device: inputN of class "input", below
    the input device's parent, with no device number; `input` is the InputDev."""

    def __init__(self, cls: DeviceClass, input_dev: InputDev) -> None:
        super().__init__(cls, input_dev.parent, 0, input_dev, input_dev.dev_name)
        self.input = input_dev

    def uevent_env(self) -> list[tuple[str, str]]:
        """Its uevent variables: input_dev_uevent's, sized as for an "add" event."""
        used = sum(len(var) + 1 for var in ("ACTION=add", f"DEVPATH={self.sysfs_path()}",
                                            f"SUBSYSTEM={self.cls.name}"))
        return [*Device.uevent_env(self), *input_dev_uevent(self.input, used)]

    def sysfs_files(self) -> dict[str, Node]:
        """name, phys, uniq, modalias, properties, inhibited, uevent, id/ and
        capabilities/ (input_dev_attr_groups).  Context: atomic."""
        files = attr_group(self, INPUT_DEV_ATTRS)
        files["id"] = StaticDir(attr_group(self, INPUT_DEV_ID_ATTRS))
        files["capabilities"] = StaticDir(attr_group(self, INPUT_DEV_CAPS_ATTRS))
        return files

    def show_uevent(self) -> str:
        """The `uevent` file (uevent_show): input_dev_uevent's variables.  Context: atomic."""
        env = [*Device.uevent_env(self), *input_dev_uevent(self.input)]
        return "".join(f"{key}={value}\n" for key, value in env)

    async def store_uevent(self, data: bytes) -> int:
        """Writing "change" to `uevent` synthesizes a change uevent.  Context: may sleep."""
        return await ClassDevice._store_uevent(self, data)

    def show_modalias(self) -> str:
        """input_dev_show_modalias(): the modalias and a newline.  Context: atomic."""
        text, length = input_print_modalias(self.input, PAGE_SIZE)
        return text + "\n" if length < PAGE_SIZE - 2 else text

    async def store_inhibited(self, data: bytes) -> int:
        """inhibited_store(): a boolean (kstrtobool) inhibits or uninhibits the device;
        -EINVAL for anything else.  Context: may sleep."""
        inhibit = kstrtobool(data)
        if inhibit is None:
            return -Errno.EINVAL
        error = await (input_inhibit_device if inhibit else input_uninhibit_device)(self.input)
        return error if error else len(data)


def _string(attr: str) -> SysAttr[InputDevice]:
    """INPUT_DEV_STRING_ATTR_SHOW: "%s\\n" of a string field ("" when unset)."""
    return ro(attr, lambda dev: f"{getattr(dev.input, attr) or ''}\n")


def _id_field(attr: str) -> SysAttr[InputDevice]:
    """INPUT_DEV_ID_ATTR: "%04x\\n" of a field of the id."""
    return ro(attr, lambda dev: f"{getattr(dev.input.id, attr):04x}\n")


def _cap(attr: str, bitmap: str, maximum: int) -> SysAttr[InputDevice]:
    """INPUT_DEV_CAP_ATTR: a capability bitmap (input_print_bitmap) and a newline."""
    return ro(attr, lambda dev: input_print_bitmap(getattr(dev.input, bitmap), maximum) + "\n")


INPUT_DEV_ATTRS: Final[tuple[SysAttr[InputDevice], ...]] = (
    _string("name"),
    _string("phys"),
    _string("uniq"),
    ro("modalias", InputDevice.show_modalias),
    ro("properties", lambda dev: input_print_bitmap(dev.input.propbit, INPUT_PROP_MAX) + "\n"),
    SysAttr("inhibited", lambda dev: f"{int(dev.input.inhibited)}\n",
            InputDevice.store_inhibited, 0o644),
    SysAttr("uevent", InputDevice.show_uevent, InputDevice.store_uevent, 0o644),
)
"""The files of inputN (input_dev_attr_group, and the driver core's uevent)."""

INPUT_DEV_ID_ATTRS: Final[tuple[SysAttr[InputDevice], ...]] = tuple(
    _id_field(name) for name in ("bustype", "vendor", "product", "version"))
"""inputN/id (input_dev_id_attr_group)."""

INPUT_DEV_CAPS_ATTRS: Final[tuple[SysAttr[InputDevice], ...]] = (
    _cap("ev", "evbit", EV_MAX),
    *(_cap(bitmap.removesuffix("bit"), bitmap, maximum)
      for bitmap, maximum in CAPABILITIES.values()),
)
"""inputN/capabilities (input_dev_caps_attr_group): ev key rel abs msc led snd ff sw."""


# -- setting a device up ----------------------------------------------------------------------


def input_allocate_device() -> InputDev:
    """input_allocate_device(): a new input device, numbered inputN at once when called
    on a machine (else at registration).  Context: atomic."""
    dev = InputDev()
    try:
        core = input_core_of()
    except RuntimeError:
        return dev
    core.number(dev)
    return dev


def input_free_device(dev: InputDev) -> None:
    """input_free_device(): drop a device that was never registered (or failed to be):
    its repeat timer and pending frame go.  Raises ValueError for a registered device
    (input_unregister_device frees those).  Context: atomic."""
    if dev.registered:
        raise ValueError(f"{dev.dev_name} is registered: use input_unregister_device")
    input_stop_autorepeat(dev)
    dev.vals = []


def input_get_drvdata(dev: InputDev) -> Any:
    """input_get_drvdata().  Context: atomic."""
    return dev.driver_data


def input_set_drvdata(dev: InputDev, data: Any) -> None:
    """input_set_drvdata().  Context: atomic."""
    dev.driver_data = data


def input_alloc_absinfo(dev: InputDev) -> None:
    """input_alloc_absinfo(): the device gets ABS_CNT zeroed axis descriptions, unless it
    has them.  Context: atomic."""
    if dev.absinfo is None:
        dev.absinfo = [InputAbsinfo() for _ in range(ABS_MAX + 1)]


def _check_code(what: str, code: int, maximum: int) -> None:
    if not 0 <= code <= maximum:
        raise ValueError(f"{what}: code {code:#x} is outside 0..{maximum:#x}")


def input_set_capability(dev: InputDev, type: int, code: int) -> None:
    """input_set_capability(): mark the device as able to emit (or accept) `code` of
    event `type`, and `type` itself (EV_PWR: the type only).  Raises ValueError for a
    type without codes to set or a code beyond the type's maximum.  Context: atomic."""
    if type == EV_PWR:
        dev.evbit |= 1 << EV_PWR
        return
    cap = CAPABILITIES.get(type)
    if cap is None:
        raise ValueError(f"input_set_capability: unknown type {type} (code {code})")
    attr, maximum = cap
    _check_code("input_set_capability", code, maximum)
    if type == EV_ABS:
        input_alloc_absinfo(dev)
    setattr(dev, attr, getattr(dev, attr) | 1 << code)
    dev.evbit |= 1 << type


def input_set_abs_params(dev: InputDev, axis: int, min: int, max: int, fuzz: int,
                         flat: int) -> None:
    """input_set_abs_params(): the limits, fuzz and flat of absolute `axis`; the device
    gets EV_ABS and the axis.  Raises ValueError for an axis beyond ABS_MAX.  Context:
    atomic."""
    _check_code("input_set_abs_params", axis, ABS_MAX)
    dev.evbit |= 1 << EV_ABS
    dev.absbit |= 1 << axis
    input_alloc_absinfo(dev)
    info = _absinfo(dev, axis)
    info.minimum, info.maximum, info.fuzz, info.flat = min, max, fuzz, flat


def _absinfo(dev: InputDev, axis: int) -> InputAbsinfo:
    if dev.absinfo is None:
        raise ValueError(f"{dev.dev_name} has no absolute axes: call input_set_abs_params "
                         "or input_alloc_absinfo first")
    _check_code("absinfo", axis, ABS_MAX)
    return dev.absinfo[axis]


def input_abs_get_val(dev: InputDev, axis: int) -> int:
    """input_abs_get_val().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).value


def input_abs_get_min(dev: InputDev, axis: int) -> int:
    """input_abs_get_min().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).minimum


def input_abs_get_max(dev: InputDev, axis: int) -> int:
    """input_abs_get_max().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).maximum


def input_abs_get_fuzz(dev: InputDev, axis: int) -> int:
    """input_abs_get_fuzz().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).fuzz


def input_abs_get_flat(dev: InputDev, axis: int) -> int:
    """input_abs_get_flat().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).flat


def input_abs_get_res(dev: InputDev, axis: int) -> int:
    """input_abs_get_res().  Raises ValueError without absinfo.  Context: atomic."""
    return _absinfo(dev, axis).resolution


def input_abs_set_val(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_val(): allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).value = value


def input_abs_set_min(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_min(): allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).minimum = value


def input_abs_set_max(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_max(): allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).maximum = value


def input_abs_set_fuzz(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_fuzz(): allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).fuzz = value


def input_abs_set_flat(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_flat(): allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).flat = value


def input_abs_set_res(dev: InputDev, axis: int, value: int) -> None:
    """input_abs_set_res(): the axis' resolution (units per mm, per radian for
    rotations); allocates absinfo when needed.  Context: atomic."""
    input_alloc_absinfo(dev)
    _absinfo(dev, axis).resolution = value


def input_set_events_per_packet(dev: InputDev, n_events: int) -> None:
    """input_set_events_per_packet(): how many events a frame of this device may hold
    at most (sizes the frame buffer and evdev's queues).  Context: atomic."""
    dev.hint_events_per_packet = n_events


def input_enable_softrepeat(dev: InputDev, delay: int, period: int) -> None:
    """input_enable_softrepeat(): the core repeats held keys after `delay` ms every
    `period` ms (with EV_REP).  Context: atomic."""
    dev.softrepeat = True
    dev.rep[REP_DELAY] = delay
    dev.rep[REP_PERIOD] = period


def input_cleanse_bitmasks(dev: InputDev) -> None:
    """input_cleanse_bitmasks(): the bitmaps of event types the device lacks are
    cleared.  Context: atomic."""
    for type_, (attr, _) in CAPABILITIES.items():
        if not dev.evbit >> type_ & 1:
            setattr(dev, attr, 0)


def input_is_mt_value(axis: int) -> bool:
    """input_is_mt_value(): ABS_MT_TOUCH_MAJOR .. ABS_MT_TOOL_Y.  Context: atomic."""
    return ABS_MT_FIRST <= axis <= ABS_MT_LAST


def input_is_mt_axis(axis: int) -> bool:
    """input_is_mt_axis(): ABS_MT_SLOT or an MT value.  Context: atomic."""
    return axis == ABS_MT_SLOT or input_is_mt_value(axis)


def input_estimate_events_per_packet(dev: InputDev) -> int:
    """input_estimate_events_per_packet(): room for a frame — MT slots, a value per
    absolute and relative axis, 7 key and MSC events, the SYN.  Context: atomic."""
    if dev.absbit >> ABS_MT_TRACKING_ID & 1 and dev.absinfo is not None:
        info = dev.absinfo[ABS_MT_TRACKING_ID]
        mt_slots = min(max(info.maximum - info.minimum + 1, 2), 32)
    elif dev.absbit >> ABS_MT_POSITION_X & 1:
        mt_slots = 2
    else:
        mt_slots = 0
    events = mt_slots + 1
    if dev.evbit >> EV_ABS & 1:
        events += sum(mt_slots if input_is_mt_axis(axis) else 1
                      for axis in _set_bits(dev.absbit, 0, ABS_MAX + 1))
    if dev.evbit >> EV_REL & 1:
        events += (dev.relbit & ((1 << (REL_MAX + 1)) - 1)).bit_count()
    return events + 7


def input_device_tune_vals(dev: InputDev) -> None:
    """input_device_tune_vals(): the frame buffer holds the estimated frame plus two.
    Context: atomic."""
    dev.hint_events_per_packet = max(dev.hint_events_per_packet,
                                     input_estimate_events_per_packet(dev))
    dev.max_vals = max(dev.max_vals, dev.hint_events_per_packet + 2)


async def input_register_device(dev: InputDev) -> int:
    """input_register_device(): EV_SYN is added and KEY_RESERVED removed, bitmaps of
    types the device lacks cleared, software repeat enabled unless the driver set repeat
    rates, the device added as /sys/class/input/inputN below its parent ("input: <name>
    as <path>" logged), and offered to every handler.  Returns 0, or -EINVAL for EV_ABS
    without absinfo ("Absolute device without dev->absinfo, refusing to register").
    Raises ValueError when it is registered already, RuntimeError off a machine.
    Context: may sleep."""
    return await input_core_of().register_device(dev)


async def input_unregister_device(dev: InputDev) -> None:
    """input_unregister_device(): keys still down are released (key-up events and a
    SYN_REPORT), the handles are closed and disconnected (evdev's readers get -ENODEV;
    the device's close runs if it was open), the repeat timer stops, and inputN with its
    children leaves sysfs.  Raises ValueError when it is not registered.  Context: may
    sleep."""
    core = dev.core if dev.core is not None else input_core_of()
    await core.unregister_device(dev)


async def input_register_handler(handler: InputHandler) -> int:
    """input_register_handler(): `handler` is offered every registered device (and
    every device registered later).  Returns 0, or -EINVAL when it has more than one of
    filter, events and event.  Context: may sleep."""
    return await input_core_of().register_handler(handler)


async def input_unregister_handler(handler: InputHandler) -> None:
    """input_unregister_handler(): every handle of `handler` is disconnected and the
    handler leaves the list.  Context: may sleep."""
    await input_core_of().unregister_handler(handler)


def input_match_device_id(dev: InputDev, id: InputDeviceId) -> bool:
    """input_match_device_id(): whether the fields `id.flags` names are equal and the
    device has every capability bit of `id`.  Context: atomic."""
    fields = ((INPUT_DEVICE_ID_MATCH_BUS, id.bustype, dev.id.bustype),
              (INPUT_DEVICE_ID_MATCH_VENDOR, id.vendor, dev.id.vendor),
              (INPUT_DEVICE_ID_MATCH_PRODUCT, id.product, dev.id.product),
              (INPUT_DEVICE_ID_MATCH_VERSION, id.version, dev.id.version))
    if any(id.flags & flag and wanted != have for flag, wanted, have in fields):
        return False
    bitmaps = ((id.evbit, dev.evbit), (id.keybit, dev.keybit), (id.relbit, dev.relbit),
               (id.absbit, dev.absbit), (id.mscbit, dev.mscbit), (id.ledbit, dev.ledbit),
               (id.sndbit, dev.sndbit), (id.ffbit, dev.ffbit), (id.swbit, dev.swbit),
               (id.propbit, dev.propbit))
    return all(not wanted & ~have for wanted, have in bitmaps)


def input_match_device(handler: InputHandler, dev: InputDev) -> InputDeviceId | None:
    """input_match_device(): the first entry of the handler's table that matches (and
    that its match accepts), or None.  Context: atomic."""
    for id in handler.id_table:
        if not id.flags and not id.driver_info:
            break
        if input_match_device_id(dev, id) and (handler.match is None
                                               or handler.match(handler, dev)):
            return id
    return None


# -- handles ----------------------------------------------------------------------------------


def _events_filter(handle: InputHandle, vals: list[InputValue]) -> int:
    """input_handle_events_filter(): drop the values the filter takes."""
    filter_ = handle.handler.filter
    assert filter_ is not None
    vals[:] = [v for v in vals if not filter_(handle, *v)]
    return len(vals)


def _events_default(handle: InputHandle, vals: list[InputValue]) -> int:
    """input_handle_events_default(): the handler's event for each value."""
    event = handle.handler.event
    assert event is not None
    for type_, code, value in vals:
        event(handle, type_, code, value)
    return len(vals)


def _events_whole(handle: InputHandle, vals: list[InputValue]) -> int:
    """The handler's events with the whole frame."""
    events = handle.handler.events
    assert events is not None
    kept = events(handle, vals)
    return len(vals) if kept is None else kept


def _events_null(handle: InputHandle, vals: list[InputValue]) -> int:
    """input_handle_events_null()."""
    return len(vals)


def input_register_handle(handle: InputHandle) -> int:
    """input_register_handle(): from a handler's connect — the handle joins the device's
    handles (a filter's in front) and the handler's, and the handler's start runs.
    Returns 0.  Context: atomic."""
    handler, dev = handle.handler, handle.dev
    if handler.filter is not None:
        handle.handle_events = _events_filter
        dev.h_list.insert(0, handle)
    else:
        handle.handle_events = (_events_default if handler.event is not None
                                else _events_whole if handler.events is not None
                                else _events_null)
        dev.h_list.append(handle)
    handler.h_list.append(handle)
    if handler.start is not None:
        handler.start(handle)
    return 0


def input_unregister_handle(handle: InputHandle) -> None:
    """input_unregister_handle(): from a handler's disconnect.  Context: atomic."""
    if handle in handle.handler.h_list:
        handle.handler.h_list.remove(handle)
    if handle in handle.dev.h_list:
        handle.dev.h_list.remove(handle)


def _device_core(dev: InputDev) -> InputCore:
    if dev.core is None:
        raise ValueError(f"{dev.dev_name} is not registered")
    return dev.core


async def input_open_device(handle: InputHandle) -> int:
    """input_open_device(): the handle is open once more; the first user of the device
    (unless it is inhibited) calls its open.  Returns 0, -ENODEV when the device is going
    away, or open's error.  Context: may sleep."""
    dev = handle.dev
    async with dev.mutex:
        if dev.going_away:
            return -Errno.ENODEV
        handle.open += 1
        users, dev.users = dev.users, dev.users + 1
        if users or dev.inhibited or dev.open is None:
            return 0
        error = await _device_core(dev).call(f"open of {dev.dev_name}", dev.open, dev)
        if error:
            dev.users -= 1
            handle.open -= 1
        return error


async def input_close_device(handle: InputHandle) -> None:
    """input_close_device(): a grab by the handle ends; the last user of the device
    (unless it is inhibited) calls its close.  Context: may sleep."""
    dev = handle.dev
    async with dev.mutex:
        _release_device(handle)
        dev.users -= 1
        if not dev.users and not dev.inhibited and dev.close is not None:
            await _device_core(dev).call(f"close of {dev.dev_name}", dev.close, dev)
        handle.open = max(handle.open - 1, 0)


def input_grab_device(handle: InputHandle) -> int:
    """input_grab_device(): the device's events go to this handle alone (and events
    other handles inject are ignored).  0, or -EBUSY when grabbed already.  Context:
    atomic."""
    dev = handle.dev
    if dev.grab is not None:
        return -Errno.EBUSY
    dev.grab = handle
    return 0


def _release_device(handle: InputHandle) -> None:
    """__input_release_device(): end the handle's grab; the open handles' start runs."""
    dev = handle.dev
    if dev.grab is handle:
        dev.grab = None
        for other in dev.h_list:
            if other.open and other.handler.start is not None:
                other.handler.start(other)


def input_release_device(handle: InputHandle) -> None:
    """input_release_device(): end the handle's grab of its device.  Context: atomic."""
    _release_device(handle)


def input_flush_device(handle: InputHandle, file: File | None) -> int:
    """input_flush_device(): the device's flush callback; 0 without one.  Context:
    atomic."""
    dev = handle.dev
    return dev.flush(dev, file) if dev.flush is not None else 0


# -- events -----------------------------------------------------------------------------------

_Disposition: TypeAlias = Callable[[InputDev, int, int], tuple[int, int]]


def _syn_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    return _SYN_DISPOSITIONS.get(code, INPUT_IGNORE_EVENT), value


_SYN_DISPOSITIONS: Final[Mapping[int, int]] = {
    SYN_CONFIG: INPUT_PASS_TO_ALL,
    SYN_REPORT: INPUT_PASS_TO_HANDLERS | INPUT_FLUSH,
    SYN_MT_REPORT: INPUT_PASS_TO_HANDLERS,
}


def _key_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code > KEY_MAX or not dev.keybit >> code & 1:
        return INPUT_IGNORE_EVENT, value
    if value == 2:
        return INPUT_PASS_TO_HANDLERS, value
    if (dev.key >> code & 1) != (value != 0):
        dev.key ^= 1 << code
        return INPUT_PASS_TO_HANDLERS, value
    return INPUT_IGNORE_EVENT, value


def _sw_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code <= SW_MAX and dev.swbit >> code & 1 and (dev.sw >> code & 1) != (value != 0):
        dev.sw ^= 1 << code
        return INPUT_PASS_TO_HANDLERS, value
    return INPUT_IGNORE_EVENT, value


def input_defuzz_abs_event(value: int, old_val: int, fuzz: int) -> int:
    """input_defuzz_abs_event(): a value within fuzz/2 of the old one is the old one;
    within fuzz, (3 old + new) / 4; within 2 fuzz, the mean.  Context: atomic."""
    if fuzz:
        if old_val - _cdiv(fuzz, 2) < value < old_val + _cdiv(fuzz, 2):
            return old_val
        if old_val - fuzz < value < old_val + fuzz:
            return _cdiv(old_val * 3 + value, 4)
        if old_val - fuzz * 2 < value < old_val + fuzz * 2:
            return _cdiv(old_val + value, 2)
    return value


def _abs_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code > ABS_MAX or not dev.absbit >> code & 1 or code == ABS_MT_SLOT:
        return INPUT_IGNORE_EVENT, value
    if input_is_mt_value(code) or dev.absinfo is None:
        return INPUT_PASS_TO_HANDLERS, value
    info = dev.absinfo[code]
    value = input_defuzz_abs_event(value, info.value, info.fuzz)
    if info.value == value:
        return INPUT_IGNORE_EVENT, value
    info.value = value
    return INPUT_PASS_TO_HANDLERS, value


def _rel_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code <= REL_MAX and dev.relbit >> code & 1 and value:
        return INPUT_PASS_TO_HANDLERS, value
    return INPUT_IGNORE_EVENT, value


def _msc_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code <= MSC_MAX and dev.mscbit >> code & 1:
        return INPUT_PASS_TO_ALL, value
    return INPUT_IGNORE_EVENT, value


def _led_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code <= LED_MAX and dev.ledbit >> code & 1 and (dev.led >> code & 1) != (value != 0):
        dev.led ^= 1 << code
        return INPUT_PASS_TO_ALL, value
    return INPUT_IGNORE_EVENT, value


def _snd_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code > SND_MAX or not dev.sndbit >> code & 1:
        return INPUT_IGNORE_EVENT, value
    if (dev.snd >> code & 1) != (value != 0):
        dev.snd ^= 1 << code
    return INPUT_PASS_TO_ALL, value


def _rep_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    if code <= REP_MAX and value >= 0 and dev.rep[code] != value:
        dev.rep[code] = value
        return INPUT_PASS_TO_ALL, value
    return INPUT_IGNORE_EVENT, value


def _ff_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    return (INPUT_PASS_TO_ALL if value >= 0 else INPUT_IGNORE_EVENT), value


def _pwr_disposition(dev: InputDev, code: int, value: int) -> tuple[int, int]:
    return INPUT_PASS_TO_ALL, value


#: input_get_disposition(), per event type: what to do with an event and its value.
_DISPOSITIONS: Final[Mapping[int, _Disposition]] = {
    EV_SYN: _syn_disposition,
    EV_KEY: _key_disposition,
    EV_SW: _sw_disposition,
    EV_ABS: _abs_disposition,
    EV_REL: _rel_disposition,
    EV_MSC: _msc_disposition,
    EV_LED: _led_disposition,
    EV_SND: _snd_disposition,
    EV_REP: _rep_disposition,
    EV_FF: _ff_disposition,
    EV_PWR: _pwr_disposition,
}


def input_handle_event(dev: InputDev, type: int, code: int, value: int) -> None:
    """input_handle_event(): filter the event (input_get_disposition), pass it to the
    device's event callback when it concerns the hardware, add it to the frame, and hand
    the frame to the handlers at SYN_REPORT (a frame of the SYN alone is dropped) or when
    the frame buffer is full (with a SYN_REPORT of value 1).  Context: atomic."""
    dispose = _DISPOSITIONS.get(type)
    if dispose is None or dev.inhibited:
        return
    disposition, value = dispose(dev, code, value)
    if not disposition:
        return
    if disposition & INPUT_PASS_TO_DEVICE and dev.event is not None:
        dev.event(dev, type, code, value)
    vals = dev.vals
    if disposition & INPUT_PASS_TO_HANDLERS:
        vals.append((type, code, value))
    if disposition & INPUT_FLUSH:
        if len(vals) >= 2:
            dev.vals = []
            input_pass_values(dev, vals)
        else:
            vals.clear()
        dev.timestamp_ns = None
    elif len(vals) >= dev.max_vals - 2:
        vals.append(INPUT_VALUE_SYNC)
        dev.vals = []
        input_pass_values(dev, vals)


def input_pass_values(dev: InputDev, vals: list[InputValue]) -> None:
    """input_pass_values(): the frame goes to the grabbing handle, else to each open
    handle in turn (a filter may take values away); then key presses it still holds start
    the repeat timer and releases stop it.  Context: atomic."""
    count = len(vals)
    grab = dev.grab
    if grab is not None:
        count = grab.handle_events(grab, vals)
    else:
        for handle in dev.h_list:
            if handle.open:
                count = handle.handle_events(handle, vals)
                if not count:
                    break
    if dev.evbit >> EV_REP & 1 and dev.evbit >> EV_KEY & 1:
        for index in range(count):
            type_, code, value = vals[index]
            if type_ == EV_KEY and value != 2:
                if value:
                    input_start_autorepeat(dev, code)
                else:
                    input_stop_autorepeat(dev)


def input_event(dev: InputDev, type: int, code: int, value: int) -> None:
    """input_event(): report an event of a type the device has (others are ignored).
    Usable before registration, to seed a switch or an axis; the events then reach no
    handler.  Context: atomic."""
    if 0 <= type <= EV_MAX and dev.evbit >> type & 1:
        input_handle_event(dev, type, code, value)


def input_inject_event(handle: InputHandle, type: int, code: int, value: int) -> None:
    """input_inject_event(): an event sent through a handle (evdev's write, EVIOCSREP);
    ignored while another handle grabs the device.  Context: atomic."""
    dev = handle.dev
    if 0 <= type <= EV_MAX and dev.evbit >> type & 1 and dev.grab in (None, handle):
        input_handle_event(dev, type, code, value)


def input_report_key(dev: InputDev, code: int, value: int) -> None:
    """input_report_key(): EV_KEY, value 0 or 1 (any non-zero value is a press).
    Context: atomic."""
    input_event(dev, EV_KEY, code, 1 if value else 0)


def input_report_rel(dev: InputDev, code: int, value: int) -> None:
    """input_report_rel(): EV_REL.  Context: atomic."""
    input_event(dev, EV_REL, code, value)


def input_report_abs(dev: InputDev, code: int, value: int) -> None:
    """input_report_abs(): EV_ABS.  Context: atomic."""
    input_event(dev, EV_ABS, code, value)


def input_report_ff_status(dev: InputDev, code: int, value: int) -> None:
    """input_report_ff_status(): EV_FF_STATUS.  Context: atomic."""
    input_event(dev, EV_FF_STATUS, code, value)


def input_report_switch(dev: InputDev, code: int, value: int) -> None:
    """input_report_switch(): EV_SW, value 0 or 1.  Context: atomic."""
    input_event(dev, EV_SW, code, 1 if value else 0)


def input_sync(dev: InputDev) -> None:
    """input_sync(): SYN_REPORT — the frame is complete.  Context: atomic."""
    input_event(dev, EV_SYN, SYN_REPORT, 0)


def input_mt_sync(dev: InputDev) -> None:
    """input_mt_sync(): SYN_MT_REPORT — one contact of an anonymous multitouch frame is
    complete.  Context: atomic."""
    input_event(dev, EV_SYN, SYN_MT_REPORT, 0)


def input_set_timestamp(dev: InputDev, timestamp_ns: int) -> None:
    """input_set_timestamp(): the CLOCK_MONOTONIC time (ns) of the frame being reported,
    for drivers that know when the hardware saw it.  Context: atomic."""
    dev.timestamp_ns = timestamp_ns


def input_get_timestamp(dev: InputDev) -> int:
    """input_get_timestamp(): the frame's CLOCK_MONOTONIC time in ns — set by the driver,
    else the machine's clock when first asked (at the SYN_REPORT).  Context: atomic."""
    if dev.timestamp_ns is None:
        dev.timestamp_ns = _device_core(dev).now_ns()
    return dev.timestamp_ns


# -- autorepeat, key release, LEDs, inhibit ---------------------------------------------------


def _mod_timer(dev: InputDev, ms: int) -> None:
    """mod_timer(&dev->timer, jiffies + msecs_to_jiffies(ms)) on the machine's clock."""
    core = _device_core(dev)
    if dev.timer is not None:
        dev.timer.cancel()
    when = (core.now_ns() + ms * 1_000_000) / NS_PER_S
    dev.timer = core.loop.call_at(when, input_repeat_key, dev)


def input_start_autorepeat(dev: InputDev, code: int) -> None:
    """input_start_autorepeat(): with EV_REP and software repeat, `code` repeats after
    REP_DELAY.  Context: atomic."""
    if dev.evbit >> EV_REP & 1 and dev.rep[REP_PERIOD] and dev.rep[REP_DELAY] \
            and dev.softrepeat and dev.core is not None:
        dev.repeat_key = code
        _mod_timer(dev, dev.rep[REP_DELAY])


def input_stop_autorepeat(dev: InputDev) -> None:
    """input_stop_autorepeat(): the repeat timer stops.  Context: atomic."""
    if dev.timer is not None:
        dev.timer.cancel()
        dev.timer = None


def input_repeat_key(dev: InputDev) -> None:
    """input_repeat_key(): the repeat timer fired — while the key is down, a value-2
    event and a SYN_REPORT, then again after REP_PERIOD.  Context: atomic (a timer)."""
    dev.timer = None
    code = dev.repeat_key
    if not dev.inhibited and dev.key >> code & 1 and code <= KEY_MAX and dev.keybit >> code & 1:
        input_set_timestamp(dev, _device_core(dev).now_ns())
        input_handle_event(dev, EV_KEY, code, 2)
        input_handle_event(dev, EV_SYN, SYN_REPORT, 1)
        if dev.rep[REP_PERIOD]:
            _mod_timer(dev, dev.rep[REP_PERIOD])


def input_dev_release_keys(dev: InputDev) -> bool:
    """input_dev_release_keys(): a key-up event for every key down; whether there was
    one (the caller then sends SYN_REPORT).  Context: atomic."""
    if not dev.evbit >> EV_KEY & 1:
        return False
    down = list(_set_bits(dev.key))
    for code in down:
        input_handle_event(dev, EV_KEY, code, 0)
    return bool(down)


def input_dev_toggle(dev: InputDev, activate: bool) -> None:
    """input_dev_toggle(): tell the hardware (event callback) the state of its LEDs and
    sounds — those on, when activating; off, those that are on, when not — and, when
    activating, the repeat rates.  Context: atomic."""
    event = dev.event
    if event is None:
        return
    for type_, bitmap, state in ((EV_LED, dev.ledbit, dev.led), (EV_SND, dev.sndbit, dev.snd)):
        if not dev.evbit >> type_ & 1:
            continue
        for code in _set_bits(bitmap):
            active = state >> code & 1
            if active or activate:
                event(dev, type_, code, active if activate else 0)
    if activate and dev.evbit >> EV_REP & 1:
        event(dev, EV_REP, REP_PERIOD, dev.rep[REP_PERIOD])
        event(dev, EV_REP, REP_DELAY, dev.rep[REP_DELAY])


async def input_reset_device(dev: InputDev) -> None:
    """input_reset_device(): the hardware is told its LED, sound and repeat state again
    and every key down is released.  Context: may sleep."""
    async with dev.mutex:
        input_dev_toggle(dev, True)
        if input_dev_release_keys(dev):
            input_handle_event(dev, EV_SYN, SYN_REPORT, 1)


async def input_inhibit_device(dev: InputDev) -> int:
    """input_inhibit_device() (writing 1 to `inhibited`): an open device is closed, keys
    down are released, LEDs and sounds turned off, and events are ignored until
    uninhibited.  Returns 0.  Context: may sleep."""
    async with dev.mutex:
        if dev.inhibited:
            return 0
        if dev.users and dev.close is not None:
            await _device_core(dev).call(f"close of {dev.dev_name}", dev.close, dev)
        if input_dev_release_keys(dev):
            input_handle_event(dev, EV_SYN, SYN_REPORT, 1)
        input_dev_toggle(dev, False)
        dev.inhibited = True
        return 0


async def input_uninhibit_device(dev: InputDev) -> int:
    """input_uninhibit_device() (writing 0 to `inhibited`): a device with users is opened
    again and its LEDs, sounds and repeat rates restored.  Returns 0 or open's error.
    Context: may sleep."""
    async with dev.mutex:
        if not dev.inhibited:
            return 0
        if dev.users and dev.open is not None:
            error = await _device_core(dev).call(f"open of {dev.dev_name}", dev.open, dev)
            if error:
                return error
        dev.inhibited = False
        input_dev_toggle(dev, True)
        return 0


def input_get_new_minor(legacy_base: int, legacy_num: int, allow_dynamic: bool) -> int:
    """input_get_new_minor() of the running machine (see `InputCore.get_new_minor`).
    Context: atomic."""
    return input_core_of().get_new_minor(legacy_base, legacy_num, allow_dynamic)


def input_free_minor(minor: int) -> None:
    """input_free_minor() of the running machine.  Context: atomic."""
    input_core_of().free_minor(minor)
