"""usbemu.testing.soak: plug / unplug cycles with I/O in flight pass on a sound machine,
and each of its checks catches the leak it is there for — a task left running, a file
left open, memory that grows, a URB given back twice or never."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from usbemu.core.hcd import UsbBus
from usbemu.core.urb import Urb, usb_pipeendpoint, usb_pipein
from usbemu.host.inproc import InProcessHCD
from usbemu.system import System
from usbemu.testing.soak import (
    DEFAULT_MEMORY_BOUND,
    SoakFailure,
    SoakReport,
    UrbLedger,
    block_pattern,
    main,
    pattern,
    soak,
)

pytestmark = pytest.mark.usefixtures("hang_guard")


def test_a_short_soak_passes_and_reports_its_figures() -> None:
    report = soak(cycles=6, seed=3)
    assert report.ok, str(report)
    report.check()
    assert report.cycles == 6 and report.unplugs >= 6
    assert report.urbs_submitted == report.urbs_completed > 1000
    assert report.serial_acknowledged <= report.serial_transmitted <= report.serial_written
    assert report.serial_acknowledged > 0 and report.serial_read > 0
    assert 0 < report.blocks_acknowledged <= report.blocks_written
    assert report.zero_looped > 0 and report.mouse_moves > 0
    text = str(report)
    for words in ("6 cycles", "URBs:", "given back", "acknowledged by tcdrain",
                  "verified in the medium", "memory:", "delta", "passed"):
        assert words in text, text


def test_the_same_seed_makes_the_same_run() -> None:
    first, second = soak(cycles=3, seed=11), soak(cycles=3, seed=11)
    assert (first.unplugs, first.urbs_submitted, first.serial_written,
            first.blocks_written, first.machine_seconds) == \
        (second.unplugs, second.urbs_submitted, second.serial_written,
         second.blocks_written, second.machine_seconds)


def test_a_task_left_running_is_a_leak() -> None:
    async def leak_a_task(system: System, cycle: int) -> None:
        if cycle == 1:
            asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="leaked")

    report = soak(cycles=3, seed=1, on_cycle=leak_a_task)
    assert not report.ok
    assert any("cycle 2: with every device plugged in: asyncio tasks" in p
               for p in report.problems), report.problems
    with pytest.raises(SoakFailure, match="asyncio tasks"):
        report.check()


def test_a_file_left_open_is_a_leak() -> None:
    kept: list[Any] = []

    async def leak_a_file(system: System, cycle: int) -> None:
        if cycle == 1:
            kept.append(await system.aopen("/dev/sda", "rb"))

    report = soak(cycles=3, seed=1, on_cycle=leak_a_file)
    assert any("open files" in p for p in report.problems), report.problems


def test_memory_that_grows_every_cycle_is_a_leak() -> None:
    hoard: list[bytearray] = []

    async def leak_memory(system: System, cycle: int) -> None:
        hoard.append(bytearray(DEFAULT_MEMORY_BOUND))

    report = soak(cycles=3, seed=1, on_cycle=leak_memory)
    assert report.memory_delta > report.memory_bound
    assert any("memory grew by" in p for p in report.problems), report.problems
    assert soak(cycles=3, seed=1).memory_delta < DEFAULT_MEMORY_BOUND


class _ForgetfulHCD(InProcessHCD):
    """A controller that never gives back a URB unlinked from gadget zero's bulk IN 0x81:
    the kill at its disconnect waits for it forever."""

    def urb_dequeue(self, urb: Urb, status: int) -> int:
        dev = urb.dev
        if (dev is not None and dev.descriptor is not None
                and dev.descriptor.idProduct == 0xA4A0
                and usb_pipein(urb.pipe) and usb_pipeendpoint(urb.pipe) == 1):
            return self.check_unlink_urb(urb, status)
        return super().urb_dequeue(urb, status)


def _forgetful_machine() -> System:
    system = System()
    system.boot()
    system.add_controller(_ForgetfulHCD)
    return system


def test_a_urb_never_given_back_is_found() -> None:
    """Seed 2 pulls gadget zero in the first cycle: its disconnect waits forever for the
    URB, the machine does not settle, the soak stops and says so, with the URB missing."""
    report = soak(_forgetful_machine, cycles=40, seed=2)
    assert not report.ok and report.cycles == 0
    text = "\n".join(report.problems)
    assert "cycle 0: the cycle failed: SettleTimeout" in text, text
    assert "remove of 1-2:2.0 by driver soak_zero" in text, text
    assert "INFO: task hub_wq blocked for more than 120 seconds." in text, text
    assert report.urbs_submitted > report.urbs_completed


def test_a_second_giveback_is_reported() -> None:
    with System() as system:
        system.add_controller()
        ledger = UrbLedger(system)
        bus: UsbBus = system.usb.buses[1]
        urb = Urb()
        ledger.urb_submit(bus, urb)
        ledger.urb_complete(bus, urb, 0)
        assert ledger.problems == [] and urb not in ledger.in_flight()
        ledger.urb_complete(bus, urb, 0)
        assert "given back with status 0 while not in flight" in ledger.problems[0]
        ledger.urb_submit_error(bus, urb, -19)
        assert "which was not submitted" in ledger.problems[1]
        ledger.close()


def test_the_ledger_counts_the_urbs_queued_before_it_came() -> None:
    with System() as system:
        system.add_controller()
        ledger = UrbLedger(system)
        assert len(ledger.in_flight()) == 1          # the root hub's status URB
        ledger.close()


def test_the_streams_are_what_the_checks_compare() -> None:
    assert pattern(0, 3) == bytes([7, 38, 69])
    assert pattern(251, 3) == pattern(0, 3) and len(pattern(100, 4096)) == 4096
    assert block_pattern(5, 9)[:8] == b"\x05\x00\x00\x00\x09\x00\x00\x00"
    assert len(block_pattern(5, 9)) == 512


def test_the_report_says_what_failed() -> None:
    report = SoakReport(seed=1, cycles=2, problems=["cycle 1: something leaked"])
    assert "FAILED, 1 problem(s):" in str(report) and "something leaked" in str(report)
    with pytest.raises(SoakFailure, match="something leaked"):
        report.check()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="cycles=0: a soak runs 1 cycle or more"):
        soak(cycles=0)
    with pytest.raises(ValueError, match="memory_bound=-1 must be 0 or more bytes"):
        soak(memory_bound=-1)


def test_the_command_runs_a_soak_and_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cycles", "2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("soak: 2 cycles, seed 4") and "passed" in out
    with pytest.raises(SystemExit):
        main(["--cycles", "0"])
