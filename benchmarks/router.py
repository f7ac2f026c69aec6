"""Router overhead against raw pykka, measured in the same run.

- ``route_vs_tell``: messages/s from one actor to another through the router (send by name,
  ModuleActor dispatch) divided by raw pykka ``tell`` between two plain actors.
- ``sync_vs_ask_p50``: p50 round trip of ``Router.send_sync`` (waiter, reply by parent id)
  divided by the p50 of a raw pykka ``ask``.

Rounds of the two sides alternate so that machine noise hits both alike; medians are quoted.
Usage: ``python benchmarks/router.py [--messages N] [--round-trips N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.stand_ins import Counter
from kubeedge_actors import Config, Message, ModuleActor, Router, handles


class RawCounter(pykka.ThreadingActor):
    def __init__(self, expected: int, done: threading.Event) -> None:
        super().__init__()
        self.expected, self.done, self.count = expected, done, 0

    def on_receive(self, message: Any) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


class RawSender(pykka.ThreadingActor):
    def __init__(self, target: pykka.ActorRef[Any], messages: list[Message]) -> None:
        super().__init__()
        self.target, self.messages = target, messages

    def on_receive(self, message: Any) -> None:
        tell = self.target.tell
        for item in self.messages:
            tell(item)


class RawResponder(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


@dataclass(frozen=True, slots=True)
class Go:
    """Tells the sender to send its messages."""


class RoutedSender(ModuleActor):
    module_name = "sender"
    module_group = "bench"

    def __init__(self, router: Router, config: Config | None = None, *, messages: list[Message]) -> None:
        super().__init__(router, config)
        self.messages = messages

    @handles(Go)
    def _send_all(self, _: Go) -> None:
        send = self.module_router.send
        for item in self.messages:
            send("counter", item)


class RoutedResponder(ModuleActor):
    module_name = "responder"
    module_group = "bench"

    def handle_message(self, message: Message) -> None:
        self.module_router.send_resp(message.reply(message.content))


def make_messages(count: int) -> list[Message]:
    return [Message.new(source="sender", group="bench", operation="update", resource="default/pod/p", content=i) for i in range(count)]


def raw_tell_rate(messages: list[Message]) -> float:
    done = threading.Event()
    counter = RawCounter.start(len(messages), done)
    sender = RawSender.start(counter, messages)
    started = time.perf_counter()
    sender.tell("go")
    done.wait(120)
    elapsed = time.perf_counter() - started
    sender.stop()
    counter.stop()
    return len(messages) / elapsed


def routed_rate(messages: list[Message]) -> float:
    router = Router()
    done = threading.Event()
    router.register("counter", "bench", Counter.start(router, expected=len(messages), done=done))
    sender = RoutedSender.start(router, messages=messages)
    router.register("sender", "bench", sender)
    started = time.perf_counter()
    sender.tell(Go())
    done.wait(120)
    elapsed = time.perf_counter() - started
    pykka.ActorRegistry.stop_all()
    router.close()
    return len(messages) / elapsed


def raw_ask_p50_us(round_trips: int) -> float:
    responder = RawResponder.start()
    message = make_messages(1)[0]
    samples = []
    for _ in range(round_trips):
        started = time.perf_counter()
        responder.ask(message)
        samples.append(time.perf_counter() - started)
    responder.stop()
    return statistics.median(samples) * 1e6


def send_sync_p50_us(round_trips: int) -> float:
    router = Router()
    router.register("responder", "bench", RoutedResponder.start(router))
    requests = make_messages(round_trips)
    samples = []
    for request in requests:
        started = time.perf_counter()
        router.send_sync("responder", request, timeout_s=10).result()
        samples.append(time.perf_counter() - started)
    pykka.ActorRegistry.stop_all()
    router.close()
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--round-trips", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    messages = make_messages(args.messages)
    tell_rates, routed_rates, ask_p50s, sync_p50s = [], [], [], []
    for round_number in range(1, args.rounds + 1):
        tell_rates.append(raw_tell_rate(messages))
        routed_rates.append(routed_rate(messages))
        ask_p50s.append(raw_ask_p50_us(args.round_trips))
        sync_p50s.append(send_sync_p50_us(args.round_trips))
        print(
            f"round {round_number}: tell {tell_rates[-1]:,.0f}/s routed {routed_rates[-1]:,.0f}/s "
            f"ask p50 {ask_p50s[-1]:.1f} µs send_sync p50 {sync_p50s[-1]:.1f} µs"
        )

    tell, routed = statistics.median(tell_rates), statistics.median(routed_rates)
    ask, sync = statistics.median(ask_p50s), statistics.median(sync_p50s)
    print(
        f"route_vs_tell={routed / tell:.2f} sync_vs_ask_p50={sync / ask:.2f} "
        f"routed_per_s={routed:.0f} tell_per_s={tell:.0f} send_sync_p50_us={sync:.1f} ask_p50_us={ask:.1f}"
    )


if __name__ == "__main__":
    main()
