"""A node that only holds an MqttBus open: the last-will test kills it with SIGKILL.

    python mqtt_node.py <url> <topic prefix> <node id>

Prints `connected` once the bus is connected, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from dialer.events import MqttBus, MqttConfig


async def main(url: str, prefix: str, node: str) -> None:
    config = MqttConfig.from_url(url, topic_prefix=prefix, client_id=f"{prefix}-{node}")
    async with MqttBus(config, node_id=node, keepalive=60) as bus:
        await bus.wait_connected(10)
        print("connected", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
