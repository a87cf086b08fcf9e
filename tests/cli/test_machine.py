"""cli/machine: the port listings the shell's completion and `plug` without a port use."""

from __future__ import annotations

import pytest

from usbemu.cli.machine import MachineError, boot, free_port, free_ports, plug


def test_free_and_plugged_ports_follow_the_tree() -> None:
    system = boot(ports=3)
    try:
        assert free_ports(system) == ["1-1", "1-2", "1-3"] and free_port(system) == "1-1"
        plug(system, "hub", {"ports": "2"}, "1-2")
        plug(system, "mouse", None, "1-2.1")
        assert [path for path, _ in system.models()] == ["1-2", "1-2.1"]
        assert free_ports(system) == ["1-1", "1-3", "1-2.2"]
        plug(system, "pendrive")
        plug(system, "pendrive")
        assert free_ports(system) == ["1-2.2"]
        with pytest.raises(MachineError, match="every root-hub port is taken"):
            free_port(system)
    finally:
        system.close()
