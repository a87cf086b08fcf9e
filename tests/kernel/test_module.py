"""Loadable modules (usbemu.kernel.module, module_loader, kmod): declarations refused at
import, insmod/rmmod/modprobe with kmod's results, parameters parsed with Linux's messages,
refcounts and holders, lsmod and /proc/modules, /sys/module.  Everything runs on virtual
time.  (kstrto*() and the parameter types: test_params.py; depmod: test_depmod.py; udev's
autoload: test_udev.py.)
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.emulated.models.pendrive import PenDrive
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.module import (
    ModuleState,
    module_device_table,
    module_param,
    module_put,
    this_module,
    try_module_get,
)
from usbemu.system import System
from usbemu.testing import blacklist

FIXTURES = Path(__file__).parent / "fixtures"
GIZMO = str(FIXTURES / "gizmo.py")


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def code_of(exc: pytest.ExceptionInfo[BaseException]) -> int:
    value = exc.value
    assert isinstance(value, OSError) and value.errno is not None
    return value.errno


# -- declarations ------------------------------------------------------------------------------


def test_bad_declarations_are_refused_at_import() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        module_param("speed", "float", 0, default=1)
    with pytest.raises(ValueError, match="world-writable"):
        module_param("speed", "int", 0o666, default=1)
    with pytest.raises(ValueError, match="declare `undeclared_speed = <default>` first"):
        module_param("undeclared_speed", "int", 0o444)
    with pytest.raises(TypeError, match="not a ushort value"):
        module_param("speed", "ushort", 0o444, default=70000)
    with pytest.raises(TypeError, match="not a bool value"):
        module_param("speed", "bool", 0o444, default=1)
    with pytest.raises(ValueError, match="only usb device tables"):
        module_device_table("pci", [])
    assert this_module() is None


# -- insmod, parameters ----------------------------------------------------------------------------


def test_insmod_loads_a_file_and_runs_its_init(system: System) -> None:
    mod = system.insmod(GIZMO)
    assert mod.name == "gizmo" and mod.state is ModuleState.LIVE
    assert mod.pymodule is not None and mod.pymodule.events == ["init"]
    assert mod.pymodule.loaded_as is mod
    assert "usbcore: registered new interface driver gizmo" in system.log.lines()
    drv = system.usb.bus_type.find_driver("gizmo")
    assert drv is not None and drv.owner is mod
    assert system.modules.drivers_of(mod) == [drv]
    assert system.modules.get("gizmo") is mod
    assert system.vfs.readlink("/sys/module/gizmo/drivers/usb:gizmo") == \
        "../../../bus/usb/drivers/gizmo"


def test_parameters_are_the_module_globals(system: System) -> None:
    mod = system.insmod(GIZMO, "vendor=0xffff", "debug", name="a b", product=0xFFF8)
    assert mod.args == 'vendor=0xffff debug name="a b" product=65528'
    g = mod.pymodule
    assert g is not None
    assert (g.vendor, g.product, g.debug, g.name, g.mask, g.quiet, g.level) == \
        (0xFFFF, 0xFFF8, True, "a b", 0xFF, True, -1)
    params = "/sys/module/gizmo/parameters"
    assert system.vfs.listdir(params) == ["debug", "mask", "name", "product", "quiet",
                                          "vendor"]   # perm 0: no file for level, fail, boom
    assert system.vfs.read_text(f"{params}/vendor") == "65535\n"
    assert system.vfs.read_text(f"{params}/product") == "65528\n"
    assert system.vfs.read_text(f"{params}/debug") == "Y\n"
    assert system.vfs.read_text(f"{params}/name") == "a b\n"
    assert system.vfs.read_text(f"{params}/mask") == "0x0000ff\n"
    assert system.vfs.read_text(f"{params}/quiet") == "N\n"   # invbool shows the inverse
    assert stat.S_IMODE(system.vfs.stat(f"{params}/vendor").mode) == 0o444
    assert stat.S_IMODE(system.vfs.stat(f"{params}/mask").mode) == 0o600
    assert mod.params["vendor"].description == "User specified USB idVendor"
    assert mod.params["product"].description == "User specified USB idProduct"


def test_parameter_files_are_writable_where_perm_allows(system: System) -> None:
    mod = system.insmod(GIZMO)
    params = "/sys/module/gizmo/parameters"
    assert system.run(system.vfs.write(f"{params}/debug", "1\n")) == 2
    assert mod.pymodule is not None and mod.pymodule.debug is True
    assert system.run(system.vfs.write(f"{params}/mask", "0x10\n")) == 5
    assert system.vfs.read_text(f"{params}/mask") == "0x000010\n"
    assert system.run(system.vfs.write(f"{params}/name", "pen\n")) == 4
    assert system.vfs.read_text(f"{params}/name") == "pen\n\n"   # charp keeps the newline
    with pytest.raises(OSError) as exc:
        system.run(system.vfs.write(f"{params}/debug", "maybe"))
    assert code_of(exc) == Errno.EINVAL
    assert mod.pymodule.debug is True
    with pytest.raises(OSError) as exc:
        system.run(system.vfs.write(f"{params}/vendor", "1"))
    assert code_of(exc) == Errno.EACCES


@pytest.mark.parametrize(("arg", "value", "code"), [
    ("vendor=x", "x", Errno.EINVAL), ("vendor=-1", "-1", Errno.EINVAL),
    ("vendor", "", Errno.EINVAL), ("quiet", "", Errno.EINVAL),
    ("debug=maybe", "maybe", Errno.EINVAL), ("vendor=0x10000", "0x10000", Errno.ERANGE),
])
def test_a_bad_value_fails_insmod_with_linuxs_message(system: System, arg: str, value: str,
                                                      code: int) -> None:
    with pytest.raises(ModuleError) as exc:
        system.insmod(GIZMO, arg)
    param = arg.partition("=")[0]
    # kstrtou16's -ERANGE is what init_module returns, and what insmod reports
    text = "Invalid parameters" if code == Errno.EINVAL else "Numerical result out of range"
    assert str(exc.value) == f"insmod: ERROR: could not insert module {GIZMO}: {text}"
    assert code_of(exc) == code
    assert f"gizmo: `{value}' invalid for parameter `{param}'" in system.log.lines()
    assert system.modules.get("gizmo") is None
    assert system.usb.bus_type.find_driver("gizmo") is None   # init never ran
    assert not system.vfs.exists("/sys/module/gizmo")


def test_modprobe_reports_a_bad_value_as_invalid_argument(system: System) -> None:
    system.modules.install("gizmo", GIZMO)
    with pytest.raises(ModuleError) as exc:
        system.modprobe("gizmo", vendor="x")
    assert str(exc.value) == "modprobe: ERROR: could not insert 'gizmo': Invalid argument"
    assert "gizmo: `x' invalid for parameter `vendor'" in system.log.lines()


def test_an_unknown_parameter_is_only_a_warning(system: System) -> None:
    mod = system.insmod(GIZMO, "bogus=1", "async_probe", "dyndbg=+p", "Vendor-x=1",
                        "--", "ignored=1")
    assert mod.state is ModuleState.LIVE
    lines = system.log.lines()
    assert "gizmo: unknown parameter 'bogus' ignored" in lines
    assert "gizmo: unknown parameter 'Vendor-x' ignored" in lines
    assert not any("async_probe" in line or "dyndbg" in line for line in lines)
    assert "gizmo: parameters 'ignored=1' after `--' ignored" in lines


def test_dashes_and_underscores_name_the_same_parameter(system: System) -> None:
    mod = system.insmod(GIZMO, "max-packet=512")
    assert mod.pymodule is not None and mod.pymodule.max_packet == 512
    system.rmmod("gizmo")
    with pytest.raises(ModuleError):
        system.insmod(GIZMO, "max-packet=x")
    assert "gizmo: `x' invalid for parameter `max-packet'" in system.log.lines()


def test_a_too_long_string_parameter(system: System) -> None:
    long = "x" * 1025
    with pytest.raises(ModuleError) as exc:
        system.insmod(GIZMO, f"name={long}")
    assert code_of(exc) == Errno.ENOSPC
    assert str(exc.value).endswith(": No space left on device")
    lines = system.log.lines()
    assert "name: string parameter too long" in lines
    assert f"gizmo: `{long}' too large for parameter `name'" in lines


def test_insmod_twice_fails_with_file_exists(system: System) -> None:
    first = system.insmod(GIZMO)
    with pytest.raises(ModuleError) as exc:
        system.insmod(GIZMO)
    assert str(exc.value) == f"insmod: ERROR: could not insert module {GIZMO}: File exists"
    assert code_of(exc) == Errno.EEXIST and exc.value.strerror == "File exists"
    assert system.modules.get("gizmo") is first and len(system.modules.loaded) == 1
    assert first.pymodule is not None and first.pymodule.events == ["init"]


def test_concurrent_loads_of_one_module(system: System) -> None:
    system.modules.install("gizmo", GIZMO)

    async def both() -> list[object]:
        return await asyncio.gather(system.amodprobe("gizmo"), system.amodprobe("gizmo"),
                                    system.ainsmod(GIZMO), return_exceptions=True)

    results = system.run(both())
    assert results[:2] == [None, None]
    assert isinstance(results[2], ModuleError) and results[2].errno == Errno.EEXIST
    assert [m.name for m in system.modules.loaded] == ["gizmo"]


def test_insmod_of_nothing(system: System) -> None:
    with pytest.raises(ModuleError) as exc:
        system.insmod("/nonexistent/frob.py")
    assert str(exc.value) == ("insmod: ERROR: could not load module /nonexistent/frob.py: "
                              "No such file or directory")
    assert code_of(exc) == Errno.ENOENT
    with pytest.raises(ModuleError) as exc:
        system.insmod("frob")
    assert str(exc.value) == "insmod: ERROR: could not load module frob: No such file or directory"


def test_a_file_that_is_not_a_module(system: System) -> None:
    path = str(FIXTURES / "notamodule.py")
    with pytest.raises(ModuleError) as exc:
        system.insmod(path)
    assert str(exc.value) == f"insmod: ERROR: could not insert module {path}: Invalid module format"
    assert code_of(exc) == Errno.ENOEXEC
    notes = " ".join(getattr(exc.value, "__notes__", []))
    assert "module_init" in notes and "module_exit" in notes


def test_a_module_that_fails_to_import(system: System) -> None:
    with pytest.raises(ModuleError) as exc:
        system.insmod(FIXTURES / "broken.py")
    assert code_of(exc) == Errno.ENOEXEC
    assert isinstance(exc.value.__cause__, ImportError)
    assert "frobnicator" in " ".join(getattr(exc.value, "__notes__", []))


def test_a_failing_init_fails_the_load_and_leaves_nothing_behind(system: System) -> None:
    with pytest.raises(ModuleError) as exc:
        system.insmod(GIZMO, "fail=-19")
    assert str(exc.value) == f"insmod: ERROR: could not insert module {GIZMO}: No such device"
    assert system.modules.get("gizmo") is None
    assert system.usb.bus_type.find_driver("gizmo") is None
    assert "gizmo: driver gizmo still registered after the module's code is gone; " \
           "unregistering it" in system.log.lines()
    assert system.insmod(GIZMO).state is ModuleState.LIVE   # the name is free again


def test_an_init_that_raises_is_an_oops(system: System) -> None:
    with pytest.raises(ModuleError) as exc:
        system.insmod(GIZMO, "boom=1")
    assert code_of(exc) == Errno.EFAULT
    assert isinstance(exc.value.__cause__, RuntimeError)
    assert ("BUG: exception in init of module gizmo: RuntimeError: gizmo exploded"
            in system.log.lines())
    assert system.modules.get("gizmo") is None


def test_a_positive_init_result_is_suspicious_but_loads(system: System) -> None:
    mod = system.insmod(GIZMO, fail=1)
    assert mod.state is ModuleState.LIVE
    lines = system.log.lines()
    i = lines.index("do_init_module: 'gizmo'->init suspiciously returned 1, it should "
                    "follow 0/-E convention")
    assert lines[i + 1] == "do_init_module: loading module anyway..."


def test_each_load_runs_fresh_code(system: System) -> None:
    first = system.insmod(GIZMO, "debug")
    system.rmmod("gizmo")
    second = system.insmod(GIZMO)
    assert first.pymodule is not second.pymodule
    assert second.pymodule is not None and second.pymodule.debug is False
    assert second.pymodule.events == ["init"]
    assert first.pymodule is not None and first.pymodule.events == ["init", "exit"]


# -- rmmod, refcounts, holders ---------------------------------------------------------------------


def test_rmmod_runs_exit_and_unregisters(system: System) -> None:
    mod = system.insmod(GIZMO)
    system.rmmod("gizmo")
    assert mod.state is ModuleState.GOING
    assert mod.pymodule is not None and mod.pymodule.events == ["init", "exit"]
    assert "usbcore: deregistering interface driver gizmo" in system.log.lines()
    assert system.usb.bus_type.find_driver("gizmo") is None
    assert system.modules.get("gizmo") is None and system.lsmod().count("\n") == 1
    assert not system.vfs.exists("/sys/module/gizmo")


def test_rmmod_of_a_module_in_use_fails_with_ebusy(system: System) -> None:
    mod = system.insmod(GIZMO)
    assert try_module_get(mod) and mod.try_module_get()   # e.g. two open files
    assert system.vfs.read_text("/sys/module/gizmo/refcnt") == "2\n"
    with pytest.raises(ModuleError) as exc:
        system.rmmod("gizmo")
    assert str(exc.value) == "rmmod: ERROR: Module gizmo is in use"
    assert code_of(exc) == Errno.EBUSY
    assert exc.value.strerror == "Device or resource busy"
    assert system.run(system.modules.delete_module("gizmo")) == -Errno.EAGAIN  # the syscall
    module_put(mod)
    mod.module_put()
    system.rmmod("gizmo")
    assert mod.state is ModuleState.GOING
    assert not try_module_get(mod)        # going away: no new references
    module_put(mod)                       # unbalanced: a warning, no crash
    assert "module_put: gizmo: refcount already 0" in system.log.lines()


def test_an_open_device_node_pins_its_driver_module(system: System) -> None:
    """The char-device layer takes a reference on the file operations' owner (the module
    whose code declared them) for as long as a file is open: pen_driver and /dev/pen0."""
    mod = system.insmod("pen_driver")
    system.plug(PenDrive(), "1-1")
    system.settle()
    pen = system.open("/dev/pen0", "rb+")
    assert mod.refcnt == 1
    with pytest.raises(ModuleError) as exc:
        system.rmmod("pen_driver")
    assert str(exc.value) == "rmmod: ERROR: Module pen_driver is in use"
    assert code_of(exc) == Errno.EBUSY
    pen.close()
    assert mod.refcnt == 0
    system.rmmod("pen_driver")
    assert system.modules.get("pen_driver") is None


def test_holders_pin_a_module(system: System) -> None:
    system.modules.install("gizmo", GIZMO)
    system.modules.install(FIXTURES / "needs_gizmo.py")
    system.modprobe("needs_gizmo")                    # loads gizmo first
    gizmo = system.modules.get("gizmo")
    assert gizmo is not None and gizmo.refcnt == 1
    assert [m.name for m in system.modules.loaded] == ["needs_gizmo", "gizmo"]
    assert system.vfs.listdir("/sys/module/gizmo/holders") == ["needs_gizmo"]
    assert system.vfs.readlink("/sys/module/gizmo/holders/needs_gizmo") == "../../needs_gizmo"
    assert "gizmo 8192 1 needs_gizmo, Live 0x0000000000000000 (OE)\n" in \
        system.vfs.read_text("/proc/modules").replace(f" {gizmo.size} ", " 8192 ")
    with pytest.raises(ModuleError) as exc:
        system.rmmod("gizmo")
    assert str(exc.value) == "rmmod: ERROR: Module gizmo is in use by: needs_gizmo"
    assert code_of(exc) == Errno.EBUSY
    system.rmmod("needs_gizmo")
    assert gizmo.refcnt == 0 and gizmo.holders == []
    system.rmmod("gizmo")


def test_insmod_without_the_dependency_loaded(system: System) -> None:
    path = str(FIXTURES / "needs_gizmo.py")
    with pytest.raises(ModuleError) as exc:
        system.insmod(path)
    assert str(exc.value) == (f"insmod: ERROR: could not insert module {path}: "
                              "Unknown symbol in module")
    assert code_of(exc) == Errno.ENOENT
    system.insmod(GIZMO)
    assert system.insmod(path).uses == [system.modules.get("gizmo")]


def test_rmmod_refusals(system: System) -> None:
    for name, message in (("usbcore", "rmmod: ERROR: Module usbcore is builtin."),
                          ("usb_common", "rmmod: ERROR: Module usb_common is builtin."),
                          ("gizmo", "rmmod: ERROR: Module gizmo is not currently loaded")):
        with pytest.raises(ModuleError) as exc:
            system.rmmod(name)
        assert str(exc.value) == message and code_of(exc) == Errno.ENOENT
    path = str(FIXTURES / "permanent.py")
    system.insmod(path)
    assert "permanent 8192 0 [permanent], Live" in system.vfs.read_text("/proc/modules")
    with pytest.raises(ModuleError) as exc:
        system.rmmod(path)
    assert str(exc.value) == (f"rmmod: ERROR: could not remove module {path}: "
                              "Device or resource busy")
    assert code_of(exc) == Errno.EBUSY


# -- lsmod, /proc/modules, /sys/module -------------------------------------------------------------


def test_lsmod_and_proc_modules_formats(system: System) -> None:
    assert system.lsmod() == "Module                  Size  Used by\n"
    assert system.vfs.read_text("/proc/modules") == ""
    system.modules.install("gizmo", GIZMO)
    system.modules.install(FIXTURES / "needs_gizmo.py")
    system.modprobe("needs_gizmo")
    permanent = system.insmod(FIXTURES / "permanent.py")
    gizmo, needs = system.modules.get("gizmo"), system.modules.get("needs_gizmo")
    assert gizmo is not None and needs is not None
    for mod in (gizmo, needs, permanent):
        assert mod.size % 4096 == 0 and mod.size >= 8192
    assert system.lsmod() == (
        "Module                  Size  Used by\n"
        f"permanent           {permanent.size:8d}  0\n"
        f"needs_gizmo         {needs.size:8d}  0\n"
        f"gizmo               {gizmo.size:8d}  1 needs_gizmo\n")
    assert system.vfs.read_text("/proc/modules") == (
        f"permanent {permanent.size} 0 [permanent], Live 0x0000000000000000 (OE)\n"
        f"needs_gizmo {needs.size} 0 - Live 0x0000000000000000 (OE)\n"
        f"gizmo {gizmo.size} 1 needs_gizmo, Live 0x0000000000000000 (OE)\n")


def test_sys_module_directories(system: System) -> None:
    mod = system.insmod(GIZMO)
    base = "/sys/module/gizmo"
    assert system.vfs.listdir(base) == ["coresize", "drivers", "holders", "initsize",
                                        "initstate", "parameters", "refcnt", "taint",
                                        "version"]
    assert system.vfs.read_text(f"{base}/initstate") == "live\n"
    assert system.vfs.read_text(f"{base}/refcnt") == "0\n"
    assert system.vfs.read_text(f"{base}/coresize") == f"{mod.size}\n"
    assert system.vfs.read_text(f"{base}/version") == "1.2\n"
    assert system.vfs.listdir(f"{base}/holders") == []
    # usbcore is built in: its drivers and no initstate (how kmod tells built-in modules)
    assert system.vfs.listdir("/sys/module/usbcore") == ["drivers"]
    assert system.vfs.listdir("/sys/module/usbcore/drivers") == ["usb:hub", "usb:usb",
                                                                  "usb:usbfs"]
    assert "usb_common" not in system.vfs.listdir("/sys/module")
    hub = system.usb.bus_type.find_driver("hub")
    assert hub is not None and hub.owner is system.modules.get("usbcore")
    assert try_module_get(hub.owner) and hub.owner.refcnt == 0   # built in: not counted


# -- modprobe, examples ----------------------------------------------------------------------------


def test_modprobe_finds_installed_modules_by_name_and_alias(system: System) -> None:
    with pytest.raises(ModuleError) as exc:
        system.modprobe("gizmo")
    assert str(exc.value) == ("modprobe: FATAL: Module gizmo not found in directory "
                              "/lib/modules/6.12.0")
    assert code_of(exc) == Errno.ENOENT
    system.modprobe("usbcore")           # built in: nothing to do
    system.modules.install("gizmo", GIZMO)
    system.modprobe("usb:v0403p6001d0600dc00dsc00dp00icFFiscFFipFFin00", debug=True)
    gizmo = system.modules.get("gizmo")
    assert gizmo is not None and gizmo.pymodule is not None and gizmo.pymodule.debug is True
    system.modprobe("gizmo")             # loaded: nothing to do, no error
    system.modprobe("gizmo-compat")
    # the alias is an FT232R's: modprobe loads every module it matches, so ftdi_sio (with
    # usbserial, which it depends on) came too
    assert sorted(m.name for m in system.modules.loaded) == ["ftdi_sio", "gizmo", "usbserial"]


def test_modprobe_r_removes_a_module_and_what_it_no_longer_needs(system: System) -> None:
    def modprobe_r(name: str) -> str:
        with pytest.raises(ModuleError) as exc:
            system.run(system.modules.modprobe_remove(name))
        return f"{code_of(exc)} {exc.value}"

    system.modules.install("gizmo", GIZMO)
    system.modules.install(FIXTURES / "needs_gizmo.py")
    system.modules.install(FIXTURES / "permanent.py")
    assert modprobe_r("usbcore") == f"{Errno.ENOENT} modprobe: FATAL: Module usbcore is builtin."
    assert modprobe_r("nope") == f"{Errno.ENOENT} modprobe: FATAL: Module nope not found."
    assert modprobe_r("gizmo") == \
        f"{Errno.ENOENT} modprobe: FATAL: Module gizmo is not in kernel."
    system.modprobe("needs_gizmo")
    assert modprobe_r("gizmo") == f"{Errno.EBUSY} modprobe: FATAL: Module gizmo is in use."
    system.run(system.modules.modprobe_remove("needs_gizmo"))
    assert system.modules.loaded == []            # gizmo went too: nothing used it any more
    system.modprobe("gizmo")
    system.run(system.modules.modprobe_remove("gizmo-compat"))   # by alias
    assert system.modules.loaded == []
    system.modprobe("permanent")
    assert modprobe_r("permanent") == (f"{Errno.EBUSY} modprobe: ERROR: could not remove "
                                       "'permanent': Device or resource busy")


def test_examples_are_found_by_insmod_but_not_installed(system: System) -> None:
    source = system.modules.resolve("pen_driver")
    assert source is not None and not source.installed and source.origin == "example"
    # found by import path in the package, as installed modules are, not as a file
    assert source.target == "usbemu.drivers.usb.misc.pen_driver" and source.path is None
    with pytest.raises(ModuleError):
        system.modprobe("pen_driver")
    blacklist(system, "usb_storage", "uas")  # else usb-storage claims the pen drive first
    system.plug(PenDrive(), "1-1")       # no autoload of an example
    system.settle()
    assert system.modules.get("pen_driver") is None
    # make modules_install: the same import path, now seen by depmod and autoload
    installed = system.modules.install("pen_driver")
    assert installed.installed and installed.target == source.target
    assert "alias usb:v058Fp6387d*dc*dsc*dp*ic*isc*ip*in* pen_driver\n" in \
        system.vfs.read_text("/lib/modules/6.12.0/modules.alias")
    system.run(system.modules.coldplug())
    assert system.modules.get("pen_driver") is not None
    assert system.vfs.exists("/dev/pen0")


def test_insmod_pen_driver_by_name(system: System) -> None:
    """The article's `insmod pen_driver.ko`: needs `module_init(pen_init)` and
    `module_exit(pen_exit)` in usbemu/drivers/usb/misc/pen_driver.py."""
    mod = system.insmod("pen_driver")
    system.plug(PenDrive(), "1-1")
    system.settle()
    intf = system.find_device("1-1").interface(0)   # type: ignore[union-attr]
    assert intf is not None and intf.driver is not None and intf.driver.owner is mod
    system.unplug("1-1")
    system.settle()
    system.rmmod("pen_driver")
    # each insmod executes a fresh copy of the package's module: its globals start over
    assert mod.pymodule is not None
    mod.pymodule.BULK_EP_IN = 0x83
    again = system.insmod("pen_driver")
    assert again.pymodule is not None and again.pymodule is not mod.pymodule
    assert again.pymodule.BULK_EP_IN == 0x82
    assert again.pymodule.__name__ == "usbemu.drivers.usb.misc.pen_driver"
