"""/etc/modprobe.d (usbemu.kernel.modprobe_d and its use by kmod.py and udev.py): kmod's
parsing (comments, continuation lines, bad and deprecated lines, file order and names),
`blacklist` (autoload skips the module, an alias skips it, modprobe by name and insmod
load it), `options` (before the command line's, which win; for autoload too), `alias`
(modprobe of a wildcard name, and autoload by MODALIAS), and the directory as files of
the machine's tree (create, write, append, truncate, unlink, list, open).  Everything
runs on virtual time.
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Iterator

import pytest

from usbemu.emulated.models.mouse import BootMouse
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.modprobe_d import ModprobeConfig, underscores, wrapped_lines
from usbemu.system import System

ETC = "/etc/modprobe.d"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


def parse(text: str, name: str = "test.conf") -> ModprobeConfig:
    return ModprobeConfig.parse({name: text.encode()})


def mousepoll(system: System) -> str:
    return system.vfs.read_text("/sys/module/usbhid/parameters/mousepoll")


def interface_driver(system: System, path: str = "1-1") -> str | None:
    dev = system.find_device(path)
    assert dev is not None
    intf = dev.interface(0)
    assert intf is not None
    return None if intf.driver is None else intf.driver.name


# -- parsing ----------------------------------------------------------------------------------


def test_commands_are_parsed_with_names_normalized() -> None:
    config = parse("# a comment\n"
                   "\n"
                   "blacklist usb-hid extra words\n"
                   "options usbhid mousepoll=4\tjspoll=2\n"
                   "alias my-mouse* usb-mouse\n"
                   "alias pci:v[0-9a-f]* x\n")
    assert config.blacklist == ["usb_hid"]
    assert config.options == [("usbhid", "mousepoll=4 jspoll=2")]
    assert config.aliases == [("my_mouse*", "usb_mouse"), ("pci:v[0-9a-f]*", "x")]
    assert config.errors == []


def test_underscores_keeps_dashes_inside_brackets() -> None:
    assert underscores("a-b[x-z]-c") == "a_b[x-z]_c"


def test_backslash_continues_a_line_and_the_last_line_number_counts() -> None:
    assert wrapped_lines("options usbhid \\\nmousepoll=3\nx") == \
        [(2, "options usbhid mousepoll=3"), (3, "x")]
    config = parse("options usbhid \\\n  mousepoll=3\nbogus\\\n line\n")
    assert config.options == [("usbhid", "mousepoll=3")]
    assert config.errors == ["/etc/modprobe.d/test.conf line 4: ignoring bad line starting "
                             "with 'bogus'"]


def test_bad_lines_get_kmods_messages() -> None:
    config = parse("blacklist\n"
                   "options usbhid\n"
                   "alias onlyone\n"
                   "  # not a comment: '#' must start the line\n"
                   "include /etc/other.conf\n"
                   "config binary_indexes yes\n")
    assert config.errors == [
        "/etc/modprobe.d/test.conf line 1: ignoring bad line starting with 'blacklist'",
        "/etc/modprobe.d/test.conf line 2: ignoring bad line starting with 'options'",
        "/etc/modprobe.d/test.conf line 3: ignoring bad line starting with 'alias'",
        "/etc/modprobe.d/test.conf line 4: ignoring bad line starting with '#'",
        "/etc/modprobe.d/test.conf: command include is deprecated and not parsed anymore",
        "/etc/modprobe.d/test.conf: command config is deprecated and not parsed anymore",
    ]


def test_install_remove_and_softdep_are_kept_but_not_run() -> None:
    config = parse("install usbhid /bin/true\n"
                   "remove usbhid /bin/false\n"
                   "softdep usbhid pre: hid post: usbmouse\n")
    assert config.install_commands == [("usbhid", "/bin/true")]
    assert config.remove_commands == [("usbhid", "/bin/false")]
    assert config.softdeps == [("usbhid", "pre: hid post: usbmouse")]
    assert config.errors == []


def test_files_are_read_in_name_order_and_only_conf_and_alias() -> None:
    config = ModprobeConfig.parse({"b.conf": b"blacklist b\n", "a.alias": b"blacklist a\n",
                                   "c.txt": b"blacklist c\n", ".d.conf": b"blacklist d\n"})
    assert config.blacklist == ["a", "b"]


def test_options_of_every_line_join_in_order() -> None:
    config = parse("options usbhid mousepoll=1\noptions hid debug=1\noptions usbhid kbpoll=2\n")
    assert config.module_options("usbhid") == "mousepoll=1 kbpoll=2"
    assert config.module_options("usbmouse") == ""


def test_alias_lookup_uses_wildcards_in_order_without_repeats() -> None:
    config = parse("alias rodent* usbmouse\nalias ro?ent-x usbmouse\nalias r[aeiou]* hid\n")
    assert config.lookup_alias("rodent-x") == ["usbmouse", "hid"]
    assert config.lookup_alias("other") == []


# -- blacklist --------------------------------------------------------------------------------


def test_blacklisted_usbhid_leaves_the_mouse_to_insmod_usbmouse(system: System) -> None:
    """The modern form of "comment out the usbmap line": with usbhid blacklisted a
    plugged mouse stays without a driver until usbmouse is loaded by hand."""
    system.run(system.vfs.write(f"{ETC}/usbemu.conf", "blacklist usbhid\n"))
    system.plug(BootMouse(), "1-1")
    system.settle()
    assert system.modules.get("usbhid") is None
    assert system.modules.autoload_errors == []
    assert interface_driver(system) is None
    system.insmod("usbmouse")
    system.settle()
    assert interface_driver(system) == "usbmouse"


def test_without_the_blacklist_autoload_loads_usbhid(system: System) -> None:
    system.plug(BootMouse(), "1-1")
    system.settle()
    assert system.modules.get("usbhid") is not None
    assert interface_driver(system) == "usbhid"


def test_modprobe_by_name_loads_a_blacklisted_module(system: System) -> None:
    system.modules.write_config("usbemu.conf", "blacklist usbhid\n")
    system.modprobe("usbhid")
    assert system.modules.get("usbhid") is not None


def test_modprobe_of_an_alias_skips_a_blacklisted_module_without_error(system: System) -> None:
    system.modules.write_config("usbemu.conf", "blacklist usbhid\n")
    modalias = "usb:v046DpC077d7200dc00dsc00dp00ic03isc01ip02in00"
    assert system.modules.lookup(modalias) == ["usbhid"]
    system.modprobe(modalias)
    assert system.modules.get("usbhid") is None


def test_coldplug_honours_the_blacklist_until_it_is_removed(system: System) -> None:
    system.modules.write_config("usbemu.conf", "blacklist usbhid\n")
    system.plug(BootMouse(), "1-1")
    system.settle()
    assert interface_driver(system) is None
    system.vfs.unlink(f"{ETC}/usbemu.conf")
    system.run(system.modules.coldplug())
    system.settle()
    assert interface_driver(system) == "usbhid"


# -- options ----------------------------------------------------------------------------------


def test_options_apply_to_modprobe_and_the_command_line_wins(system: System) -> None:
    system.modules.write_config("usbhid.conf", "options usbhid mousepoll=4 kbpoll=3\n")
    system.modprobe("usbhid", "mousepoll=8")
    assert mousepoll(system) == "8\n"
    assert system.vfs.read_text("/sys/module/usbhid/parameters/kbpoll") == "3\n"


def test_options_apply_to_autoload(system: System) -> None:
    system.modules.write_config("usbhid.conf", "options usbhid mousepoll=4\n")
    system.plug(BootMouse(), "1-1")
    system.settle()
    assert mousepoll(system) == "4\n"


def test_options_do_not_apply_to_insmod(system: System) -> None:
    system.modules.write_config("usbhid.conf", "options usbhid mousepoll=4\n")
    system.insmod("hid")
    system.insmod("usbhid")
    assert mousepoll(system) == "0\n"


def test_configured_options_reach_the_kernel_as_the_command_lines_do(system: System) -> None:
    system.modules.write_config("usbhid.conf", "options usbhid nosuch=1\n"
                                               "options usbhid mousepoll=x\n")
    with pytest.raises(ModuleError) as info:
        system.modprobe("usbhid")
    assert str(info.value) == "modprobe: ERROR: could not insert 'usbhid': Invalid argument"
    lines = system.log.lines()
    assert "usbhid: unknown parameter 'nosuch' ignored" in lines
    assert "usbhid: `x' invalid for parameter `mousepoll'" in lines


# -- alias ------------------------------------------------------------------------------------


def test_modprobe_of_a_configured_wildcard_loads_its_module(system: System) -> None:
    with pytest.raises(ModuleError) as info:
        system.modprobe("rodent-0")
    assert info.value.errno == Errno.ENOENT
    system.modules.write_config("aliases.conf", "alias rodent* usbhid\n")
    system.modprobe("rodent-0")
    assert system.modules.get("usbhid") is not None


def test_configured_aliases_come_before_module_names(system: System) -> None:
    system.modules.write_config("aliases.conf", "alias usbserial cdc-acm\n")
    system.modprobe("usbserial")
    assert system.modules.get("cdc_acm") is not None
    assert system.modules.get("usbserial") is None


def test_autoload_honours_a_configured_modalias(system: System) -> None:
    system.modules.install("usbmouse")
    system.modules.write_config("usbemu.conf", "blacklist usbhid\n"
                                               "alias usb:v046DpC077* usbmouse\n")
    system.plug(BootMouse(), "1-1")
    system.settle()
    assert system.modules.get("usbhid") is None
    assert interface_driver(system) == "usbmouse"


# -- the directory as files -------------------------------------------------------------------


def test_the_directory_takes_create_write_append_truncate_unlink(system: System) -> None:
    vfs = system.vfs
    assert vfs.listdir(ETC) == []
    assert system.run(vfs.write(f"{ETC}/a.conf", "blacklist usbhid\n")) == 17
    assert vfs.append(f"{ETC}/a.conf", "blacklist hid\n") == 14
    assert vfs.listdir(ETC) == ["a.conf"]
    assert vfs.read_text(f"{ETC}/a.conf") == "blacklist usbhid\nblacklist hid\n"
    st = vfs.stat(f"{ETC}/a.conf")
    assert (stat_mod.S_ISREG(st.mode), st.mode & 0o777, st.size) == (True, 0o644, 31)
    assert system.modules.modprobe_config().blacklist == ["usbhid", "hid"]
    vfs.truncate(f"{ETC}/a.conf", 17)
    assert system.modules.modprobe_config().blacklist == ["usbhid"]
    vfs.unlink(f"{ETC}/a.conf")
    assert vfs.listdir(ETC) == []
    assert system.modules.modprobe_config().blacklist == []
    with pytest.raises(OSError) as info:
        vfs.unlink(f"{ETC}/a.conf")
    assert info.value.errno == Errno.ENOENT


def test_files_elsewhere_cannot_be_created_or_unlinked(system: System) -> None:
    with pytest.raises(OSError) as info:
        system.vfs.append("/proc/newfile", "x")
    assert info.value.errno == Errno.ENOENT
    with pytest.raises(OSError) as info:
        system.vfs.append("/proc/modules", "x")
    assert info.value.errno == Errno.EACCES
    with pytest.raises(OSError) as info:
        system.vfs.unlink("/proc/modules")
    assert info.value.errno == Errno.EPERM
    with pytest.raises(OSError) as info:
        system.vfs.unlink(ETC)
    assert info.value.errno == Errno.EISDIR


def test_open_creates_truncates_appends_and_seeks(system: System) -> None:
    async def scenario() -> tuple[bytes, bytes, bytes]:
        path = f"{ETC}/x.conf"
        afile = await system.aopen(path, "wb")
        await afile.write(b"blacklist usbhid\n")
        await afile.close()
        afile = await system.aopen(path, "ab")
        await afile.write(b"blacklist hid\n")
        await afile.close()
        afile = await system.aopen(path, "rb")
        whole = await afile.read(100)
        await afile.close()
        afile = await system.aopen(path, "rb+")
        await afile.write(b"#")
        await afile.close()
        patched = system.vfs.read(path)
        afile = await system.aopen(path, "wb")
        await afile.close()
        return whole, patched, system.vfs.read(path)

    whole, patched, emptied = system.run(scenario())
    assert whole == b"blacklist usbhid\nblacklist hid\n"
    assert patched == b"#lacklist usbhid\nblacklist hid\n"
    assert emptied == b""
    assert system.modules.modprobe_config().blacklist == []


def test_exclusive_create_of_an_existing_file_fails(system: System) -> None:
    system.modules.write_config("x.conf", "")
    with pytest.raises(OSError) as info:
        system.run(system.aopen(f"{ETC}/x.conf", "xb"))
    assert info.value.errno == Errno.EEXIST


def test_write_config_rejects_a_path(system: System) -> None:
    with pytest.raises(ValueError, match="no '/'"):
        system.modules.write_config("../x.conf", "")


def test_pwrite_writes_at_an_offset_and_fills_a_gap_with_zeros(system: System) -> None:
    path = f"{ETC}/p.conf"
    system.vfs.append(path, "abc")
    assert system.vfs.pwrite(path, b"X", 1) == 1
    assert system.vfs.pwrite(path, b"Z", 5) == 1
    assert system.vfs.read(path) == b"aXc\x00\x00Z"
    with pytest.raises(OSError) as info:
        system.vfs.pwrite("/proc/modules", b"x", 0)
    assert info.value.errno == Errno.EINVAL
