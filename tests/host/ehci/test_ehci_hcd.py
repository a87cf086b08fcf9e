"""The EHCI-model controller on virtual time: bus throughput as the USB 2.0 tables give it,
polling intervals, transaction translators, bandwidth refusal, the B: line, debugfs and
statistics (usbemu.host.ehci.hcd)."""

from __future__ import annotations

import asyncio
import itertools
from typing import ClassVar

import pytest

from usbemu.core.hcd import ns_to_us, usb_calc_bus_time
from usbemu.core.message import usb_control_msg
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_INTERRUPT,
    PIPE_ISOCHRONOUS,
    Urb,
    UrbFlag,
    make_pipe,
    usb_submit_urb,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.device import DeviceModel, endpoint_in
from usbemu.emulated.endpoint import Endpoint
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.host.ehci import EhciHCD
from usbemu.host.ehci.hcd import qtd_lengths
from usbemu.host.ehci.sched import hs_usecs
from usbemu.spec.ch9 import Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from usbemu.system import System
from usbemu.testing import check_host_controller

HS_BULK_BYTES_PER_S = 13 * 512 * 8000  # 53.248 MB/s
FS_BULK_BYTES_PER_S = 19 * 64 * 1000  # 1.216 MB/s
SINK, SOURCE = 0x02, 0x81


def _machine(**options: object) -> tuple[System, EhciHCD]:
    system = System()
    system.boot()
    hcd = system.add_controller("ehci", **options)
    assert isinstance(hcd, EhciHCD)
    return system, hcd


def _plug(system: System, model: DeviceModel, path: str) -> UsbDevice:
    system.plug(model, path)
    system.settle()
    udev = system.find_device(path)
    assert udev is not None and udev.actconfig is not None, system.dmesg()
    return udev


def _stream(system: System, streams: list[tuple[UsbDevice, int]], seconds: float,
            size: int = 65536, depth: int = 4) -> list[float]:
    """Keep `depth` bulk URBs of `size` bytes in flight on each (device, endpoint) for
    `seconds` of machine time; the bytes per second each moved."""
    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        stop = start + seconds
        moved = [0] * len(streams)
        last = [start] * len(streams)
        pending = [0]
        idle = asyncio.Event()

        def again(index: int, urb: Urb) -> None:
            assert urb.status == 0, urb.status
            moved[index] += urb.actual_length
            last[index] = loop.time()
            if loop.time() < stop:
                assert usb_submit_urb(urb) == 0
                return
            pending[0] -= 1
            if not pending[0]:
                idle.set()

        for index, (udev, address) in enumerate(streams):
            is_in = bool(address & 0x80)
            pipe = make_pipe(udev, PIPE_BULK, address & 0xF, is_in)
            for _ in range(depth):
                urb = Urb().fill_bulk(udev, pipe, bytearray(size) if is_in else bytes(size),
                                      size, lambda u, i=index: again(i, u))
                assert usb_submit_urb(urb) == 0
                pending[0] += 1
        await idle.wait()
        return [moved[i] / (last[i] - start) for i in range(len(streams))]

    return system.run(run())


def _near(rate: float, expected: float, tolerance: float = 0.01) -> bool:
    return abs(rate - expected) <= tolerance * expected


# -- the conformance suite ----------------------------------------------------------------------


def test_the_conformance_suite_passes_on_the_ehci_controller() -> None:
    check_host_controller("ehci")


# -- throughput ----------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [SINK, SOURCE])
def test_high_speed_bulk_moves_13_packets_of_512_per_microframe(address: int) -> None:
    system, hcd = _machine()
    udev = _plug(system, GadgetZero(), "1-1")
    [rate] = _stream(system, [(udev, address)], 0.05)
    assert _near(rate, HS_BULK_BYTES_PER_S), rate
    stats = hcd.statistics()
    [bulk] = [ep for ep in stats.endpoints if ep.endpoint == address]
    assert bulk.transactions == bulk.bytes // 512
    system.close()


def test_a_high_speed_bulk_loopback_shares_the_bus_at_53_mb_s() -> None:
    """Gadget zero's loopback: what goes out comes back; both directions together fill the
    bus, each getting half of it round robin."""
    system, _hcd = _machine()
    udev = _plug(system, GadgetZero(loopdefault=True), "1-1")
    out_rate, in_rate = _stream(system, [(udev, SINK), (udev, SOURCE)], 0.05, size=4096)
    assert _near(out_rate + in_rate, HS_BULK_BYTES_PER_S), (out_rate, in_rate)
    assert _near(out_rate, in_rate, 0.05)
    system.close()


def test_a_full_speed_device_behind_a_high_speed_hub_reaches_the_full_speed_figure() -> None:
    system, hcd = _machine()
    _plug(system, Hub(), "1-1")
    udev = _plug(system, GadgetZero(speed=Speed.FULL), "1-1.1")
    [rate] = _stream(system, [(udev, SINK)], 0.1, size=4096)
    assert _near(rate, FS_BULK_BYTES_PER_S), rate
    assert [lane.name for lane in hcd.statistics().lanes] == ["high-speed", "TT 1-1 port 0"]
    system.close()


def test_a_full_speed_device_on_a_root_port_uses_the_controllers_tt() -> None:
    system, _hcd = _machine()
    udev = _plug(system, GadgetZero(speed=Speed.FULL), "1-1")
    [rate] = _stream(system, [(udev, SOURCE)], 0.1, size=4096)
    assert _near(rate, FS_BULK_BYTES_PER_S), rate
    system.close()


@pytest.mark.parametrize(("multi_tt", "share"), [(False, 0.5), (True, 1.0)])
def test_two_full_speed_devices_share_a_single_tt_but_not_a_multi_tt(multi_tt: bool,
                                                                     share: float) -> None:
    system, hcd = _machine()
    _plug(system, Hub(multi_tt=multi_tt), "1-1")
    one = _plug(system, GadgetZero(speed=Speed.FULL), "1-1.1")
    two = _plug(system, GadgetZero(speed=Speed.FULL), "1-1.2")
    rates = _stream(system, [(one, SINK), (two, SINK)], 0.1, size=4096)
    assert all(_near(rate, share * FS_BULK_BYTES_PER_S, 0.02) for rate in rates), rates
    lanes = [lane.name for lane in hcd.statistics().lanes]
    assert lanes == (["high-speed", "TT 1-1 port 1", "TT 1-1 port 2"] if multi_tt
                     else ["high-speed", "TT 1-1 port 0"])
    system.close()


def test_high_speed_bulk_leaves_full_speed_traffic_its_own_bus() -> None:
    """A TT's full-speed bus is separate: saturating the high-speed bus does not slow a
    full-speed device behind a hub."""
    system, _hcd = _machine()
    fast = _plug(system, GadgetZero(), "1-2")
    _plug(system, Hub(), "1-1")
    slow = _plug(system, GadgetZero(speed=Speed.FULL), "1-1.1")
    fast_rate, slow_rate = _stream(system, [(fast, SINK), (slow, SINK)], 0.05, size=4096)
    assert _near(fast_rate, HS_BULK_BYTES_PER_S) and _near(slow_rate, FS_BULK_BYTES_PER_S, 0.02)
    system.close()


# -- control transfers ---------------------------------------------------------------------------


def test_a_control_transfer_takes_its_stages_on_the_bus() -> None:
    """GET_DESCRIPTOR(device): setup, one data packet and status — three transactions in
    the microframe after the submission; 18 bytes through the TT take a full-speed frame."""
    system, hcd = _machine()
    fast = _plug(system, GadgetZero(), "1-1")
    slow = _plug(system, GadgetZero(speed=Speed.FULL), "1-2")

    async def timed(udev: UsbDevice) -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.01 - loop.time() % 0.001)  # the start of a frame
        start = loop.time()
        buf = bytearray(18)
        pipe = make_pipe(udev, PIPE_CONTROL, 0, True)
        rc = await usb_control_msg(udev, pipe, 6, 0x80, 0x0100, 0, buf, 18, 1000)
        return loop.time() - start, rc

    before = {ep.device: ep.transactions for ep in hcd.statistics().endpoints
              if ep.endpoint == 0}
    assert system.run(timed(fast)) == (pytest.approx(0.000125), 18)
    assert system.run(timed(slow)) == (pytest.approx(0.001), 18)
    after = {ep.device: ep.transactions for ep in hcd.statistics().endpoints if ep.endpoint == 0}
    assert after["1-1"] - before["1-1"] == 3
    system.close()


# -- the periodic schedule ------------------------------------------------------------------------


class _Periodic(DeviceModel):
    """A high-speed device with interrupt IN endpoints 0x81 (maxp 64, bInterval 4) and
    0x82/0x83 (3 × 1024 every microframe), each answering every poll."""

    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x1209, idProduct=0x0E1C, bcdUSB=0x0200, bDeviceClass=0xFF,
        configurations=(ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, endpoints=(
            EndpointDescriptor.interrupt(0x81, 64, 4),
            EndpointDescriptor.interrupt(0x82, 0x1400, 1),
            EndpointDescriptor.interrupt(0x83, 0x1400, 1),
        )),)),),
    )

    @endpoint_in(0x81, 0x82, 0x83)
    def _report(self, ep: Endpoint, room: int) -> bytes:
        return bytes(min(room, ep.maxpacket))


def _interrupt_urb(udev: UsbDevice, address: int, size: int, times: list[float],
                   limit: int) -> Urb:
    loop = asyncio.get_event_loop()
    desc = next(ep.desc for ep in udev.actconfig.interface[0].cur_altsetting.endpoint
                if ep.desc.bEndpointAddress == address) if udev.actconfig else None
    assert desc is not None

    def again(urb: Urb) -> None:
        times.append(loop.time())
        if urb.status == 0 and len(times) < limit:
            usb_submit_urb(urb)

    return Urb().fill_int(udev, make_pipe(udev, PIPE_INTERRUPT, address & 0xF, True),
                          bytearray(size), size, again, None, desc.bInterval)


def test_a_high_speed_binterval_of_4_is_serviced_every_8_microframes() -> None:
    system, _hcd = _machine()
    udev = _plug(system, _Periodic(), "1-1")
    times: list[float] = []

    async def run() -> None:
        assert usb_submit_urb(_interrupt_urb(udev, 0x81, 64, times, 20)) == 0
        await asyncio.sleep(0.05)

    system.run(run())
    gaps = {round((b - a) * 8000) for a, b in itertools.pairwise(times)}
    assert len(times) == 20 and gaps == {8}
    system.close()


def test_a_periodic_urb_past_the_80_percent_cap_gets_enospc_and_the_rest_run_on() -> None:
    """Two 3 × 1024-byte interrupt endpoints polled every microframe would need 2 × 61 µs
    of each 125: the second is refused, the first keeps its microframes."""
    system, _hcd = _machine()
    udev = _plug(system, _Periodic(), "1-1")
    first: list[float] = []
    second: list[float] = []

    async def run() -> int:
        assert usb_submit_urb(_interrupt_urb(udev, 0x82, 3072, first, 40)) == 0
        rc = usb_submit_urb(_interrupt_urb(udev, 0x83, 3072, second, 40))
        await asyncio.sleep(0.01)
        return rc

    assert system.run(run()) == -Errno.ENOSPC
    assert len(first) == 40 and not second
    gaps = {round((b - a) * 8000) for a, b in itertools.pairwise(first)}
    assert gaps == {1}
    system.close()


def _b_line(system: System) -> str:
    text = system.vfs.read_text("/sys/kernel/debug/usb/devices")
    return next(line for line in text.splitlines() if line.startswith("B:"))


def test_the_b_line_shows_the_reservations_as_ehci_sched_computes_them() -> None:
    """qh_link_periodic adds (usecs + c_usecs) / bw_period µs, or usecs × 8 for a QH
    polled every microframe, while the QH is linked; it is unlinked 5 ms after its
    queue empties."""
    system, _hcd = _machine()
    udev = _plug(system, _Periodic(), "1-1")
    # The root hub's status URB is answered in software: no QH, no reservation.
    assert _b_line(system) == "B:  Alloc=  0/800 us ( 0%), #Int=  0, #Iso=  0"
    times: list[float] = []

    async def run() -> tuple[str, str]:
        usb_submit_urb(_interrupt_urb(udev, 0x82, 3072, times, 1000))
        await asyncio.sleep(0.00206)  # mid-microframe: the URB is on the schedule
        busy = _b_line(system)
        times.extend([0.0] * 1000)  # past the limit: the next completion is the last
        await asyncio.sleep(0.01)
        return busy, _b_line(system)

    busy, idle = system.run(run())
    usecs = ns_to_us(usb_calc_bus_time(Speed.HIGH, True, False, 3072))
    assert usecs == 61
    alloc = usecs * 8  # bw_period 0: every microframe
    # The devices file shows the average per microframe budget of 800: 488/800 = 61 %.
    assert busy == f"B:  Alloc={alloc:3d}/800 us ({alloc * 100 // 800:2d}%), #Int=  1, #Iso=  0"
    assert idle == "B:  Alloc=  0/800 us ( 0%), #Int=  0, #Iso=  0"
    system.close()


def test_debugfs_shows_the_periodic_schedule_and_bandwidth() -> None:
    system, hcd = _machine()
    udev = _plug(system, _Periodic(), "1-1")
    times: list[float] = []

    async def run() -> tuple[str, str]:
        usb_submit_urb(_interrupt_urb(udev, 0x81, 64, times, 1000))
        await asyncio.sleep(0.002)
        root = f"/sys/kernel/debug/usb/ehci/{hcd.controller.name}"
        return system.vfs.read_text(f"{root}/periodic"), system.vfs.read_text(f"{root}/bandwidth")

    periodic, bandwidth = system.run(run())
    usecs = hs_usecs(64)
    lines = periodic.splitlines()
    assert lines[0] == "size = 1024"
    # The device's QH: period 1 frame in every frame's chain, S-mask one microframe,
    # [usecs/0], one qTD, maxpacket 64; shown in full once, by its pointer after that.
    assert any(" qh1-0001/" in line and f"(h2 ep1in [{usecs}/0] q1 p64)" in line
               for line in lines)
    assert len([line for line in lines[1:] if " qh1-0001/" in line]) == 1024
    rows = bandwidth.splitlines()
    assert rows[0] == "HS bandwidth allocation (us per microframe)"
    # Microframe 0 of every frame carries the 64-byte QH.
    assert rows[1:9] == [f"{i:2d}: {usecs:4d}" + "   0" * 7 for i in range(0, 64, 8)]
    system.close()


def test_isochronous_urbs_become_itds_one_packet_per_interval() -> None:
    system, hcd = _machine()
    zero = GadgetZero()
    udev = _plug(system, zero, "1-1")
    done: list[float] = []

    async def run() -> tuple[Urb, str]:
        from usbemu.core.message import usb_set_interface

        assert await usb_set_interface(udev, 0, 1) == 0
        loop = asyncio.get_running_loop()
        urb = Urb(8)
        urb.fill_bulk(udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), bytearray(8 * 1024),
                      8 * 1024, lambda u: done.append(loop.time()))
        urb.interval = 8
        urb.transfer_flags |= UrbFlag.ISO_ASAP
        for i, packet in enumerate(urb.iso_frame_desc):
            packet.offset, packet.length = i * 1024, 1024
        start = loop.time()
        assert usb_submit_urb(urb) == 0
        await asyncio.sleep(0.001)
        periodic = system.vfs.read_text(
            f"/sys/kernel/debug/usb/ehci/{hcd.controller.name}/periodic")
        await asyncio.sleep(0.02)
        done.append(start)
        return urb, periodic

    urb, periodic = system.run(run())
    assert urb.status == 0 and urb.error_count == 0 and urb.actual_length == 8 * 1024
    assert all(p.status == 0 and p.actual_length == 1024 for p in urb.iso_frame_desc)
    assert periodic.count(" itd/") == 8  # one iTD per frame, 8 frames
    took = done[0] - done[1]
    assert 0.008 <= took <= 0.0095  # 8 packets one frame apart, after the threshold
    system.close()


# -- NAKs, statistics ----------------------------------------------------------------------------


def test_a_naking_bulk_in_is_counted_four_naks_per_microframe() -> None:
    """EHCI_TUNE_RL_HS: a high-speed asynchronous QH takes four NAKs per microframe."""
    system, hcd = _machine()
    zero = GadgetZero(loopdefault=True)
    udev = _plug(system, zero, "1-1")

    async def run() -> Urb:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.01 - loop.time() % 0.001)
        got = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1, True), bytearray(512), 512,
                              lambda u: None)
        assert usb_submit_urb(got) == 0
        await asyncio.sleep(0.001)  # 8 microframes of NAKs
        put = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 2, False), bytes(512), 512,
                              lambda u: None)
        assert usb_submit_urb(put) == 0
        await asyncio.sleep(0.001)
        return got

    got = system.run(run())
    assert got.status == 0 and got.actual_length == 512
    [ep] = [ep for ep in hcd.statistics().endpoints if ep.endpoint == SOURCE]
    assert ep.naks == 8 * 4  # eight microframes; the OUT's data comes back in the ninth
    system.close()


def test_statistics_report_the_frame_number_and_utilisation() -> None:
    system, hcd = _machine()
    udev = _plug(system, GadgetZero(), "1-1")
    _stream(system, [(udev, SINK)], 0.02)
    stats = hcd.statistics()
    assert stats.frame_number == hcd.get_frame_number() == (stats.uframes >> 3) % 1024
    [hs] = stats.lanes
    assert hs.recent and max(hs.recent) == pytest.approx(13 * 567 / 7500)
    assert "ep 02 bulk" in stats.text()
    system.close()


def test_qtds_hold_at_most_20_kib() -> None:
    urb = Urb().fill_bulk(None, 0, bytes(65536), 65536, lambda u: None)  # type: ignore[arg-type]
    assert qtd_lengths(urb, 512) == [20480, 20480, 20480, 4096]
    urb.transfer_flags |= UrbFlag.ZERO_PACKET
    assert qtd_lengths(urb, 512) == [20480, 20480, 20480, 4096, 0]


def test_full_speed_devices_go_to_the_companion_without_a_tt() -> None:
    system = System()
    system.boot()
    ehci = system.add_controller("ehci", has_tt=False, nports=2)
    system.add_controller("uhci", companion_of=ehci)
    system.plug(GadgetZero(speed=Speed.FULL), "1-1")
    system.settle()
    assert system.find_device("2-1") is not None
    system.close()


def test_the_ich9_chipset_can_have_the_ehci_model_with_its_uhci_companions() -> None:
    system = System()
    system.boot()
    ehci, *uhcis = system.add_chipset("ich9", ehci="ehci")
    assert isinstance(ehci, EhciHCD) and [u.driver_name for u in uhcis] == ["uhci_hcd"] * 3
    system.plug(GadgetZero(), "1-1")
    system.plug(GadgetZero(speed=Speed.FULL), "1-3")
    system.settle()
    assert system.find_device("1-1") is not None  # high speed stays on the EHCI
    assert system.find_device("3-1") is not None  # full speed goes to 1d.1's first port
    system.close()


@pytest.mark.parametrize("seed", range(6))
def test_random_submits_unlinks_and_unplugs_complete_every_urb_once(seed: int) -> None:
    """Bulk URBs of random sizes on high- and full-speed devices (loopback, so IN waits for
    OUT), unlinked at random, with a device unplugged and plugged again meanwhile: every
    URB completes exactly once, and the controller ends idle."""
    import random

    from usbemu.core.urb import usb_unlink_urb

    rng = random.Random(seed)
    system, hcd = _machine()
    _plug(system, Hub(), "1-1")
    paths = ["1-2", "1-1.1", "1-1.2"]
    speeds = [Speed.HIGH, Speed.FULL, Speed.FULL]
    for path, speed in zip(paths, speeds, strict=True):
        _plug(system, GadgetZero(speed=speed, loopdefault=True), path)
    done: dict[int, int] = {}
    urbs: list[Urb] = []

    def complete(urb: Urb) -> None:
        done[id(urb)] = done.get(id(urb), 0) + 1

    async def run() -> None:
        for step in range(120):
            path = rng.choice(paths)
            udev = system.find_device(path)
            action = rng.random()
            if udev is not None and udev.actconfig is not None and action < 0.7:
                is_in = rng.random() < 0.5
                size = rng.choice([0, 1, 63, 64, 512, 4096, 20480 + 7])
                urb = Urb().fill_bulk(udev, make_pipe(udev, PIPE_BULK, 1 if is_in else 2, is_in),
                                      bytearray(size) if is_in else bytes(size), size, complete)
                if rng.random() < 0.3:
                    urb.transfer_flags |= UrbFlag.ZERO_PACKET
                if usb_submit_urb(urb) == 0:
                    urbs.append(urb)
            elif action < 0.9 and urbs:
                usb_unlink_urb(rng.choice(urbs))
            elif step % 40 == 39:
                system.unplug(path)
                await system.asettle()
                system.plug(GadgetZero(speed=speeds[paths.index(path)], loopdefault=True),
                            path)
                await system.asettle()
            await asyncio.sleep(rng.choice([0, 0.0001, 0.001, 0.003]))
        for path in paths:
            system.unplug(path)
        await system.asettle()
        await asyncio.sleep(0.05)

    system.run(run())
    assert all(done.get(id(urb)) == 1 for urb in urbs), \
        [(urb, done.get(id(urb))) for urb in urbs if done.get(id(urb)) != 1][:5]
    assert not any(lane.ring for lane in hcd._lanes()) and not hcd._joiners
    system.close()
