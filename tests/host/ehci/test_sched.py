"""EHCI periodic bandwidth (usbemu.host.ehci.sched) against Linux's ehci-sched.c with
CONFIG_USB_EHCI_TT_NEWSCHED, the periodic part of qh_make() in ehci-q.c, iso_stream_init(),
and the `bandwidth` / `periodic` files of ehci-dbg.c.

Every expected number below is worked out by hand from the kernel's arithmetic, not by
running the module.  The bus times come from usb_calc_bus_time() (hcd.c):

    BitTime(n)      = 7 * 8 * n / 6                      (integer division)
    HS_NSECS(n)     = (55*8*2083 + 2083*(3 + BitTime(n))) / 1000 + 5
                    = (916520 + 2083*(3 + BitTime(n))) / 1000 + 5
    HS_NSECS_ISO(n) = (633232 + 2083*(3 + BitTime(n))) / 1000 + 5
    FS intr         = 9107 + 1000 + 8354*(31 + 10*BitTime(n)) / 1000
    FS iso IN / OUT = 7268 / 6265 + 1000 + 8354*(31 + 10*BitTime(n)) / 1000
    LS intr IN      = 64060 + 2*333 + 1000 + 67667*(31 + 10*BitTime(n)) / 1000
    NS_TO_US(ns)    = ceil(ns / 1000)

    n     BitTime  HS_NSECS          HS_USECS  HS_NSECS_ISO      HS_USECS_ISO
    0     0        922769/1000+5=927    1      -                 -
    1     9        941516/1000+5=946    1      658228/1000+5=663    1
    8     74       1076911/1000+5=1081  2      -                 -
    64    597      2166320/1000+5=2171  3      1883032/1000+5=1888  2
    192   1792     -                    -      4372217/1000+5=4377  5
    376   3509     -                    -      7948728/1000+5=7953  8
    1023  9548     -                    -      20527965/1000+5=20532 21
    1024  9557     20830000/1000+5=20835 21    20546712/1000+5=20551 21
    3072  28672    60646545/1000+5=60651 61    60363257/1000+5=60368 61

    FS intr 64:     31 + 5970 = 6001 bits; 8354*6001/1000 = 50132; + 10107 = 60239 ns
    LS intr IN 8:   31 + 740 = 771 bits; 67667*771/1000 = 52171; + 65726 = 117897 ns
    FS iso IN 192:  17951 bits -> 149962; + 8268 = 158230 ns
    FS iso OUT 376: 35121 bits -> 293400; + 7265 = 300665 ns
    FS iso IN 1023: 95511 bits -> 797898; + 8268 = 806166 ns
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from usbemu.errors import Errno
from usbemu.host.ehci.sched import (
    DEFAULT_I_TDPS,
    EHCI_BANDWIDTH_SIZE,
    NO_FRAME,
    QH_SMASK,
    Bandwidth,
    EhciTT,
    FrameList,
    PeriodicNode,
    PerSched,
    hs_usecs,
    hs_usecs_iso,
    intr_params,
    iso_params,
)
from usbemu.spec.ch9 import Speed

#: The think time of a typical hub's TT (8 FS bit times = 666 ns).
THINK = 666


def rows(values: list[int]) -> list[list[int]]:
    """A 64-entry table as its eight frames of eight microframes."""
    return [values[i:i + 8] for i in range(0, len(values), 8)]


def every_frame(row: list[int]) -> list[int]:
    return row * (EHCI_BANDWIDTH_SIZE // 8)


def allocated(ps: PerSched) -> int:
    """What qh_link_periodic adds to bandwidth_allocated (the B: line of the devices file)."""
    return (ps.usecs + ps.c_usecs) // ps.bw_period if ps.bw_period else ps.usecs * 8


def describe(ps: PerSched) -> str:
    return f"{ps.udev_name} ep {ps.ep_address:02x}:"


class Hub:
    """Stands for the usb_tt a TT hangs off (find_tt keys on its identity)."""


def tt_intr(bw: Bandwidth, tt: EhciTT, name: str, ep: int, speed: Speed, maxp: int,
            binterval: int, interval: int) -> PerSched:
    ps = intr_params(name, ep, speed, maxp, binterval, interval, tt.think_time).ps
    ps.tt = tt
    return ps


def hs_intr(name: str, ep: int, maxp: int, binterval: int, interval: int) -> PerSched:
    return intr_params(name, ep, Speed.HIGH, maxp, binterval, interval).ps


# -- bus times --------------------------------------------------------------------------------


def test_hs_usecs_round_the_bus_time_up() -> None:
    assert [hs_usecs(n) for n in (0, 1, 8, 64, 1024, 3072)] == [1, 1, 2, 3, 21, 61]
    assert [hs_usecs_iso(n) for n in (1, 64, 192, 376, 1023, 1024, 3072)] == \
        [1, 2, 5, 8, 21, 21, 61]


# -- qh_make: interrupt parameters ------------------------------------------------------------

# (speed, ep, wMaxPacketSize, bInterval, urb interval, think, periodic_size) ->
# (usecs, c_usecs, tt_usecs, period, bw_period, bw_uperiod, gap_uf, rewritten interval)
INTR_CASES = {
    # HS: usecs = HS_USECS(64) = 3; interval 8 uframes -> period 8 >> 3 = 1;
    # bw_uperiod = min(min(64, 1 << 3), 8) = 8, bw_period = 8 >> 3 = 1
    "hs-in-64-binterval-4": ((Speed.HIGH, 0x81, 64, 4, 8, 0, 1024),
                             (3, 0, 0, 1, 1, 8, 0, 8)),
    # HS: HS_USECS(1024) = 21; interval 1 -> period 0; bw_uperiod = min(1, 1) = 1,
    # bw_period = 0 (every microframe)
    "hs-in-1024-binterval-1": ((Speed.HIGH, 0x81, 1024, 1, 1, 0, 1024),
                               (21, 0, 0, 0, 0, 1, 0, 1)),
    # high bandwidth: 0x1400 = maxp 0x400 (1024), mult ((0x1400 >> 11) & 3) + 1 = 3;
    # HS_USECS(3 * 1024) = 61
    "hs-in-3x1024": ((Speed.HIGH, 0x81, 0x1400, 1, 1, 0, 1024),
                     (61, 0, 0, 0, 0, 1, 0, 1)),
    # bInterval 3 -> urb interval 4, which qh_make rewrites to 1 (1 < 4 < 8);
    # bw_uperiod = min(min(64, 1 << 2), 1) = 1
    "hs-in-8-binterval-3": ((Speed.HIGH, 0x81, 8, 3, 4, 0, 1024),
                            (2, 0, 0, 0, 0, 1, 0, 1)),
    # bInterval 16 -> urb interval 32768, clamped to periodic_size << 3 = 8192 ->
    # period 1024; bw_uperiod = min(min(64, 1 << 15), 8192) = 64, bw_period 8
    "hs-in-8-binterval-16": ((Speed.HIGH, 0x81, 8, 16, 32768, 0, 1024),
                             (2, 0, 0, 1024, 8, 64, 0, 8192)),
    # the high-speed keyboard of tests/golden/linux-6.12-ehci-kbd-storage (MxPS 8,
    # Ivl=8ms): bInterval 7 -> interval 64 uframes, period 8, bw_uperiod 64, bw_period 8
    "hs-in-8-binterval-7": ((Speed.HIGH, 0x81, 8, 7, 64, 0, 1024),
                            (2, 0, 0, 8, 8, 64, 0, 64)),
    # FS IN through a TT: HS part HS_USECS(64) = 3 -> c_usecs = 3 + HS_USECS(0) = 4,
    # usecs = HS_USECS(1) = 1; tt_usecs = NS_TO_US(666 + 60239) = 61;
    # gap_uf = 1 + 60239 / 125000 = 1; bInterval 10 -> urb interval 8 (usb_submit_urb
    # rounds down to a power of two); bw_period = min(rounddown_pow_of_two(min(8, 10)), 8)
    "fs-in-64-binterval-10": ((Speed.FULL, 0x81, 64, 10, 8, THINK, 1024),
                              (1, 4, 61, 8, 8, 64, 1, 8)),
    # bw_period = min(rounddown_pow_of_two(min(8, 6)) = 4, 4) = 4, bw_uperiod 32
    "fs-in-64-binterval-6": ((Speed.FULL, 0x81, 64, 6, 4, THINK, 1024),
                             (1, 4, 61, 4, 4, 32, 1, 4)),
    # interval 128 clamped to periodic_size 64
    "fs-in-64-small-frame-list": ((Speed.FULL, 0x81, 64, 255, 128, THINK, 64),
                                  (1, 4, 61, 64, 8, 64, 1, 64)),
    # LS IN: HS_USECS(8) = 2 -> c_usecs = 2 + 1 = 3, usecs = 1;
    # tt_usecs = NS_TO_US(666 + 117897) = 119; gap_uf = 1 + 117897 / 125000 = 1
    "ls-in-8-binterval-10": ((Speed.LOW, 0x81, 8, 10, 8, THINK, 1024),
                             (1, 3, 119, 8, 8, 64, 1, 8)),
    # FS OUT: usecs = HS_USECS(64) + HS_USECS(1) = 4, c_usecs = HS_USECS(0) = 1;
    # bw_period = min(rounddown_pow_of_two(1), 1) = 1, bw_uperiod 8
    "fs-out-64-binterval-1": ((Speed.FULL, 0x02, 64, 1, 1, THINK, 1024),
                              (4, 1, 61, 1, 1, 8, 1, 1)),
}


@pytest.mark.parametrize("case", list(INTR_CASES))
def test_intr_params_are_qh_makes(case: str) -> None:
    (speed, ep, maxp, binterval, interval, think, size), expected = INTR_CASES[case]
    params = intr_params("1-1", ep, speed, maxp, binterval, interval, think, size)
    ps = params.ps
    assert (ps.usecs, ps.c_usecs, ps.tt_usecs, ps.period, ps.bw_period, ps.bw_uperiod,
            params.gap_uf, params.interval) == expected
    assert ps.phase == NO_FRAME and not ps.scheduled


def test_the_b_line_counts_each_qh_by_its_bandwidth_period() -> None:
    # qh_link_periodic: (usecs + c_usecs) / bw_period, or usecs * 8 every microframe
    got = {case: allocated(intr_params("1-1", ep, speed, maxp, bi, iv, th, size).ps)
           for case, ((speed, ep, maxp, bi, iv, th, size), _) in INTR_CASES.items()}
    assert got == {
        "hs-in-64-binterval-4": 3,          # (3 + 0) / 1
        "hs-in-1024-binterval-1": 168,      # 21 * 8
        "hs-in-3x1024": 488,                # 61 * 8
        "hs-in-8-binterval-3": 16,          # 2 * 8
        "hs-in-8-binterval-16": 0,          # (2 + 0) / 8
        "hs-in-8-binterval-7": 0,           # (2 + 0) / 8: the capture's "Alloc=  0/800 us"
        "fs-in-64-binterval-10": 0,         # (1 + 4) / 8
        "fs-in-64-binterval-6": 1,          # (1 + 4) / 4
        "fs-in-64-small-frame-list": 0,     # (1 + 4) / 8
        "ls-in-8-binterval-10": 0,          # (1 + 3) / 8
        "fs-out-64-binterval-1": 5,         # (4 + 1) / 1
    }


# -- qh_schedule: high speed ------------------------------------------------------------------


def test_first_qh_takes_random_frame_one_and_reserves_its_microframe_every_frame() -> None:
    bw = Bandwidth()
    ps = hs_intr("1-1", 0x81, 64, 4, 8)
    assert bw.qh_schedule(ps) == 0
    # ++random_frame = 1; frame = 1 & (bw_period 1 - 1) = 0; uframe 0 fits;
    # phase = 1 & (period 1 - 1) = 0; S-mask 1 << 0
    assert bw.random_frame == 1
    assert (ps.phase, ps.bw_phase, ps.phase_uf, ps.cs_mask) == (0, 0, 0, 0x0001)
    assert ps.scheduled
    assert bw.bandwidth == every_frame([3, 0, 0, 0, 0, 0, 0, 0])
    # first fit: a second QH goes into the same microframe
    other = hs_intr("1-2", 0x81, 64, 4, 8)
    assert bw.qh_schedule(other) == 0
    assert bw.random_frame == 2 and other.phase_uf == 0
    assert bw.bandwidth == every_frame([6, 0, 0, 0, 0, 0, 0, 0])


def test_phase_and_bandwidth_phase_come_from_the_rotating_frame() -> None:
    bw = Bandwidth()
    # bInterval 6, interval 32 uframes: period 4, bw_uperiod 32, bw_period 4
    ps = hs_intr("1-1", 0x81, 64, 6, 32)
    assert bw.qh_schedule(ps) == 0
    # random_frame 1: frame 1 & 3 = 1, phase 1 & 3 = 1; uframes 8 and 8 + 32
    assert (ps.phase, ps.bw_phase, ps.phase_uf) == (1, 1, 0)
    assert [u for u, v in enumerate(bw.bandwidth) if v] == [8, 40]
    # bInterval 9, interval 256: period 32, bw_uperiod 64, bw_period 8
    bw = Bandwidth()
    bw.random_frame = 8
    slow = hs_intr("1-1", 0x81, 64, 9, 256)
    assert bw.qh_schedule(slow) == 0
    # random_frame 9: frame 9 & 7 = 1, phase 9 & 31 = 9, bw_phase 9 & 7 = 1
    assert (slow.phase, slow.bw_phase, slow.phase_uf) == (9, 1, 0)
    assert [u for u, v in enumerate(bw.bandwidth) if v] == [8]


def test_a_full_frame_sends_the_search_on_to_the_next_random_frame() -> None:
    bw = Bandwidth()
    for frame in range(1, 8, 2):              # frames 1, 3, 5, 7 full
        bw.bandwidth[frame * 8:frame * 8 + 8] = [100] * 8
    # bInterval 5, interval 16: period 2, bw_uperiod 16, bw_period 2
    ps = hs_intr("1-1", 0x81, 64, 5, 16)
    assert bw.qh_schedule(ps) == 0
    # random_frame 1 -> frame 1: no microframe fits; random_frame 2 -> frame 0, uframe 0
    assert bw.random_frame == 2
    assert (ps.phase, ps.bw_phase, ps.phase_uf, ps.cs_mask) == (0, 0, 0, 0x0001)
    assert [bw.bandwidth[u] for u in (0, 16, 32, 48)] == [3, 3, 3, 3]


def test_every_microframe_qh_gets_the_full_s_mask_without_moving_random_frame() -> None:
    bw = Bandwidth()
    ps = hs_intr("1-1", 0x81, 1024, 1, 1)
    assert bw.qh_schedule(ps) == 0
    assert bw.random_frame == 0
    assert (ps.phase, ps.bw_phase, ps.phase_uf, ps.cs_mask) == (0, 0, 0, QH_SMASK)
    assert bw.bandwidth == [21] * EHCI_BANDWIDTH_SIZE


def test_a_second_high_bandwidth_qh_every_microframe_has_no_room() -> None:
    bw = Bandwidth()
    first, second = hs_intr("1-1", 0x81, 0x1400, 1, 1), hs_intr("1-2", 0x81, 0x1400, 1, 1)
    assert bw.qh_schedule(first) == 0
    assert bw.bandwidth == [61] * EHCI_BANDWIDTH_SIZE
    # check_period: 61 claimed > 100 - 61 = 39
    assert bw.qh_schedule(second) == -Errno.ENOSPC
    assert not second.scheduled and second.phase == NO_FRAME
    assert bw.bandwidth == [61] * EHCI_BANDWIDTH_SIZE
    # 61 + 21 = 82 still fits; a second 21 would make 103
    assert bw.qh_schedule(hs_intr("1-3", 0x81, 1024, 1, 1)) == 0
    assert bw.qh_schedule(hs_intr("1-4", 0x81, 1024, 1, 1)) == -Errno.ENOSPC
    assert bw.bandwidth == [82] * EHCI_BANDWIDTH_SIZE


def test_a_microframe_may_be_filled_to_exactly_one_hundred_us() -> None:
    bw = Bandwidth()
    bw.bandwidth[:] = [79] * EHCI_BANDWIDTH_SIZE
    assert bw.qh_schedule(hs_intr("1-1", 0x81, 1024, 1, 1)) == 0
    assert bw.bandwidth == [100] * EHCI_BANDWIDTH_SIZE
    assert bw.qh_schedule(hs_intr("1-2", 0x81, 8, 4, 8)) == -Errno.ENOSPC
    # a controller with a larger uframe_periodic_max takes it
    roomy = Bandwidth(uframe_periodic_max=102)
    roomy.bandwidth[:] = [100] * EHCI_BANDWIDTH_SIZE
    assert roomy.qh_schedule(hs_intr("1-2", 0x81, 8, 4, 8)) == 0


def test_a_scheduled_qh_keeps_its_slot() -> None:
    bw = Bandwidth()
    ps = hs_intr("1-1", 0x81, 64, 4, 8)
    assert bw.qh_schedule(ps) == 0
    before = (list(bw.bandwidth), bw.random_frame, ps.phase, ps.phase_uf, ps.cs_mask)
    assert bw.qh_schedule(ps) == 0
    assert (list(bw.bandwidth), bw.random_frame, ps.phase, ps.phase_uf, ps.cs_mask) == before


def test_release_gives_the_table_back() -> None:
    bw = Bandwidth()
    qhs = [hs_intr("1-1", 0x81, 64, 4, 8), hs_intr("1-2", 0x81, 1024, 1, 1),
           hs_intr("1-3", 0x81, 64, 6, 32)]
    for ps in qhs:
        assert bw.qh_schedule(ps) == 0
    assert any(bw.bandwidth)
    for ps in qhs:
        bw.reserve_release_intr(ps, -1)
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE


def test_release_of_an_unscheduled_qh_changes_nothing() -> None:
    bw = Bandwidth()
    bw.reserve_release_intr(hs_intr("1-1", 0x81, 64, 4, 8), -1)
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE


# -- qh_schedule: split transactions and the TT ---------------------------------------------


def test_a_split_qh_gets_a_start_split_and_three_complete_splits() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    ps = tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 10, 8)
    assert bw.qh_schedule(ps) == 0
    # random_frame 1: frame 1 & 7 = 1; uframe 0: start split there, C-mask uframes
    # 2..4 -> (0x1c << 8) | 1; phase 1 & 7 = 1
    assert (ps.phase, ps.bw_phase, ps.phase_uf, ps.cs_mask) == (1, 1, 0, 0x1C01)
    # usecs 1 in uframe 8, c_usecs 4 in uframes 10..12; tt_usecs 61 in frame 1
    assert rows(bw.bandwidth)[1] == [1, 0, 4, 4, 4, 0, 0, 0]
    assert sum(bw.bandwidth) == 1 + 3 * 4
    assert tt.bandwidth == [0, 61, 0, 0, 0, 0, 0, 0]
    assert tt.ps_list == [ps]
    # rotation: the next two land in frames 2 and 3
    nxt = [tt_intr(bw, tt, f"1-1.{n}", 0x81, Speed.FULL, 64, 10, 8) for n in (2, 3)]
    for other in nxt:
        assert bw.qh_schedule(other) == 0
    assert [p.phase for p in nxt] == [2, 3]
    assert tt.bandwidth == [0, 61, 61, 61, 0, 0, 0, 0]


def test_endpoints_behind_one_tt_share_its_budget_and_carry_over() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    # every frame (bw_period 1): FS IN 64 (1/4 us, tt 61), FS OUT 64 (4/1 us, tt 61)
    a = tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 1, 1)
    b = tt_intr(bw, tt, "1-1.2", 0x02, Speed.FULL, 64, 1, 1)
    c = tt_intr(bw, tt, "1-1.3", 0x81, Speed.FULL, 64, 1, 1)
    d = tt_intr(bw, tt, "1-1.4", 0x81, Speed.FULL, 64, 1, 1)
    for ps in (a, b, c, d):
        assert bw.qh_schedule(ps) == 0
    # a: budget uframe 0 = 61.  b: 61 + 61 = 122 <= 125 -> uframe 0.
    # c: 122 < 125 so it may start in uframe 0; 183 carries 58 into uframe 1.
    # d: uframe 0 is full (125); uframe 1: 58 + 61 = 119 -> uframe 1, C-mask 3..5
    assert [ps.phase_uf for ps in (a, b, c, d)] == [0, 0, 0, 1]
    assert [ps.cs_mask for ps in (a, b, c, d)] == [0x1C01, 0x1C01, 0x1C01, 0x3802]
    assert tt.bandwidth == [244] * 8
    assert Bandwidth.compute_tt_budget(tt) == every_frame([125, 119, 0, 0, 0, 0, 0, 0])
    # HS: starts a 1 + b 4 + c 1 in uframe 0, d 1 in uframe 1; completes a 4 + b 1 + c 4
    # in uframes 2..4, d 4 in 3..5
    assert bw.bandwidth == every_frame([6, 1, 9, 13, 13, 4, 0, 0])
    assert tt.ps_list == [a, b, c, d]
    for ps in (a, b, c, d):
        bw.reserve_release_intr(ps, -1)
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE
    assert tt.bandwidth == [0] * 8 and tt.ps_list == []


def test_a_full_tt_frame_has_no_room_left() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    qhs = [tt_intr(bw, tt, f"1-1.{n}", 0x81, Speed.LOW, 8, 1, 1) for n in range(7)]
    for ps in qhs[:6]:
        assert bw.qh_schedule(ps) == 0
    # tt_usecs 119 each; budget after each: [119], [125 113], [125 125 107],
    # [.. 125 101], [.. 125 95], [125 125 125 125 125 89]: the sixth starts in uframe 4
    assert [ps.phase_uf for ps in qhs[:6]] == [0, 0, 1, 2, 3, 4]
    # C-masks: uframe + 2 .. uframe + 4, never past uframe 7
    assert [ps.cs_mask for ps in qhs[:6]] == [0x1C01, 0x1C01, 0x3802, 0x7004, 0xE008,
                                               0xC010]
    assert Bandwidth.compute_tt_budget(tt)[:8] == [125, 125, 125, 125, 125, 89, 0, 0]
    assert tt.bandwidth == [714] * 8
    # the seventh: uframes 0..4 full; in 5, 89 + 119 = 208 carries 83 into uframe 6
    # (30 us) and 53 into uframe 7 (0 us); 6 and 7 are FSTN territory
    assert bw.qh_schedule(qhs[6]) == -Errno.ENOSPC
    assert not qhs[6].scheduled and tt.bandwidth == [714] * 8


def test_a_tt_frame_may_carry_nine_hundred_us_of_periodic_transfers() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    tt.bandwidth[:] = [840] * 8
    # 840 + 61 = 901 > 900
    assert bw.qh_schedule(tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 1, 1)) == \
        -Errno.ENOSPC
    tt.bandwidth[:] = [839] * 8
    assert bw.qh_schedule(tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 1, 1)) == 0
    assert tt.bandwidth == [900] * 8


def test_a_multi_tt_hub_has_one_tt_per_port() -> None:
    bw = Bandwidth()
    multi, single = Hub(), Hub()
    port1 = bw.find_tt(multi, "1-1", True, 1, THINK)
    port2 = bw.find_tt(multi, "1-1", True, 2, THINK)
    assert port1 is not port2
    assert (port1.port, port2.port) == (0, 1)
    assert bw.find_tt(multi, "1-1", True, 2, THINK) is port2
    shared = bw.find_tt(single, "1-2", False, 3, THINK)
    assert shared.port == 0 and bw.find_tt(single, "1-2", False, 4, THINK) is shared
    assert bw.tt_list == [port1, port2, shared]
    # port 1's full-speed bus filled does not touch port 2's
    for n in range(6):
        assert bw.qh_schedule(tt_intr(bw, port1, f"1-1.1.{n}", 0x81, Speed.LOW, 8, 1, 1)) == 0
    assert bw.qh_schedule(tt_intr(bw, port1, "1-1.1.6", 0x81, Speed.LOW, 8, 1, 1)) == \
        -Errno.ENOSPC
    other = tt_intr(bw, port2, "1-1.2", 0x81, Speed.LOW, 8, 1, 1)
    assert bw.qh_schedule(other) == 0 and other.phase_uf == 0
    assert port2.bandwidth == [119] * 8 and shared.bandwidth == [0] * 8


def test_drop_tt_forgets_only_an_unused_tt() -> None:
    bw = Bandwidth()
    hub = Hub()
    tt = bw.find_tt(hub, "1-1", False, 1, THINK)
    ps = tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 1, 1)
    assert bw.qh_schedule(ps) == 0
    bw.drop_tt(tt)
    assert bw.tt_list == [tt] and bw.find_tt(hub, "1-1", False, 1, THINK) is tt
    bw.reserve_release_intr(ps, -1)
    bw.drop_tt(tt)
    assert bw.tt_list == []
    assert bw.find_tt(hub, "1-1", False, 1, THINK) is not tt


# -- iso_stream_init and iso_stream_schedule --------------------------------------------------

# (speed, ep, wMaxPacketSize, bInterval, urb interval) ->
# (usecs, c_usecs, tt_usecs, period, bw_period, bw_uperiod, cs_mask, uperiod, maxp,
#  bandwidth)
ISO_CASES = {
    # HS_USECS_ISO(1024) = 21; bw_uperiod = min(min(64, 1 << 3), 8) = 8; period 1;
    # bw_period is never set for high speed (0); bandwidth = 21 * 8 / 8
    "hs-in-1024-interval-8": ((Speed.HIGH, 0x81, 1024, 4, 8),
                              (21, 0, 0, 1, 0, 8, 0, 8, 1024, 21)),
    # 0x1400: 3 x 1024 = 3072 bytes; HS_USECS_ISO(3072) = 61; bandwidth 61 * 8 / 1
    "hs-in-3x1024-interval-1": ((Speed.HIGH, 0x81, 0x1400, 1, 1),
                                (61, 0, 0, 0, 0, 1, 0, 1, 3072, 488)),
    # bInterval 7, interval 64: bw_uperiod 64, period 8; bandwidth 21 * 8 / 64 = 2
    "hs-in-1024-interval-64": ((Speed.HIGH, 0x81, 1024, 7, 64),
                               (21, 0, 0, 8, 0, 64, 0, 64, 1024, 2)),
    # FS IN 1023: c_usecs = HS_USECS_ISO(1023) = 21, usecs = HS_USECS_ISO(1) = 1;
    # tt_usecs = NS_TO_US(666 + 806166) = 807; hs_transfers = (1023 + 187) / 188 = 6;
    # cs_mask = 1 | ((1 << 8) - 1) << 10 = 0x3fc01; bandwidth (1 + 21) / 1
    "fs-in-1023": ((Speed.FULL, 0x81, 1023, 1, 1),
                   (1, 21, 807, 1, 1, 8, 0x3FC01, 8, 1023, 22)),
    # FS IN 192: c_usecs 5, usecs 1, tt_usecs NS_TO_US(666 + 158230) = 159;
    # hs_transfers = 379 / 188 = 2 -> cs_mask 1 | 0xf << 10 = 0x3c01
    "fs-in-192": ((Speed.FULL, 0x81, 192, 1, 1),
                  (1, 5, 159, 1, 1, 8, 0x3C01, 8, 192, 6)),
    # bInterval 4, interval 8 frames: bw_period min(min(8, 1 << 3), 8) = 8; uperiod 64;
    # bandwidth (1 + 5) / 8 = 0
    "fs-in-192-interval-8": ((Speed.FULL, 0x81, 192, 4, 8),
                             (1, 5, 159, 8, 8, 64, 0x3C01, 64, 192, 0)),
    # FS OUT 376: usecs HS_USECS_ISO(376) = 8, no complete split;
    # tt_usecs NS_TO_US(666 + 300665) = 302; hs_transfers = 563 / 188 = 2 ->
    # smask_out[1] = 0x03
    "fs-out-376": ((Speed.FULL, 0x02, 376, 1, 1),
                   (8, 0, 302, 1, 1, 8, 0x03, 8, 376, 8)),
}


@pytest.mark.parametrize("case", list(ISO_CASES))
def test_iso_params_are_iso_stream_inits(case: str) -> None:
    (speed, ep, maxp, binterval, interval), expected = ISO_CASES[case]
    params = iso_params("1-1.1", ep, speed, maxp, binterval, interval,
                        0 if speed == Speed.HIGH else THINK)
    ps = params.ps
    assert (ps.usecs, ps.c_usecs, ps.tt_usecs, ps.period, ps.bw_period, ps.bw_uperiod,
            ps.cs_mask, params.uperiod, params.maxp, params.bandwidth) == expected
    assert params.highspeed == (speed == Speed.HIGH)
    assert not ps.scheduled


def iso(bw: Bandwidth, case: str, tt: EhciTT | None = None) -> tuple[PerSched, int]:
    (speed, ep, maxp, binterval, interval), _ = ISO_CASES[case]
    params = iso_params("1-1.1", ep, speed, maxp, binterval, interval,
                        tt.think_time if tt is not None else 0)
    params.ps.tt = tt
    return params.ps, bw.iso_schedule(params.ps, params.uperiod, params.highspeed)


def test_high_speed_streams_fill_late_microframes_first() -> None:
    bw = Bandwidth()
    # start = (-1 << 3) & 7 = 0; the search runs 7, 6, ... 0: uframe 7 fits
    streams = [iso(bw, "hs-in-1024-interval-8") for _ in range(5)]
    assert [start for _, start in streams] == [7, 7, 7, 7, 6]
    assert bw.random_frame == 5
    ps = streams[0][0]
    assert (ps.phase, ps.bw_phase, ps.phase_uf) == (0, 0, 7)
    # four times 21 = 84 in uframe 7; the fifth (84 > 100 - 21) goes to uframe 6
    assert bw.bandwidth == every_frame([0, 0, 0, 0, 0, 0, 21, 84])
    for ps, _ in streams:
        bw.reserve_release_iso(ps, -1, True)
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE


def test_a_slow_high_speed_stream_starts_from_the_rotated_frame() -> None:
    bw = Bandwidth()
    ps, start = iso(bw, "hs-in-1024-interval-64")
    # start = (-1 << 3) & 63 = 56; first try 56 + 64 - 1 = 119 (uframe 119 & 63 = 55);
    # phase = (119 >> 3) & 7 = 6, bw_phase 6 (bw_period 0), phase_uf 7
    assert start == 119
    assert (ps.phase, ps.bw_phase, ps.phase_uf) == (6, 6, 7)
    assert [u for u, v in enumerate(bw.bandwidth) if v] == [55]
    assert bw.bandwidth[55] == 21


def test_a_second_high_bandwidth_stream_every_microframe_is_iso_sched_full() -> None:
    bw = Bandwidth()
    first, start = iso(bw, "hs-in-3x1024-interval-1")
    assert start == 0 and first.phase_uf == 0
    assert bw.bandwidth == [61] * EHCI_BANDWIDTH_SIZE
    second, start = iso(bw, "hs-in-3x1024-interval-1")
    assert start == -Errno.ENOSPC and not second.scheduled
    assert bw.bandwidth == [61] * EHCI_BANDWIDTH_SIZE


def test_a_full_speed_in_stream_splits_through_its_tt() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    ps, start = iso(bw, "fs-in-192", tt)
    # uframes 7 and 6 are skipped; 5, 4, 3 would push the C-mask 0x3c00 past bit 15;
    # 2: S-mask 1 << 2, C-mask uframes 4..7 -> 0xf004
    assert start == 2
    assert (ps.phase, ps.bw_phase, ps.phase_uf, ps.cs_mask) == (0, 0, 2, 0xF004)
    assert bw.bandwidth == every_frame([0, 0, 1, 0, 5, 5, 5, 5])
    # 159 us: 125 in uframe 2, 34 carried into 3
    assert tt.bandwidth == [159] * 8
    assert Bandwidth.compute_tt_budget(tt) == every_frame([0, 0, 125, 34, 0, 0, 0, 0])
    bw.reserve_release_iso(ps, -1, False)
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE
    assert tt.bandwidth == [0] * 8 and tt.ps_list == []


def test_a_full_speed_out_stream_longer_than_a_microframe_needs_empty_ones() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    ps, start = iso(bw, "fs-out-376", tt)
    # 302 us from uframe 5 or 4 spills past uframe 6's 30 us into uframe 7; from 3:
    # 125 + 125 + 52
    assert start == 3
    assert (ps.phase_uf, ps.cs_mask) == (3, 0x18)
    assert bw.bandwidth == every_frame([0, 0, 0, 8, 8, 0, 0, 0])
    assert Bandwidth.compute_tt_budget(tt) == every_frame([0, 0, 0, 125, 125, 52, 0, 0])
    assert tt.bandwidth == [302] * 8


def test_a_full_size_full_speed_in_stream_cannot_fit() -> None:
    bw = Bandwidth()
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    # six transfers need complete splits in uframes 2..9: the C-mask wraps into the next
    # frame from every start, so sitd_slot_ok refuses all of them
    ps, start = iso(bw, "fs-in-1023", tt)
    assert start == -Errno.ENOSPC
    assert not ps.scheduled and ps.cs_mask == 0x3FC01
    assert bw.bandwidth == [0] * EHCI_BANDWIDTH_SIZE
    assert tt.bandwidth == [0] * 8 and tt.ps_list == []


# -- the bandwidth file -----------------------------------------------------------------------


def test_bandwidth_text_is_fill_bandwidth_buffers() -> None:
    bw = Bandwidth()
    assert bw.qh_schedule(hs_intr("1-2", 0x81, 64, 4, 8)) == 0
    tt = bw.find_tt(Hub(), "1-1", False, 1, THINK)
    ps = tt_intr(bw, tt, "1-1.1", 0x81, Speed.FULL, 64, 10, 8)
    assert bw.qh_schedule(ps) == 0
    zero = "   0   0   0   0   0   0   0   0\n"
    assert bw.text(describe) == (
        "HS bandwidth allocation (us per microframe)\n"
        " 0:    3   0   0   0   0   0   0   0\n"
        " 8:    3   0   0   0   0   0   0   0\n"
        "16:    4   0   4   4   4   0   0   0\n"
        "24:    3   0   0   0   0   0   0   0\n"
        "32:    3   0   0   0   0   0   0   0\n"
        "40:    3   0   0   0   0   0   0   0\n"
        "48:    3   0   0   0   0   0   0   0\n"
        "56:    3   0   0   0   0   0   0   0\n"
        "\n"
        "TT 1-1 port 0  FS/LS bandwidth allocation (us per frame)\n"
        "      0    0   61    0    0    0    0    0\n"
        "FS/LS budget (us per microframe)\n"
        " 0: " + zero +
        " 8: " + zero +
        "16:   61   0   0   0   0   0   0   0\n"
        "24: " + zero +
        "32: " + zero +
        "40: " + zero +
        "48: " + zero +
        "56: " + zero +
        "1-1.1 ep 81:    61 @  2.0+8 mask 1c01\n")


def test_bandwidth_text_numbers_the_ports_of_a_multi_tt_hub_from_one() -> None:
    bw = Bandwidth()
    hub = Hub()
    tt = bw.find_tt(hub, "1-1", True, 3, THINK)
    ps = tt_intr(bw, tt, "1-1.3", 0x81, Speed.LOW, 8, 1, 1)
    assert bw.qh_schedule(ps) == 0
    text = bw.text(describe)
    assert "\nTT 1-1 port 3  FS/LS bandwidth allocation (us per frame)\n" \
           "    119  119  119  119  119  119  119  119\n" in text
    assert text.endswith("1-1.3 ep 81:   119 @  0.0+1 mask 1c01\n")


def test_empty_bandwidth_text() -> None:
    assert Bandwidth().text(describe) == (
        "HS bandwidth allocation (us per microframe)\n"
        + "".join(f"{i:2d}:    0   0   0   0   0   0   0   0\n" for i in range(0, 64, 8)))


# -- the periodic frame list ------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    """A frame-list entry: an interrupt QH ("qh"), an iTD or an siTD."""

    node_kind: str
    node_period: int
    name: str

    def describe(self, first: bool) -> str:
        head = f" {self.node_kind}{self.node_period}-{self.name}"
        return head + " (ep)" if first and self.node_kind == "qh" else head


def qh(period: int, name: str) -> Node:
    return Node("qh", period, name)


def names(chain: Iterable[PeriodicNode]) -> str:
    nodes = list(chain)
    mine = [node for node in nodes if isinstance(node, Node)]
    assert len(mine) == len(nodes)
    return " ".join(node.name for node in mine)


def small_schedule() -> tuple[FrameList, dict[str, Node]]:
    frames = FrameList(8)
    nodes = {"A": qh(4, "A"), "B": qh(1, "B"), "C": qh(0, "C"), "D": qh(2, "D"),
             "E": qh(4, "E"), "X": Node("itd", 0, "X"), "S": Node("sitd", 0, "S")}
    for name in "ABCD":
        frames.link_qh(nodes[name], 0)
    frames.link_td(0, nodes["X"])
    frames.link_td(0, nodes["S"])
    frames.link_qh(nodes["E"], 1)
    return frames, nodes


def test_qhs_are_sorted_slow_to_fast_after_the_isochronous_descriptors() -> None:
    frames, nodes = small_schedule()
    chains = [names(chain) for chain in frames.frames]
    # A every 4 frames, B every frame, C every microframe (period 0), D every 2, E every
    # 4 from frame 1; the siTD went to the head, the iTD after it, ahead of the QHs
    assert chains == ["S X A D B C", "E B C", "D B C", "B C",
                      "A D B C", "E B C", "D B C", "B C"]
    # interior nodes are shared: B and C are the same object in every frame
    assert all(chain[-1] is nodes["C"] for chain in frames.frames)


def test_a_qh_goes_after_others_of_its_period_and_is_linked_once() -> None:
    frames, _ = small_schedule()
    f = qh(4, "F")
    frames.link_qh(f, 0)
    frames.link_qh(f, 0)
    assert names(frames.frames[0]) == "S X A F D B C"
    assert names(frames.frames[4]) == "A F D B C"


def test_itds_follow_the_isochronous_descriptors_and_sitds_go_to_the_head() -> None:
    frames = FrameList(8)
    a = qh(1, "A")
    frames.link_qh(a, 0)
    i1, i2, s1 = Node("itd", 0, "i1"), Node("itd", 0, "i2"), Node("sitd", 0, "s1")
    frames.link_td(8 + 2, i1)          # frame numbers wrap at the list size
    frames.link_td(2, s1)
    frames.link_td(2, i2)
    assert names(frames.frames[2]) == "s1 i1 i2 A"
    frames.unlink_td(2, i1)
    assert names(frames.frames[2]) == "s1 i2 A"


def test_unlink_takes_a_node_out_of_every_frame() -> None:
    frames, nodes = small_schedule()
    frames.unlink(nodes["D"])
    chains = [names(chain) for chain in frames.frames]
    assert chains == ["S X A B C", "E B C", "B C", "B C", "A B C", "E B C", "B C", "B C"]
    assert sorted(names(frames.nodes()).split()) == ["A", "B", "C", "E", "S", "X"]


def test_periodic_text_is_fill_periodic_buffers() -> None:
    frames, _ = small_schedule()
    # each QH in full the first time; a QH seen before gets " ..." when more follow it
    assert frames.text() == (
        "size = 8\n"
        "   0:  sitd0-S itd0-X qh4-A (ep) qh2-D (ep) qh1-B (ep) qh0-C (ep)\n"
        "   1:  qh4-E (ep) qh1-B ... qh0-C\n"
        "   2:  qh2-D ... qh1-B ... qh0-C\n"
        "   3:  qh1-B ... qh0-C\n"
        "   4:  qh4-A ... qh2-D ... qh1-B ... qh0-C\n"
        "   5:  qh4-E ... qh1-B ... qh0-C\n"
        "   6:  qh2-D ... qh1-B ... qh0-C\n"
        "   7:  qh1-B ... qh0-C\n")


def test_an_empty_frame_list_shows_its_size_only() -> None:
    assert FrameList().size == DEFAULT_I_TDPS == 1024
    assert FrameList().text() == "size = 1024\n"
    frames = FrameList()
    frames.link_qh(qh(512, "A"), 3)
    assert frames.text() == "size = 1024\n   3:  qh512-A (ep)\n 515:  qh512-A\n"


def test_periodic_text_remembers_sixty_four_qhs() -> None:
    # DBG_SCHED_LIMIT: a QH beyond the first 64 is shown in full every time
    frames = FrameList(2)
    qhs = [qh(1, f"n{i}") for i in range(65)]
    for node in qhs:
        frames.link_qh(node, 0)
    line1 = frames.text().splitlines()[2]
    assert line1 == "   1: " + "".join(f" qh1-n{i} ..." for i in range(64)) + " qh1-n64 (ep)"
