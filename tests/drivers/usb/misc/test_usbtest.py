"""usbtest (drivers/usb/misc/usbtest.py) against gadget zero through usbfs, as testusb
drives it: autoload and binding with usbtest.c's messages, every case that applies passing
on every controller kind (inproc, ehci, ohci, uhci, and vhci through usbip-host), the cases
that answer EOPNOTSUPP or EINVAL, the control-queue subcases and a fault in the queue, the
halt test, the unaligned buffers' guard byte, the module parameters, and the `usbemu
testusb` command and the shell's `testusb`.  Everything runs on virtual time with small
iteration counts."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from usbemu.bridges.usbip.client import attach, detach
from usbemu.bridges.usbip.server import UsbipServer
from usbemu.cli import testusb as tu
from usbemu.cli.machine import boot, plug
from usbemu.cli.main import main
from usbemu.cli.shell import Shell
from usbemu.core import devio as d
from usbemu.core.message import usb_interrupt_msg
from usbemu.core.urb import PIPE_BULK, PIPE_INTERRUPT, Urb, make_pipe
from usbemu.core.usb import UsbDevice
from usbemu.drivers.usb.misc import usbtest as ut
from usbemu.drivers.usb.misc.usbtest import USBTEST_REQUEST, UsbtestParam
from usbemu.emulated.faults import Fault, FaultKind, FaultPlan, Match, inject_faults
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.kernel.syscalls import SyncFile
from usbemu.spec.ch9 import Request
from usbemu.system import System

KINDS = ["inproc", "ehci", "ohci", "uhci"]
FULL_SPEED = {"ohci", "uhci"}

#: Cases that run against gadget zero's source/sink configuration, altsetting 0.
SOURCESINK = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24,
              27, 28, 29]
ISO = [15, 16, 22, 23]
INTR = [25, 26]


class Machine:
    """A machine with one controller of `kind` and gadget zero at 1-1, bound to usbtest."""

    def __init__(self, kind: str, *, loopdefault: bool = False, pattern: int = 0,
                 interrupt: bool = False, **params: object) -> None:
        self.system = System()
        self.system.boot()
        self.system.add_controller(kind)
        if params or pattern:
            self.system.modprobe("usbtest", pattern=pattern, **params)
        self.model = GadgetZero(loopdefault=loopdefault, pattern=pattern, interrupt=interrupt)
        self.system.plug(self.model, "1-1")
        self.system.settle()
        udev = self.system.find_device("1-1")
        assert udev is not None
        self.udev: UsbDevice = udev
        self.node = f"/dev/bus/usb/{udev.busnum:03d}/{udev.devnum:03d}"
        self.file: SyncFile = self.system.open(self.node, "rb+")

    def close(self) -> None:
        self.file.close()
        self.system.close()

    def test(self, num: int, iterations: int = 4, length: int = 1024, vary: int = 512,
             sglen: int = 4, code: int = USBTEST_REQUEST) -> tuple[int, UsbtestParam]:
        """One USBTEST_REQUEST: (0 or the errno, the parameter block)."""
        param = UsbtestParam(num, iterations, length, vary, sglen)
        try:
            self.file.ioctl(d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(0, code, param))
        except OSError as exc:
            return exc.errno or 0, param
        return 0, param

    def status(self, num: int, **kw: int) -> int:
        return self.test(num, **kw)[0]

    def lines(self) -> list[str]:
        return [line.split("] ", 1)[1] for line in self.system.dmesg().splitlines()]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def machine(kind: str) -> Iterator[Machine]:
    m = Machine(kind)
    yield m
    m.close()


@pytest.fixture
def hs() -> Iterator[Machine]:
    m = Machine("inproc")
    yield m
    m.close()


# -- binding -------------------------------------------------------------------------------------


def test_autoloads_and_binds_gadget_zero(machine: Machine, kind: str) -> None:
    speed = "full-speed" if kind in FULL_SPEED else "high-speed"
    assert "usbtest" in machine.system.lsmod()
    intf = machine.udev.interface(0)
    assert intf is not None and intf.driver is not None and intf.driver.name == "usbtest"
    lines = machine.lines()
    assert "usbtest 1-1:3.0: Linux gadget zero" in lines
    assert (f"usbtest 1-1:3.0: {speed} {{control in/out bulk-in bulk-out}} tests (+alt)"
            in lines)
    assert "usbcore: registered new interface driver usbtest" in lines


def test_modules_alias_has_the_id_table_but_not_the_catch_all(hs: Machine) -> None:
    aliases = [line for line in hs.system.vfs.read_text(
        f"/lib/modules/{hs.system.usb.uname.release}/modules.alias").splitlines()
        if line.endswith(" usbtest")]
    assert "alias usb:v0525pA4A0d*dc*dsc*dp*ic*isc*ip*in* usbtest" in aliases
    assert "alias usb:vFFF0pFFF0d*dc*dsc*dp*ic*isc*ip*in* usbtest" in aliases
    assert len(aliases) == 7


def test_module_parameters_in_sysfs(hs: Machine) -> None:
    params = "/sys/module/usbtest/parameters"
    assert hs.system.vfs.read_text(f"{params}/alt") == "-1\n"
    assert hs.system.vfs.read_text(f"{params}/pattern") == "0\n"
    for hidden in ("realworld", "force_interrupt", "vendor", "product"):
        assert not hs.system.vfs.exists(f"{params}/{hidden}")


def test_vendor_parameter_binds_another_device() -> None:
    with System() as system:
        system.add_controller()
        system.modprobe("usbtest", vendor=0x0525, product=0xA4A0)
        system.plug(GadgetZero(), "1-1")
        system.settle()
        assert "usbtest 1-1:3.0: Linux gadget zero" in system.dmesg()
        assert "matched module params" not in system.dmesg()  # gadget zero's own entry won


# -- every case against every controller kind ----------------------------------------------------


def test_sourcesink_cases_pass(machine: Machine, kind: str) -> None:
    results = {num: machine.status(num) for num in SOURCESINK}
    assert results == dict.fromkeys(SOURCESINK, 0)
    assert not [line for line in machine.lines() if "failed" in line or "error" in line]


def test_periodic_cases_unsupported_without_their_endpoints(machine: Machine) -> None:
    assert {num: machine.status(num) for num in ISO + INTR} == \
        dict.fromkeys(ISO + INTR, Errno.EOPNOTSUPP)


def test_iso_cases_pass_with_alt_1(kind: str) -> None:
    m = Machine(kind, alt=1)
    try:
        speed = "full-speed" if kind in FULL_SPEED else "high-speed"
        assert (f"usbtest 1-1:3.0: {speed} {{control in/out bulk-in bulk-out iso-in iso-out}}"
                " tests (+alt)") in m.lines()
        length = 1023 if kind in FULL_SPEED else 1024  # one full packet per URB
        assert {num: m.status(num, length=length) for num in ISO} == dict.fromkeys(ISO, 0)
        period = "8 frames, wMaxPacket 1023" if kind in FULL_SPEED else \
            "8 microframes, wMaxPacket 1024"
        assert f"usbtest 1-1:3.0: iso period {period}, transactions: 1" in m.lines()
        assert m.status(1) == 0 and m.status(2) == 0
    finally:
        m.close()


def test_interrupt_cases_pass_with_alt_2(kind: str) -> None:
    m = Machine(kind, alt=2, pattern=1, interrupt=True)
    try:
        speed = "full-speed" if kind in FULL_SPEED else "high-speed"
        assert f"usbtest 1-1:3.0: {speed} {{control in/out int-in int-out}} tests (+alt)" \
            in m.lines()
        assert {num: m.status(num, iterations=4) for num in INTR} == dict.fromkeys(INTR, 0)
        assert "usbtest 1-1:3.0: TEST 25: write 1024 bytes 4 times" in m.lines()
        assert "usbtest 1-1:3.0: TEST 26: read 1024 bytes 4 times" in m.lines()
        # the source sends whole packets: a read shorter than one is babble
        maxp = 64 if kind in FULL_SPEED else 1024
        assert m.status(26, iterations=1, length=maxp // 2) == Errno.EOVERFLOW
        assert m.status(1) == Errno.EOPNOTSUPP          # no bulk pair in altsetting 2
    finally:
        m.close()


def test_the_interrupt_sink_checks_the_pattern() -> None:
    m = Machine("ehci", alt=2, pattern=1, interrupt=True)
    try:
        out = make_pipe(m.udev, PIPE_INTERRUPT, 0x06, False)
        bad = bytes(64)                                 # zeros where mod63 is expected
        assert m.system.run(usb_interrupt_msg(m.udev, out, bad, len(bad), 1000))[0] == 0
        assert m.model.endpoint(0x06).halted            # "bad OUT byte": the endpoint halts
    finally:
        m.close()


def test_interrupt_write_on_the_loopback_altsetting(kind: str) -> None:
    m = Machine(kind, loopdefault=True, alt=1)
    try:
        assert m.status(25, iterations=4, length=64) == 0
        assert "usbtest 1-1:2.0: TEST 25: write 64 bytes 4 times" in m.lines()
        # each request starts with SET_INTERFACE, which empties f_loopback's queue
        assert m.status(26, iterations=1, length=64) == Errno.ETIMEDOUT
        assert m.model.loop_queued() == 0
    finally:
        m.close()


def test_every_case_passes_through_vhci() -> None:
    """Gadget zero exported by usbip-host and imported onto vhci in the same machine, over
    a real socket on 127.0.0.1: usbtest binds the imported device at 2-1 and its cases
    pass there with the mod63 pattern checked on both sides (the throughput cases 27 and
    28 need pattern 0), the isochronous ones with alt=1 and the interrupt ones with alt=2."""
    mod63 = [num for num in SOURCESINK if num not in (27, 28)]
    for alt, pattern, cases in ((-1, 1, mod63), (-1, 0, [27, 28]), (1, 1, ISO), (2, 1, INTR)):
        with System() as system:
            system.add_controller("inproc")
            system.modprobe("usbtest", alt=alt, pattern=pattern)
            system.plug(GadgetZero(pattern=pattern, interrupt=alt == 2), "1-1")
            system.settle()
            server = system.run(UsbipServer.start(system, ["1-1"], port=0))
            vport = system.run(attach(system, "127.0.0.1", "1-1", server.port))
            system.settle()
            udev = system.find_device("2-1")
            assert udev is not None
            assert "usb 2-1: new high-speed USB device number 2 using vhci_hcd" in \
                system.dmesg()
            assert "usbtest 2-1:3.0: Linux gadget zero" in system.dmesg()
            with system.open(f"/dev/bus/usb/{udev.busnum:03d}/{udev.devnum:03d}",
                             "rb+") as node:
                results = {num: _ioctl(node, num) for num in cases}
            assert results == dict.fromkeys(cases, 0), system.dmesg()
            system.run(detach(system, vport))
            system.run(server.close())


def _ioctl(node: SyncFile, num: int) -> int:
    param = UsbtestParam(num, 4, 1024, 512, 4)
    try:
        node.ioctl(d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(0, USBTEST_REQUEST, param))
    except OSError as exc:
        return exc.errno or 0
    return 0


# -- messages, durations, arguments --------------------------------------------------------------


def test_test_lines_and_duration_on_ehci() -> None:
    m = Machine("ehci")
    try:
        status, param = m.test(1, iterations=4, length=1024)
        assert status == 0
        assert (param.duration_sec, param.duration_usec) == (0, 500)  # 4 × 1 microframe
        m.status(10, sglen=16, iterations=2)
        m.status(27, iterations=2, sglen=4)
        lines = m.lines()
        assert "usbtest 1-1:3.0: TEST 1:  write 1024 bytes 4 times" in lines
        assert "usbtest 1-1:3.0: TEST 10:  queue 16 control calls, 2 times" in lines
        assert "usbtest 1-1:3.0: TEST 27: bulk write 0Mbytes" in lines
    finally:
        m.close()


def test_einval_arguments(hs: Machine) -> None:
    assert hs.status(1, iterations=0) == Errno.EINVAL
    assert hs.status(5, sglen=129) == Errno.EINVAL
    assert hs.status(14, length=512, vary=512) == Errno.EINVAL    # vary >= length
    assert hs.status(14, length=0x10000, vary=0) == Errno.EINVAL  # length > 0xffff
    assert hs.status(9, iterations=1, sglen=128) == 0              # MAX_SGLEN itself is fine


def test_eopnotsupp_cases(hs: Machine) -> None:
    assert hs.status(30) == Errno.EOPNOTSUPP
    assert hs.status(3, vary=0) == Errno.EOPNOTSUPP
    assert hs.status(5, sglen=0) == Errno.EOPNOTSUPP
    assert hs.status(10, sglen=0) == Errno.EOPNOTSUPP      # after its TEST 10 line
    assert hs.status(11, length=0) == Errno.EOPNOTSUPP
    assert hs.status(24, sglen=3) == Errno.EOPNOTSUPP
    assert "usbtest 1-1:3.0: TEST 10:  queue 0 control calls, 4 times" in hs.lines()


def test_bulk_throughput_needs_pattern_0() -> None:
    m = Machine("inproc", pattern=1)
    try:
        assert m.status(27) == Errno.EOPNOTSUPP and m.status(28) == Errno.EOPNOTSUPP
        assert m.status(2) == 0 and m.status(1) == 0    # mod63 both ways
    finally:
        m.close()


def test_other_ioctl_code_and_bad_argument(hs: Machine) -> None:
    assert hs.status(0, code=ut.USBTEST_REQUEST_32) == 0
    assert hs.status(0, code=ut.USBTEST_REQUEST_64 + 1) == Errno.EOPNOTSUPP
    with pytest.raises(OSError) as info:
        hs.file.ioctl(d.USBDEVFS_IOCTL, d.UsbdevfsIoctl(0, USBTEST_REQUEST, object()))
    assert info.value.errno == Errno.EFAULT
    with pytest.raises(ValueError, match="iterations"):
        UsbtestParam(1, -1)


def test_ioctl_numbers() -> None:
    assert ut.USBTEST_REQUEST_64 == 0xC0285564
    assert ut.USBTEST_REQUEST_32 == 0xC01C5564


# -- the control queue ----------------------------------------------------------------------------


def test_ctrl_subcases_for_a_high_speed_device(hs: Machine) -> None:
    cases = ut.ctrl_subcases(hs.udev, 18)
    assert [c.number for c in cases] == [*range(16), 0, 1]
    table = {c.number: (c.setup.bRequest, c.setup.wValue, c.setup.wLength, c.expected)
             for c in cases[:16]}
    assert table[2] == (Request.GET_INTERFACE, 0, 1, Errno.EPIPE)
    assert table[5] == (Request.GET_DESCRIPTOR, 0x0600, 10, 0)       # high speed: must work
    assert table[7] == (Request.GET_DESCRIPTOR, 0x0400, 9, -Errno.EPIPE)
    assert table[8] == (Request.CLEAR_FEATURE, 0, 0, Errno.EPIPE) and cases[8].out
    assert table[10] == (Request.GET_DESCRIPTOR, 0x0200, 1024, -Errno.EREMOTEIO)
    assert table[13] == (Request.GET_DESCRIPTOR, 0x0200, 1024 - 64, -Errno.EREMOTEIO)
    assert table[14] == (Request.GET_DESCRIPTOR, 0x0100, 64, -Errno.EREMOTEIO)
    assert table[15] == (Request.GET_DESCRIPTOR, 0x0F00, 5, -Errno.EPIPE)  # bcdUSB 2.00


def test_ctrl_subcases_at_full_speed() -> None:
    m = Machine("uhci")
    try:
        assert ut.ctrl_subcases(m.udev, 6)[5].expected == Errno.EPIPE  # may stall
    finally:
        m.close()


def test_ctrl_queue_passes_with_every_subcase_queued(machine: Machine) -> None:
    assert machine.status(10, iterations=3, sglen=32) == 0
    assert not [line for line in machine.lines() if "subtest" in line or ("queue " in line
                and "err" in line)]


def test_ctrl_queue_reports_an_unexpected_stall(hs: Machine) -> None:
    # GET_STATUS of endpoint 0 (subcase 9) must succeed
    inject_faults(hs.model, FaultPlan([Fault(FaultKind.STALL, Match(
        bmRequestType=0x82, bRequest=Request.GET_STATUS), count=1)]))
    assert hs.status(10, iterations=1, sglen=16) == Errno.EPIPE
    lines = hs.lines()
    assert "usbtest 1-1:3.0: subtest 9 error, status -32" in lines
    assert any(line.startswith("usbtest 1-1:3.0: control queue 82.00, err -32, ")
               and "subcase 9, len 0/2" in line for line in lines)


# -- halts, unlinks, guards ---------------------------------------------------------------------


def test_halt_test_leaves_the_endpoints_running(machine: Machine) -> None:
    assert machine.status(13, iterations=2) == 0
    for ep in (0x81, 0x02):
        model_ep = machine.model.endpoint(ep)
        assert model_ep is not None and not model_ep.halted
    assert machine.status(1) == 0 and machine.status(2) == 0


def test_halt_test_fails_when_the_halt_does_not_stick(hs: Machine) -> None:
    # the device ignores SET_FEATURE(ENDPOINT_HALT): GET_STATUS still reads 0
    inject_faults(hs.model, FaultPlan([Fault(FaultKind.STALL, Match(
        bmRequestType=0x02, bRequest=Request.SET_FEATURE), count=0)]))
    assert hs.status(13, iterations=1) == Errno.EPIPE
    assert "usbtest 1-1:3.0: ep 81 couldn't set halt, -32" in hs.lines()
    assert "usbtest 1-1:3.0: halts failed, iterations left 0" in hs.lines()


def test_unlink_cases_pass_with_a_resubmitting_urb(machine: Machine) -> None:
    assert machine.status(11, iterations=3) == 0
    assert machine.status(12, iterations=3) == 0
    assert machine.status(24, iterations=2, sglen=6) == 0


def test_guard_byte_detects_a_write_before_the_buffer(hs: Machine) -> None:
    dev = ut.UsbtestDev(hs.udev.interface(0), ut.UsbtestInfo("x"))  # type: ignore[arg-type]
    urb = ut.usbtest_alloc_urb(hs.udev, 0, 8, 0, 1, 0, lambda u: None)
    assert ut.buffer_offset(urb.transfer_buffer) == 1
    assert ut.check_guard_bytes(dev, urb) == 0
    urb.transfer_buffer.obj[0] = 0
    assert ut.check_guard_bytes(dev, urb) == -Errno.EINVAL
    assert ut.buffer_offset(Urb().transfer_buffer) == 0


def test_check_buf_names_the_first_wrong_byte(hs: Machine) -> None:
    intf = hs.udev.interface(0)
    assert intf is not None
    dev = ut.UsbtestDev(intf, ut.UsbtestInfo("x"), pattern=1)
    urb = ut.simple_alloc_urb(hs.udev, make_pipe(hs.udev, PIPE_BULK, 1, True), 70, 0)
    urb.transfer_buffer[:70] = bytes((i % 512) % 63 for i in range(70))
    urb.actual_length = 70
    assert ut.simple_check_buf(dev, urb) == 0
    urb.transfer_buffer[65] = 0
    assert ut.simple_check_buf(dev, urb) == -Errno.EINVAL
    assert "usbtest 1-1:3.0: buf[65] = 0 (not 2)" in hs.lines()


# -- testusb -------------------------------------------------------------------------------------

RESULT = re.compile(r"^/dev/bus/usb/001/002 test (\d+), +\d+\.\d{6} secs$")


def test_testusb_recognises_test_devices() -> None:
    device = bytes([18, 1, 0, 2, 0xFF, 0, 0, 64, 0x25, 0x05, 0xA0, 0xA4, 0x12, 6, 1, 2, 3, 2])
    assert tu.testdev_ifnum(device) == 0
    assert tu.testdev_ifnum(device[:8] + bytes([0x8F, 0x05]) + device[10:]) == -1
    ffs = device[:10] + bytes([0xA4, 0xA4]) + device[12:]
    intf = bytes([9, 4, 3, 0, 2, 0xFF, 0, 0, 0])
    assert tu.testdev_ifnum(ffs + bytes([9, 2, 27, 0, 1, 1, 0, 0x80, 50]) + intf) == 3
    assert tu.parse_num("0x10") == 16 and tu.parse_num("010") == 8
    with pytest.raises(ValueError):
        tu.parse_num("4294967296")


def test_testusb_runs_every_case(hs: Machine) -> None:
    out: list[str] = []
    err: list[str] = []
    opts = tu.TestusbOptions(all=True, iterations=3, length=1024, sglen=4)
    assert hs.system.run(tu.testusb(hs.system, opts, out.append, err.append)) == 0
    assert err == ["unknown speed\t/dev/bus/usb/001/002\t0"]
    ran = [int(m[1]) for line in out if (m := RESULT.match(line))]
    assert ran == SOURCESINK and len(out) == len(SOURCESINK)


def test_testusb_reports_errors_as_testusb_words_them(hs: Machine) -> None:
    out: list[str] = []
    opts = tu.TestusbOptions(device=hs.node, test=14, length=512, vary=512)
    assert hs.system.run(tu.testusb(hs.system, opts, out.append, lambda line: None)) == 0
    assert out == ["/dev/bus/usb/001/002 test 14 --> 22 (Invalid argument)"]
    err: list[str] = []
    assert hs.system.run(tu.testusb(hs.system, tu.TestusbOptions(), out.append, err.append)) == 1
    assert err[0] == "must specify '-a' or '-D dev', or DEVICE=/dev/bus/usb/BBB/DDD in env"


@pytest.mark.parametrize("controller", KINDS)
def test_usbemu_testusb_command(controller: str) -> None:
    result = CliRunner().invoke(main, ["testusb", "-a", "--controller", controller, "-c", "2",
                                       "-s", "1024", "-g", "4", "-t", "10"])
    assert result.exit_code == 0, result.output
    assert RESULT.match(result.stdout.strip())
    assert result.stderr == "unknown speed\t/dev/bus/usb/001/002\t0\n"


def test_usbemu_testusb_command_mistakes() -> None:
    result = CliRunner().invoke(main, ["testusb", "-c", "2"])
    assert result.exit_code == 1
    assert "must specify '-a' or '-D dev'" in result.stderr
    result = CliRunner().invoke(main, ["testusb", "-a", "--controller", "nope"])
    assert result.exit_code == 2 and "--controller" in result.stderr


def test_shell_testusb() -> None:
    system = boot(hcd="ehci")
    try:
        plug(system, "zero")
        out, err = io.StringIO(), io.StringIO()
        shell = Shell(system, out, err)
        assert shell.execute("testusb -a -c 2 -s 1024 -g 4 -t 13") == 0
        assert RESULT.match(out.getvalue().strip())
        assert "unknown speed\t/dev/bus/usb/001/002\t0" in err.getvalue()
        out.truncate(0)
        out.seek(0)
        assert shell.execute("testusb -D /dev/bus/usb/001/002 -t 14 -s 8 -v 8") == 0
        assert out.getvalue() == "/dev/bus/usb/001/002 test 14 --> 22 (Invalid argument)\n"
        assert shell.execute("testusb -t x") == 1
        assert "TEST 13:  set/clear 2 halts" in system.dmesg()
    finally:
        system.close()


def test_a_device_that_never_answers_times_out(hs: Machine) -> None:
    inject_faults(hs.model, FaultPlan([Fault(FaultKind.NAK_FOREVER, Match(ep=0x81))]))
    start = hs.system.time()
    assert hs.status(6, iterations=1) == Errno.ETIMEDOUT      # the sg request is cancelled
    assert hs.status(2, iterations=1) == Errno.ETIMEDOUT      # the URB is killed
    assert hs.system.time() - start == pytest.approx(20.0, abs=0.01)
    lines = hs.lines()
    assert "usbtest 1-1:3.0: perform_sglist failed, iterations left 0, status -110" in lines
    assert "usb 1-1: test2 failed, iterations left 0, status -110 (not 0)" in lines


def test_testusb_lists_devices_under_a_directory(hs: Machine) -> None:
    err: list[str] = []
    opts = tu.TestusbOptions(all=True, usb_dir="/dev/bus", list_only=True)
    assert hs.system.run(tu.testusb(hs.system, opts, err.append, err.append)) == 0
    assert err == ["unknown speed\t/dev/bus/usb/001/002\t0"]
    opts = tu.TestusbOptions(all=True, usb_dir="/nope")
    assert hs.system.run(tu.testusb(hs.system, opts, err.append, err.append)) == 255
    assert err[-1] == "USB device files are missing"
