"""cli/stats and `usbemu stats`: a snapshot per bus with its heading, the one line for a
controller that keeps no statistics, the kind a controller is registered as, the text and
JSON forms, and --for running the machine."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from usbemu.cli.machine import MachineError, boot, plug
from usbemu.cli.main import main
from usbemu.cli.stats import BusStatistics, bus_statistics, controller_kind
from usbemu.host.ehci import EhciStats
from usbemu.host.inproc import InProcessHCD
from usbemu.system import System

FRAME_LINE = re.compile(r"^frame \d+, (\d+) microframes \(\d+\.\d{6} s\)$", re.MULTILINE)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def two_buses() -> Iterator[System]:
    """Bus 1: an EHCI controller with gadget zero at 1-1; bus 2: a UHCI controller."""
    system = boot(hcd="ehci")
    try:
        system.add_controller("uhci")
        plug(system, "zero")
        yield system
    finally:
        system.close()


# -- cli/stats ------------------------------------------------------------------------------------


def test_every_bus_in_order_with_its_driver_address_and_kind(two_buses: System) -> None:
    ehci, uhci = bus_statistics(two_buses)
    assert (ehci.busnum, ehci.driver, ehci.bus_name, ehci.kind) == (
        1, "ehci-pci", "0000:00:1d.0", "ehci")
    assert (uhci.busnum, uhci.driver, uhci.kind, uhci.statistics) == (
        2, "uhci_hcd", "uhci", None)
    assert isinstance(ehci.statistics, EhciStats)


def test_the_ehci_text_is_the_heading_then_the_snapshot(two_buses: System) -> None:
    ehci, uhci = bus_statistics(two_buses)
    assert ehci.statistics is not None
    assert ehci.text() == "Bus 001: ehci-pci 0000:00:1d.0\n" + ehci.statistics.text()
    assert uhci.text() == (f"Bus 002: uhci_hcd {uhci.bus_name}: no schedule statistics "
                           "(controller kind uhci)\n")


def test_one_bus_or_a_bus_the_machine_does_not_have(two_buses: System) -> None:
    assert [bus.busnum for bus in bus_statistics(two_buses, 2)] == [2]
    with pytest.raises(MachineError, match=r"^no bus 3; the machine's buses: 1, 2$"):
        bus_statistics(two_buses, 3)


def test_a_machine_without_buses_names_none() -> None:
    system = boot(controllers=0)
    try:
        assert bus_statistics(system) == []
        with pytest.raises(MachineError, match="the machine's buses: none"):
            bus_statistics(system, 1)
    finally:
        system.close()


def test_the_snapshot_is_taken_now(two_buses: System) -> None:
    before = bus_statistics(two_buses, 1)[0].statistics
    two_buses.sleep(250)
    after = bus_statistics(two_buses, 1)[0].statistics
    assert before is not None and after is not None
    assert after.uframes - before.uframes == 2000


def test_as_dict_is_the_bus_then_the_snapshot_fields(two_buses: System) -> None:
    ehci, uhci = (bus.as_dict() for bus in bus_statistics(two_buses))
    assert list(ehci) == ["bus", "driver", "bus_name", "kind", "frame_number", "uframes",
                          "lanes", "endpoints"]
    assert list(uhci) == list(ehci)
    assert {key: uhci[key] for key in ("frame_number", "uframes", "lanes", "endpoints")} == (
        dict.fromkeys(("frame_number", "uframes", "lanes", "endpoints")))
    endpoints = ehci["endpoints"]
    assert isinstance(endpoints, tuple)
    assert endpoints[0]["device"] == "1-1" and endpoints[0]["type"] == "control"


class _Unregistered(InProcessHCD):
    """A controller class no kind is registered for."""


def test_the_kind_is_the_registered_name_or_the_class_name() -> None:
    system = boot(controllers=0)
    try:
        inproc = system.add_controller("inproc")
        other = system.add_controller(_Unregistered)
        assert (controller_kind(inproc), controller_kind(other)) == ("inproc", "_Unregistered")
        assert bus_statistics(system, 2)[0].text().endswith(
            ": no schedule statistics (controller kind _Unregistered)\n")
    finally:
        system.close()


def test_bus_statistics_is_frozen() -> None:
    bus = BusStatistics(1, "ehci-pci", "0000:00:1d.0", "inproc", None)
    with pytest.raises(AttributeError):
        bus.busnum = 2  # type: ignore[misc]


# -- usbemu stats ---------------------------------------------------------------------------------


def test_stats_prints_the_bus_and_frame_lines() -> None:
    code, out = invoke("stats", "--hcd", "ehci", "--plug", "zero", "--for", "0.5")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "Bus 001: ehci-pci 0000:00:1d.0"
    assert FRAME_LINE.match(lines[1])
    assert lines[2].startswith("high-speed: ")
    assert re.match(r"1-1 ep 00 control +\d+ bytes +\d+ transactions +0 NAKs +\d+ URBs ",
                    lines[3])


def _uframes(*args: str) -> int:
    code, out = invoke("stats", "--hcd", "ehci", *args)
    assert code == 0, out
    found = FRAME_LINE.search(out)
    assert found is not None, out
    return int(found[1])


def test_for_runs_that_much_machine_time_one_second_by_default() -> None:
    half = _uframes("--for", "0.5")       # the machine boots between two microframes
    assert abs(_uframes() - half - 4000) <= 1
    assert abs(_uframes("--for", "2") - half - 12000) <= 1


def test_stats_json_parses_into_the_buses() -> None:
    code, out = invoke("stats", "--hcd", "ehci", "--plug", "zero", "--for", "0.5", "--json")
    assert code == 0, out
    (bus,) = json.loads(out)
    assert {key: bus[key] for key in ("bus", "driver", "bus_name", "kind")} == {
        "bus": 1, "driver": "ehci-pci", "bus_name": "0000:00:1d.0", "kind": "ehci"}
    assert bus["uframes"] >= 4000 and 0 <= bus["frame_number"] < 1024
    assert bus["lanes"][0]["name"] == "high-speed" and len(bus["lanes"][0]["recent"]) == 64
    assert [(ep["device"], ep["endpoint"], ep["type"]) for ep in bus["endpoints"]] == [
        ("1-1", 0, "control")]


def test_stats_on_an_inproc_machine_says_it_keeps_none() -> None:
    assert invoke("stats", "--plug", "zero") == (
        0, "Bus 001: ehci-pci 0000:00:1d.0: no schedule statistics (controller kind "
           "inproc)\n")
    code, out = invoke("stats", "--json")
    assert code == 0 and json.loads(out) == [
        {"bus": 1, "driver": "ehci-pci", "bus_name": "0000:00:1d.0", "kind": "inproc",
         "frame_number": None, "uframes": None, "lanes": None, "endpoints": None}]


@pytest.mark.parametrize(("value", "message"), [
    ("0", "Invalid value for '--for': 0.0 is not in the range 0<x<=2592000."),
    ("-1", "Invalid value for '--for': -1.0 is not in the range 0<x<=2592000."),
    ("3000000", "Invalid value for '--for': 3000000.0 is not in the range 0<x<=2592000."),
    ("soon", "Invalid value for '--for': 'soon' is not a valid float range."),
])
def test_a_bad_for_is_one_line(value: str, message: str) -> None:
    code, out = invoke("stats", "--for", value)
    assert (code, out) == (2, f"usbemu: error: {message}\n")
