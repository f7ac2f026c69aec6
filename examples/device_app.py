"""A device app that talks to the edge's device twin over MQTT, as apps written for KubeEdge do.

It uses only the twin topics of the original (docs/protocol.md#5.4), so the same app works against
KubeEdge's edge core and against kubeedge-actors. Examples, with the edge running (the default
conf starts an embedded broker on 127.0.0.1:1884):

    python examples/device_app.py report thermometer-1 temperature 20.5 --type float
    python examples/device_app.py get thermometer-1
    python examples/device_app.py state thermometer-1 online
    python examples/device_app.py watch thermometer-1          # deltas and documents, Ctrl-C stops
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

TOPIC = "$hw/events/device/{device}/{path}"


def connect(broker: str) -> mqtt.Client:
    url = urlparse(broker)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"device-app-{uuid.uuid4().hex[:8]}")
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    return client


def request(client: mqtt.Client, device: str, path: str, body: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Publish ``body`` on ``<device>/<path>`` and return the payload of ``<path>/result``."""
    answer: dict[str, Any] = {}
    arrived = threading.Event()

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        answer.update(json.loads(message.payload))
        arrived.set()

    result_topic = TOPIC.format(device=device, path=f"{path}/result")
    client.message_callback_add(result_topic, on_message)
    subscribe(client, result_topic)
    client.publish(TOPIC.format(device=device, path=path), json.dumps(body), qos=1)
    if not arrived.wait(timeout_s):
        raise TimeoutError(f"no answer on {result_topic} within {timeout_s} s")
    return answer


def subscribe(client: mqtt.Client, topic: str, timeout_s: float = 10.0) -> None:
    """Subscribe and wait for the broker's SUBACK, so no answer can slip past."""
    acknowledged = threading.Event()
    client.on_subscribe = lambda *_args: acknowledged.set()
    client.subscribe(topic, qos=1)
    if not acknowledged.wait(timeout_s):
        raise TimeoutError(f"the broker did not acknowledge the subscription to {topic}")


def base_message() -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "timestamp": int(time.time() * 1000)}


def report(client: mqtt.Client, args: argparse.Namespace) -> dict[str, Any]:
    twin = {args.property: {"actual": {"value": args.value}, "metadata": {"type": args.type}}}
    return request(client, args.device, "twin/update", {**base_message(), "twin": twin})


def get(client: mqtt.Client, args: argparse.Namespace) -> dict[str, Any]:
    return request(client, args.device, "twin/get", base_message())


def state(client: mqtt.Client, args: argparse.Namespace) -> dict[str, Any]:
    return request(client, args.device, "state/update", {**base_message(), "state": args.state})


def watch(client: mqtt.Client, args: argparse.Namespace) -> None:
    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        print(message.topic, message.payload.decode(), flush=True)

    for path in ("twin/update/delta", "twin/update/document", "updated"):
        topic = TOPIC.format(device=args.device, path=path)
        client.message_callback_add(topic, on_message)
        subscribe(client, topic)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="tcp://127.0.0.1:1884", help="MQTT broker of the edge (default: the embedded one)")
    commands = parser.add_subparsers(dest="command", required=True)
    reporting = commands.add_parser("report", help="report an actual twin value")
    reporting.add_argument("device")
    reporting.add_argument("property")
    reporting.add_argument("value")
    reporting.add_argument("--type", default="string", choices=["string", "int", "float", "boolean"])
    commands.add_parser("get", help="read the device's twin").add_argument("device")
    stating = commands.add_parser("state", help="report the device's state")
    stating.add_argument("device")
    stating.add_argument("state", choices=["online", "offline", "unknown"])
    commands.add_parser("watch", help="print deltas, documents and attribute updates").add_argument("device")
    args = parser.parse_args()

    client = connect(args.broker)
    try:
        if args.command == "watch":
            watch(client, args)
            return 0
        answer = {"report": report, "get": get, "state": state}[args.command](client, args)
    finally:
        client.loop_stop()
        client.disconnect()
    print(json.dumps(answer, indent=2))
    return 1 if "code" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
