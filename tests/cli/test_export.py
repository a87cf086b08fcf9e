"""`usbemu export`: the models plugged in and exported with their lines, the kernel log as
it goes, a client importing a device while the command serves, and the one-line
mistakes."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from click.testing import CliRunner

from usbemu.bridges.usbip.protocol import OpRepDevlist, OpReqDevlist, Role, UsbipConnection
from usbemu.cli.export import parse_exports, run_export
from usbemu.cli.machine import boot
from usbemu.cli.main import main
from usbemu.cli.usage import CommandError


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def devlist(port: int) -> OpRepDevlist:
    """OP_REQ_DEVLIST to 127.0.0.1:PORT, from a loop of its own."""
    async def ask() -> OpRepDevlist:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = UsbipConnection(Role.CLIENT)
        writer.write(conn.send(OpReqDevlist()))
        while (event := conn.next_event()) is None:
            conn.receive_data(await reader.read(65536))
        writer.close()
        assert isinstance(event, OpRepDevlist)
        return event
    return asyncio.run(asyncio.wait_for(ask(), 5))


@pytest.mark.hang_guard_s(60)
def test_export_prints_the_bus_ids_the_address_and_the_kernel_log() -> None:
    code, out = invoke("export", "zero", "zero loopdefault=true at 1-4", "--port", "0",
                       "--for", "1")
    assert code == 0, out
    lines = out.splitlines()
    assert "exporting 1-1: zero (0525:a4a0)" in lines
    assert "exporting 1-4: zero loopdefault=true at 1-4 (0525:a4a0)" in lines
    assert any(re.fullmatch(r"usbipd listening on 127\.0\.0\.1:\d+", line) for line in lines)
    assert any(line.endswith("] usbip-host 1-4: usbip-host: register new device (bus 1 dev 3)")
               for line in lines)


@pytest.mark.hang_guard_s(60)
def test_a_client_sees_the_exported_devices_while_export_serves() -> None:
    lines: list[str] = []
    listed: list[OpRepDevlist] = []

    def client() -> None:
        for _ in range(500):
            found = [re.search(r"listening on 127\.0\.0\.1:(\d+)", line) for line in lines]
            port = next((int(m.group(1)) for m in found if m is not None), None)
            if port is not None:
                listed.append(devlist(port))
                return
            threading.Event().wait(0.02)

    talker = threading.Thread(target=client)
    talker.start()
    with boot(real_time=True) as system:
        run_export(system, parse_exports(["zero", "zero pattern=1"], []), "127.0.0.1", 0,
                   2.0, lines.append)
    talker.join()
    (reply,) = listed
    assert sorted(d.busid for d in reply.devices) == ["1-1", "1-2"]
    assert any(line.endswith("] usbip-host 1-2: usbip-host: register new device "
                             "(bus 1 dev 3)") for line in lines)


def test_the_i_th_at_places_the_i_th_model() -> None:
    first, second = parse_exports(["zero", "pendrive serial=x"], ["1-3"])
    assert (first.spec, first.port) == ("zero", "1-3")
    assert (second.spec, second.options, second.port) == ("pendrive", {"serial": "x"}, None)


@pytest.mark.parametrize(("models", "ats", "message"), [
    ((), (), "export: nothing to export; give a MODEL, e.g. zero or 'pendrive storage=memory'"),
    (("zero",), ("1-1", "1-2"), "export: 2 --at for 1 MODEL(s); give at most one --at per "
                                "model, in the models' order"),
    (("zero at 1-2",), ("1-1",), "export 'zero at 1-2': a port is given twice, with 'at' and "
                                 "with --at 1-1"),
])
def test_parse_mistakes(models: tuple[str, ...], ats: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_exports(models, ats)
    assert info.value.format_message() == message


def test_mistakes_are_one_line() -> None:
    code, out = invoke("export", "nosuchmodel", "--port", "0", "--for", "1")
    assert code == 2 and out.startswith("usbemu: error: export 'nosuchmodel': ")
    assert out.count("\n") == 1
    code, out = invoke("export", "--port", "0")
    assert code == 2 and out.startswith("usbemu: error: ")


@pytest.mark.hang_guard_s(60)
def test_a_mass_storage_model_is_exported_before_usb_storage_scans_it() -> None:
    """`usbip bind` takes the device once it is enumerated: usb-storage, which udev loads
    for it, neither scans it nor holds the export up (the echo pen drive would keep a
    scan busy for 40 s)."""
    code, out = invoke("export", "pendrive", "pendrive storage=memory", "--port", "0",
                       "--for", "0.5")
    assert code == 0, out
    assert "exporting 1-1: pendrive (058f:6387)" in out.splitlines()
    assert "exporting 1-2: pendrive storage=memory (058f:6387)" in out.splitlines()
    assert "USB Mass Storage device detected" not in out and "scsi" not in out
