"""depmod (usbemu.kernel.depmod): modules.alias and modules.usbmap of the installed
modules, read without loading any, and the modules it cannot read left out.  Everything
runs on virtual time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from usbemu.kernel import depmod as depmod_mod
from usbemu.kernel.file2alias import alias_matches
from usbemu.kernel.kmod import INSTALLED_MODULES
from usbemu.kernel.module import this_module
from usbemu.system import System

FIXTURES = Path(__file__).parent / "fixtures"
GIZMO = str(FIXTURES / "gizmo.py")
LIB = "/lib/modules/6.12.0"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller()
        yield machine


# -- depmod ----------------------------------------------------------------------------------------

ALIASES = """\
# Aliases extracted from modules themselves.
alias gizmo-compat gizmo
alias usb:v1234p5678d010[5-9]dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v1234p5678d021[0-3]dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v1234p5678d01[1-9]*dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v1234p5678d020*dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v*p*d*dc*dsc*dp*ic03isc01ip02in* gizmo
alias usb:v0403p6001d*dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v1234p5678d0[2-9]*dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v1234p5678d[1-9]*dc*dsc*dp*ic*isc*ip*in* gizmo
alias usb:v058Fp6387d01*dc*dsc*dp*ic*isc*ip*in* autodrv
"""

USBMAP = (
    "# usb module         match_flags idVendor idProduct bcdDevice_lo bcdDevice_hi"
    " bDeviceClass bDeviceSubClass bDeviceProtocol bInterfaceClass bInterfaceSubClass"
    " bInterfaceProtocol driver_info\n"
    "gizmo                0x000f      0x1234   0x5678    0x0105       0x0213       0x00"
    "         0x00            0x00            0x00            0x00               0x00"
    "               0x0\n"
    "gizmo                0x0380      0x0000   0x0000    0x0000       0x0000       0x00"
    "         0x00            0x00            0x03            0x01               0x02"
    "               0x0\n"
    "gizmo                0x0003      0x0403   0x6001    0x0000       0x0000       0x00"
    "         0x00            0x00            0x00            0x00               0x00"
    "               0x0\n"
    "gizmo                0x0007      0x1234   0x5678    0x0200       0x0000       0x00"
    "         0x00            0x00            0x00            0x00               0x00"
    "               0x0\n"
    "autodrv              0x000f      0x058f   0x6387    0x0100       0x0199       0x00"
    "         0x00            0x00            0x00            0x00               0x00"
    "               0x0\n"
)


def without_installed(text: str, column: int) -> str:
    """`text` without the lines of the modules installed with usbemu (INSTALLED_MODULES),
    which come before the ones a test installs; `column` is where the module name is."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.startswith("#") or line.split()[column] not in INSTALLED_MODULES)


def test_depmod_writes_modules_alias_and_usbmap(system: System) -> None:
    system.modules.install("gizmo", GIZMO)
    system.modules.install(FIXTURES / "autodrv.py")
    system.modules.install(FIXTURES / "permanent.py")     # no device table: no lines
    aliases = system.vfs.read_text(f"{LIB}/modules.alias")
    assert without_installed(aliases, -1) == ALIASES
    assert aliases.endswith(ALIASES.split("\n", 1)[1])
    assert without_installed(system.vfs.read_text(f"{LIB}/modules.usbmap"), 0) == USBMAP
    assert system.vfs.read_text(f"{LIB}/modules.builtin") == (
        "kernel/drivers/usb/common/usb-common.ko\nkernel/drivers/usb/core/usbcore.ko\n")
    assert system.depmod() == aliases
    assert system.modules.get("gizmo") is None        # depmod reads modules, loads none
    assert this_module() is None


def test_depmod_leaves_out_what_it_cannot_read(system: System) -> None:
    system.modules.install("broken", str(FIXTURES / "broken.py"))
    system.modules.install("gizmo", GIZMO)
    result = system.modules.depmod()
    assert [e.name for e in result.modules if e.name not in INSTALLED_MODULES] == ["gizmo"]
    assert result.errors[0][0] == "broken" and "frobnicator" in result.errors[0][1]


MODALIASES = (
    "usb:v0403p6001d0600dc00dsc00dp00icFFiscFFipFFin00",      # FT232R
    "usb:v0483p5740d0200dc02dsc00dp00ic02isc02ip01in00",      # CDC-ACM
    "usb:v046DpC077d7200dc00dsc00dp00ic03isc01ip02in00",      # a HID boot mouse
    "hid:b0003g0001v0000046Dp0000C077",
    "usb:vFFFFpFFF8d0100dc00dsc00dp00icFFisc00ip00in00",      # nothing claims it
    "usb:v0403p6001",                                          # cut short
    "",
)


@pytest.mark.parametrize("modalias", MODALIASES)
def test_lookup_is_fnmatch_over_every_alias(system: System, modalias: str) -> None:
    """The one expression per module finds exactly what fnmatch over each alias finds."""
    depmod = system.modules.depmod()
    brute = [entry.name for entry in depmod.modules
             if any(alias_matches(alias, modalias) for alias in entry.aliases)]
    assert depmod.lookup(modalias) == list(dict.fromkeys(brute))
    if modalias.startswith("usb:v0403p6001d"):
        assert "ftdi_sio" in depmod.lookup(modalias)


def test_each_module_code_is_read_once_until_it_changes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A second machine's depmod executes no module code it has already read; a module
    file whose contents changed is read again, with its new table."""
    module = tmp_path / "gizmo2.py"
    module.write_text(Path(GIZMO).read_text())
    read: list[str] = []
    original = depmod_mod.exec_module_code
    monkeypatch.setattr(depmod_mod, "exec_module_code",
                        lambda source: read.append(source.name) or original(source))
    for _ in range(2):
        with System() as machine:
            machine.modules.install("gizmo2", str(module))
            assert "alias gizmo-compat gizmo2" in machine.depmod()
    assert read.count("gizmo2") == 1
    assert read.count("ftdi_sio") <= 1      # none when an earlier machine read it
    module.write_text(Path(GIZMO).read_text().replace("gizmo-compat", "gizmo-renamed"))
    with System() as machine:
        machine.modules.install("gizmo2", str(module))
        assert "alias gizmo-renamed gizmo2" in machine.depmod()
    assert read.count("gizmo2") == 2 and read.count("ftdi_sio") <= 1
