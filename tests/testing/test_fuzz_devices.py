"""The device fuzzing harness (usbemu.testing.fuzz): hostile descriptor sets and behaviours
enumerated behind a hub next to a witness.  Whatever the device does, nothing escapes the
stack, the machine settles, the device is rejected or (partly) configured with the
messages Linux's config.c and hub.c log for it, the witness keeps answering and the
unplug leaves nothing behind.

`make test` runs a fixed, repeatable set of FUZZ_EXAMPLES random devices (the count is
printed: `pytest -s`); `make fuzz` runs many more, new ones each time
(USBEMU_HYPOTHESIS=fuzz, USBEMU_FUZZ_EXAMPLES); `make fuzz-devices` runs a campaign.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from usbemu.core.devtable import usb_device
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.usb import UsbInterface
from usbemu.emulated.endpoint import Outcome as Handshake
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.system import System
from usbemu.testing import control_in, enumerate_model, fuzz, pull
from usbemu.testing.fuzz import (
    HOSTILE_PORT,
    Action,
    Fault,
    FuzzCase,
    HostileDevice,
    Outcome,
    Target,
    fuzz_cases,
    fuzz_machine,
    fuzz_one,
    main,
    minimise,
    replay,
    run_campaign,
    seed_cases,
)

FUZZ_EXAMPLES = int(os.environ.get("USBEMU_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

pytestmark = [pytest.mark.usefixtures("hang_guard"),
              pytest.mark.hang_guard_s(60 + FUZZ_EXAMPLES)]

VID, PID = 0x1234, 0x4321


@pytest.fixture
def machine() -> Iterator[System]:
    system = fuzz_machine()
    try:
        yield system
    finally:
        system.close()


# -- descriptors, one field per line ---------------------------------------------------------------


def device(*, bMaxPacketSize0: int = 64, bNumConfigurations: int = 1) -> bytes:
    return bytes((
        18, 0x01,            # bLength, bDescriptorType DEVICE
        0x00, 0x02,          # bcdUSB 2.00
        0x00, 0x00, 0x00,    # class, subclass, protocol: per interface
        bMaxPacketSize0,
        0x34, 0x12,          # idVendor 0x1234
        0x21, 0x43,          # idProduct 0x4321
        0x00, 0x01,          # bcdDevice 1.00
        0, 0, 0,             # no strings
        bNumConfigurations,
    ))


def config(*body: bytes, bNumInterfaces: int = 1, bConfigurationValue: int = 1,
           bDescriptorType: int = 0x02) -> bytes:
    rest = b"".join(body)
    total = 9 + len(rest)
    return bytes((
        9, bDescriptorType,
        total & 0xFF, total >> 8,   # wTotalLength
        bNumInterfaces,
        bConfigurationValue,
        0,                          # iConfiguration
        0x80,                       # bmAttributes: bus powered
        50,                         # bMaxPower 100 mA
    )) + rest


def interface(number: int = 0, *, endpoints: int = 1) -> bytes:
    return bytes((9, 0x04, number, 0, endpoints, 0xFF, 0, 0, 0))   # vendor class


def endpoint(address: int, attributes: int, maxpacket: int, interval: int) -> bytes:
    return bytes((7, 0x05, address, attributes, maxpacket & 0xFF, maxpacket >> 8, interval))


BULK, INT = 0x02, 0x03
GOOD = config(interface(), endpoint(0x81, BULK, 512, 0))


def run(machine: System, case: FuzzCase) -> Outcome:
    outcome = fuzz_one(machine, case)
    assert outcome.ok, outcome.failures
    return outcome


def device_lines(outcome: Outcome) -> list[str]:
    """The case's log without the device prefix ("usb 1-1.2: ")."""
    prefix = f"usb {HOSTILE_PORT}: "
    return [line.removeprefix(prefix) for line in outcome.log]


# -- random devices --------------------------------------------------------------------------------


def test_hostile_devices_follow_the_rule() -> None:
    seen: Counter[str] = Counter()
    holder = [fuzz_machine()]

    @FUZZ
    @given(case=fuzz_cases())
    def one(case: FuzzCase) -> None:
        outcome = fuzz_one(holder[0], case)
        seen[outcome.verdict] += 1
        if not outcome.ok:    # a broken machine is not reused while hypothesis shrinks
            holder[0].close()
            holder[0] = fuzz_machine()
        assert outcome.ok, (outcome.failures, case.to_json(), outcome.log[-30:])

    try:
        one()
    finally:
        holder[0].close()
    total = sum(seen.values())
    print(f"\nfuzz_one: {total} hostile devices enumerated, none broke the rule "
          f"({', '.join(f'{v} {k}' for k, v in sorted(seen.items()))})")
    assert total >= min(FUZZ_EXAMPLES, 10)
    assert {"configured", "rejected"} <= set(seen)


@FUZZ
@given(case=fuzz_cases())
def test_a_case_survives_its_json(case: FuzzCase) -> None:
    assert FuzzCase.from_json(json.loads(json.dumps(case.to_json()))) == case


def test_every_built_in_model_enumerates_as_a_hostile_device(machine: System) -> None:
    assert len(seed_cases()) >= 10
    for case in seed_cases():
        assert run(machine, case).verdict == "configured", case.to_json()


# -- config.c's messages for hostile configurations ---------------------------------------------

#: Linux 6.12's log of a syzbot device (full speed, dummy_hcd), from the console log of a
#: syzbot report: config 0 with interface 189, an endpoint-zero descriptor, reserved
#: address bits, an absurd maxpacket and a zero one, one endpoint more than declared.
SYZBOT_LINES = [
    "config 0 has an invalid interface number: 189 but max is 0",
    "config 0 has no interface number 0",
    "config 0 interface 189 altsetting 0 has an invalid descriptor for endpoint zero, skipping",
    "config 0 interface 189 altsetting 0 has an endpoint descriptor with address 0xE3, "
    "changing to 0x83",
    "config 0 interface 189 altsetting 0 endpoint 0x83 has invalid maxpacket 33307, "
    "setting to 64",
    "config 0 interface 189 altsetting 0 endpoint 0xB has invalid wMaxPacketSize 0",
    "config 0 interface 189 altsetting 0 has 3 endpoint descriptors, different from the "
    "interface descriptor's value: 2",
    "New USB device found, idVendor=1234, idProduct=4321, bcdDevice= 1.00",
    "New USB device strings: Mfr=0, Product=0, SerialNumber=0",
]


def test_a_syzbot_device_is_logged_as_linux_logged_it(machine: System) -> None:
    syzbot = config(bytes((9, 0x04, 189, 0, 2, 0xFF, 0, 0, 0)),
                    endpoint(0x00, INT, 8, 1),
                    endpoint(0xE3, INT, 33307, 1),
                    endpoint(0x0B, BULK, 0, 0),
                    bConfigurationValue=0)
    outcome = run(machine, FuzzCase(device(), (syzbot,), speed=Speed.FULL))
    lines = device_lines(outcome)
    assert lines[0] == "new full-speed USB device number 4 using ehci-pci"
    assert lines[1:1 + len(SYZBOT_LINES)] == SYZBOT_LINES
    assert "config 0 descriptor??" in lines      # usb_set_configuration of value 0
    assert outcome.verdict == "configured"


CONFIG_CASES: list[tuple[str, FuzzCase, list[str], str]] = [
    ("no configurations", FuzzCase(device(bNumConfigurations=0), (GOOD,)),
     ["no configurations", "can't read configurations, error -22"], "rejected"),
    ("too many configurations", FuzzCase(device(bNumConfigurations=9), (GOOD,) * 9),
     ["too many configurations: 9, using maximum allowed: 8"], "configured"),
    ("config read stalls", FuzzCase(device(), (GOOD,),
                                    faults=(Fault(Target.CONFIG, Action.STALL),)),
     ["unable to read config index 0 descriptor/start: -32", "chopping to 0 config(s)",
      "can't read configurations, error -32"], "rejected"),
    ("wrong bDescriptorType", FuzzCase(device(), (config(interface(), bDescriptorType=4),)),
     ["unable to read config index 0 descriptor/start: -61",
      "can't read configurations, error -61"], "rejected"),
    ("wTotalLength longer than the answer",
     FuzzCase(device(), (GOOD,), faults=(Fault(Target.CONFIG, Action.SHORT, 2, 20),)),
     ["config index 0 descriptor too short (expected 25, got 20)",
      "config 1 has an invalid descriptor of length 7, skipping remainder of the config",
      "config 1 interface 0 altsetting 0 has 0 endpoint descriptors, different from the "
      "interface descriptor's value: 1"], "configured"),
    ("too many interfaces", FuzzCase(device(), (config(interface(), bNumInterfaces=33),)),
     ["config 1 has too many interfaces: 33, using maximum allowed: 32",
      "config 1 interface 0 altsetting 0 has 0 endpoint descriptors, different from the "
      "interface descriptor's value: 1",
      "config 1 has 1 interface, different from the descriptor's value: 33"], "configured"),
    ("duplicate endpoint and zero interval",
     FuzzCase(device(), (config(interface(endpoints=2), endpoint(0x81, INT, 64, 0),
                                endpoint(0x81, BULK, 512, 0)),)),
     ["config 1 interface 0 altsetting 0 endpoint 0x81 has an invalid bInterval 0, "
      "changing to 7",
      "config 1 interface 0 altsetting 0 has a duplicate endpoint with address 0x81, "
      "skipping"], "configured"),
    ("low-speed bulk", FuzzCase(device(bMaxPacketSize0=8),
                                (config(interface(), endpoint(0x81, BULK, 64, 0)),),
                                speed=Speed.LOW),
     ["config 1 interface 0 altsetting 0 endpoint 0x81 is Bulk; changing to Interrupt"],
     "configured"),
    ("device descriptor babbles", FuzzCase(device(), (GOOD,),
                                           faults=(Fault(Target.DEVICE, Action.BABBLE),)),
     ["device descriptor read/all, error -75"], "rejected"),
    ("invalid ep0 maxpacket", FuzzCase(device(bMaxPacketSize0=7), (GOOD,), speed=Speed.FULL),
     ["device descriptor read/64, error -71", "device descriptor read/8, error -71"],
     "rejected"),
]


@pytest.mark.parametrize(("case", "expected", "verdict"),
                         [pytest.param(c, e, v, id=name) for name, c, e, v in CONFIG_CASES])
def test_hostile_configurations_get_linux_messages(machine: System, case: FuzzCase,
                                                    expected: list[str], verdict: str) -> None:
    outcome = run(machine, case)
    lines = device_lines(outcome)
    assert [line for line in lines if line in expected] == [
        line for line in lines if line in set(expected)]
    for line in expected:
        assert line in lines, (line, lines)
    assert outcome.verdict == verdict
    if verdict == "rejected":
        assert "usb 1-1-port2: unable to enumerate USB device" in outcome.log
        assert sum(line.startswith("new ") for line in lines) == 4   # four attempts


def test_a_stick_that_comes_back_changed_after_each_reset_is_re_enumerated(
        machine: System) -> None:
    """Campaign seed 1, case 21546, minimised by hand: bNumConfigurations 9 (Linux keeps 8),
    a Bulk-Only interface whose endpoints never answer.  usb-storage's scan times out and
    resets the device; the device descriptor read after the reset says 9 configurations,
    the stored one 8, so hub.c sees "device firmware changed" and enumerates it anew — for
    as long as it is plugged in, in Linux too.  Not a hang; the witness keeps answering."""
    stick = config(bytes((9, 0x04, 0, 0, 2, 0x08, 0x06, 0x50, 0)),   # mass storage, BBB
                   endpoint(0x81, BULK, 512, 0),
                   endpoint(0x02, BULK, 512, 0))
    outcome = run(machine, FuzzCase(device(bNumConfigurations=9), (stick,) * 9))
    assert outcome.verdict == "re-enumerating"
    lines = device_lines(outcome)
    cycle = ["too many configurations: 9, using maximum allowed: 8",
             "New USB device found, idVendor=1234, idProduct=4321, bcdDevice= 1.00",
             "New USB device strings: Mfr=0, Product=0, SerialNumber=0",
             "usb-storage 1-1.2:1.0: USB Mass Storage device detected",
             "scsi host0: usb-storage 1-1.2:1.0",
             "reset high-speed USB device number 5 using ehci-pci",
             "device firmware changed",
             "USB disconnect, device number 5"]
    start = lines.index("new high-speed USB device number 5 using ehci-pci") + 1
    assert lines[start:lines.index("USB disconnect, device number 5") + 1] == cycle
    assert lines.count("device firmware changed") > 10


def test_a_multi_tt_hub_whose_tt_altsetting_lacks_the_status_endpoint(machine: System) -> None:
    """Campaign seed 20, case 33503, minimised by hand: a multi-TT hub (bDeviceProtocol 2)
    whose altsetting 1 has no endpoint.  hub_probe checks altsetting 0; hub_configure's
    SET_INTERFACE for "TT per port" selects altsetting 1; the status URB is built from the
    endpoint probe found, as hub.c passes it, and its submission fails -ENOENT — the hub
    has no status endpoint any more.  It raised IndexError in probe before."""
    hub = bytearray(device())
    hub[4:7] = bytes((0x09, 0x00, 0x02))                 # hub class, multi-TT protocol
    tt_hub = config(bytes((9, 0x04, 0, 0, 1, 0x09, 0, 0, 0)),    # altsetting 0: hub
                    endpoint(0x81, INT, 1, 12),
                    bytes((9, 0x04, 0, 1, 0, 0x09, 0, 0, 0)))    # altsetting 1: none
    hub_descriptor = bytes((9, 0x29, 2, 0, 0, 50, 0, 0, 0xFF))   # 2 ports
    outcome = run(machine, FuzzCase(bytes(hub), (tt_hub,), class_reply=hub_descriptor))
    assert outcome.verdict == "configured"
    assert f"hub {HOSTILE_PORT}:1.0: 2 ports detected" in outcome.log
    assert f"hub {HOSTILE_PORT}:1.0: activate --> -2" in outcome.log
    assert not [line for line in outcome.log if "BUG" in line or "Traceback" in line]


def test_a_hub_whose_status_endpoint_keeps_failing_is_reset_again_and_again(
        machine: System) -> None:
    """Campaign seed 21, case 20467, minimised by hand: a hub whose only configuration is
    numbered 0.  Linux sets it ("config 0 descriptor??"), which to the device means
    unconfigured, so the status endpoint never answers; after ten errors in a row hub_wq
    resets the hub, which comes back the same — for as long as it is plugged in, in Linux
    too.  Not a hang: the verdict is "resetting", and the witness keeps answering."""
    hub = bytearray(device(bMaxPacketSize0=64))
    hub[4] = 0x09                                                # hub class
    numbered_0 = config(bytes((9, 0x04, 0, 0, 1, 0x09, 0, 0, 0)),
                        endpoint(0x81, INT, 1, 12), bConfigurationValue=0)
    hub_descriptor = bytes((9, 0x29, 1, 0, 0, 50, 0, 0, 0xFF))  # 1 port
    outcome = run(machine, FuzzCase(bytes(hub), (numbered_0,), class_reply=hub_descriptor,
                                    speed=Speed.FULL))
    assert outcome.verdict == "resetting"
    lines = device_lines(outcome)
    assert "config 0 descriptor??" in lines
    assert f"hub {HOSTILE_PORT}:0.0: USB hub found" in outcome.log
    assert sum(line.startswith("reset full-speed USB device number") for line in lines) > 10


# -- behaviours ------------------------------------------------------------------------------------


def test_a_device_that_leaves_during_enumeration_is_forgotten(machine: System) -> None:
    case = FuzzCase(device(), (GOOD,), faults=(Fault(Target.CONFIG, Action.DISCONNECT, 2),))
    outcome = run(machine, case)
    assert device_lines(outcome)[1:] == ["unable to read config index 0 descriptor/all",
                                         "can't read configurations, error -71"]
    assert outcome.verdict == "rejected"
    assert machine.find_device(HOSTILE_PORT) is None


def test_class_requests_get_the_class_reply_and_in_endpoints_the_in_data() -> None:
    case = FuzzCase(device(), (GOOD,), class_reply=b"\x01\x02\x03", in_data=b"junk")
    model = HostileDevice(case)
    enumerate_model(model)
    assert control_in(model, SetupPacket(0xC0, 0x01, 0, 0, 64)) == b"\x01\x02\x03"
    assert pull(model.endpoint(0x81), 512)[1] == b"junk"
    assert model.requests[Target.CLASS] == 1


def test_a_fault_on_the_nth_request_only() -> None:
    model = enumerate_model(HostileDevice(FuzzCase(
        device(), (GOOD,), faults=(Fault(Target.DEVICE, Action.STALL, nth=2),))),
        configuration=None)
    read = SetupPacket(0x80, 0x06, 0x0100, 0, 18)
    buf = memoryview(bytearray(18))
    assert model.control(read, dst=buf) == (Handshake.DONE, 18)
    assert model.control(read, dst=buf) == (Handshake.STALL, 0)
    assert model.control(read, dst=buf) == (Handshake.DONE, 18)


def test_the_nodes_a_hostile_device_gets_are_opened_and_survive_its_unplug(
        machine: System) -> None:
    ftdi = next(c for c in seed_cases() if c.device[8:12] == b"\x03\x04\x01\x60")
    acm = next(c for c in seed_cases() if c.device[8:12] == b"\x83\x04\x40\x57")
    for case, node in ((ftdi, "/dev/ttyUSB0"), (acm, "/dev/ttyACM0")):
        outcome = run(machine, replace(case, in_data=b"\xff" * 70))
        assert node in outcome.nodes, outcome.nodes
        assert any(n.startswith("/dev/bus/usb/001/") for n in outcome.nodes)
    left = [name for _, _, names in machine.vfs.walk("/dev") for name in names
            if name.startswith(("ttyUSB", "ttyACM"))]
    assert left == []


# -- the rule is checked ---------------------------------------------------------------------------


def test_an_oops_while_the_device_is_bound_breaks_the_rule(machine: System) -> None:
    async def probe(intf: UsbInterface, id: object) -> int:
        raise ZeroDivisionError("driver bug")

    driver = UsbDriver("clumsy", id_table=[usb_device(VID, PID)], probe=probe)
    machine.run(usb_register(machine.usb, driver))
    outcome = fuzz_one(machine, FuzzCase(device(), (GOOD,)))
    assert outcome.kind == "oops"
    assert "ZeroDivisionError: driver bug" in outcome.failures[0]


def test_fuzz_one_needs_the_witness() -> None:
    with System() as bare:
        bare.add_controller()
        with pytest.raises(ValueError, match="fuzz_machine"):
            fuzz_one(bare, FuzzCase(device(), (GOOD,)))


# -- minimising, campaigns, the command ------------------------------------------------------------


def test_minimise_keeps_only_what_the_failure_needs() -> None:
    case = FuzzCase(device(), (GOOD, GOOD), (b"\x04\x03\x09\x04", b"\x06\x03A\0B\0"),
                    bos=b"\x05\x0f\x05\x00\x00", class_reply=b"abc", in_data=b"xyz",
                    faults=(Fault(Target.STRING, Action.SHORT, 1, 3),
                            Fault(Target.CONFIG, Action.STALL)))

    def fails(candidate: FuzzCase) -> bool:
        return any(f.action is Action.STALL for f in candidate.faults)

    small = minimise(case, fails)
    assert small == FuzzCase(b"", faults=(Fault(Target.CONFIG, Action.STALL),),
                             speed=case.speed)


def test_every_controller_kind_takes_the_beating() -> None:
    kinds = ("ehci", "uhci", "ohci")
    report = run_campaign(6, seed=4, batch=2, kinds=kinds)
    assert (report.cases, report.failures) == (6, 0), report.summary()


def test_a_campaign_needs_a_controller_kind() -> None:
    with pytest.raises(ValueError, match="controller kind"):
        run_campaign(1, kinds=())


def test_a_campaign_reports_its_figures(tmp_path: Path) -> None:
    report = run_campaign(20, seed=3, out=tmp_path, batch=10)
    assert (report.cases, report.failures, report.repros) == (20, 0, [])
    assert sum(report.verdicts.values()) == 20
    assert report.summary().splitlines()[:2] == ["cases: 20", "failures: 0"]


class _NoMachine:
    """Stands in for a machine where the campaign's bookkeeping alone is tested."""

    def close(self) -> None:
        pass


def test_a_campaign_failure_is_minimised_into_a_repro_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def picky(system: object, case: FuzzCase) -> Outcome:
        return Outcome("configured", ["witness: pretend"] if case.faults else [])

    monkeypatch.setattr(fuzz, "fuzz_machine", lambda seed=None, kind="inproc": _NoMachine())
    monkeypatch.setattr(fuzz, "fuzz_one", picky)
    report = run_campaign(20, seed=1, out=tmp_path, batch=5)
    assert report.failures == report.kinds["witness"] == len(report.repros) > 0
    saved: dict[str, Any] = json.loads(Path(report.repros[0]).read_text())
    assert saved["failures"] == ["witness: pretend"]
    case = FuzzCase.from_json(saved["case"])
    assert case == FuzzCase(b"", faults=case.faults, speed=case.speed)
    assert len(case.faults) == 1
    monkeypatch.undo()
    assert replay(report.repros[0]).ok


def test_the_command_runs_a_campaign_and_replays(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cases", "6", "--seed", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cases: 6\nfailures: 0\ncases/s: ")
    repro = tmp_path / "case.json"
    repro.write_text(json.dumps({"case": FuzzCase(device(), (GOOD,)).to_json()}))
    assert main(["--replay", str(repro)]) == 0
    assert capsys.readouterr().out == "verdict: configured\nno failure\n"
