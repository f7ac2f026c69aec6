"""The runtime knows nothing of pods, devices or MQTT: it runs modules that are none of ours."""

from __future__ import annotations

import subprocess
import sys
import textwrap

TOY_PROGRAM = textwrap.dedent(
    """
    import sys
    from kubeedge_actors import Message, ModuleActor, ModuleSpec, Runtime, load_config
    from kubeedge_actors.config import Config

    class Counter(ModuleActor):
        module_name, module_group = "counter", "numbers"

        def on_start(self):
            self.total = 0

        def handle_message(self, message):
            self.total += message.content
            self.module_router.send_resp(message.reply(self.total))

    class Doubler(ModuleActor):
        module_name, module_group = "doubler", "numbers"

        def handle_message(self, message):
            ask = Message.new(source="doubler", group="numbers", operation="add", resource="sum", content=2 * message.content)
            total = self.module_router.send_sync("counter", ask, timeout_s=5).result(timeout=5).content
            self.module_router.send_resp(message.reply(total))

    config = Config.defaults().with_values({"modules.enabled": ["doubler", "counter"]})
    toys = {"counter": ModuleSpec(Counter, start_order=1), "doubler": ModuleSpec(Doubler, start_order=2)}
    with Runtime(config, toys) as runtime:
        for n in (1, 2, 3):
            ask = Message.new(source="main", group="numbers", operation="double", resource="n", content=n)
            total = runtime.router.send_sync("doubler", ask, timeout_s=5).result(timeout=5).content
        print("running", ",".join(runtime.running_modules()), "total", total)
    ours = sorted(name for name in sys.modules if name.split(".")[0] in ("actors", "kubeedge_cloud"))
    print("ours", ours)
    """
)


def test_a_runtime_runs_two_toy_modules_and_loads_none_of_ours() -> None:
    result = subprocess.run([sys.executable, "-c", TOY_PROGRAM], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert "running counter,doubler total 12" in result.stdout
    assert "ours []" in result.stdout
