"""The tests' command line over the control API (``cloudapi``): what ``ctl`` was before it
became an alias of kubectl. Tests drive the cloud side's controllers through it::

    control = run_control(client, ["get", "pods"])      # client: kubeedge_cloud.apiclient.ApiClient

Its verbs (``ctl`` below is this command):

    ctl apply -f pod.yaml [-f more.yaml | -f -] [--node NODE]
    ctl delete -f pod.yaml          ctl delete pod NAME [-n NS] [--node NODE]
    ctl get nodes | pods | configmaps | secrets | devices | devicemodels [-n NS | -A] [-o json]
    ctl describe pod NAME [-n NS]
    ctl logs POD [-c CONTAINER] [-n NS] [--tail N] [--since 5m] [-f]
    ctl exec POD [-c CONTAINER] [-n NS] -- COMMAND [ARG...]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import io
import json
import re
import ssl
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TextIO

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.apiclient import ApiClient
from kubeedge_cloud.errors import ApiClientError as CtlError
from kubeedge_cloud.manifests import DEFAULT_NAMESPACE, KIND_ALIASES, flatten_lists
from kubeedge_cloud.views import DeviceModelRow, DeviceRow, NodeRow, ObjectResult, ObjectRow, PodRow


def control_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="control", exit_on_error=False)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    apply = verbs.add_parser("apply", help="create or update objects from manifests (YAML or JSON, multi-document)")
    apply.add_argument("-f", "--filename", action="append", required=True, help="manifest file, or - for stdin (repeatable)")
    apply.add_argument("--node", help="node of pods without spec.nodeName; also sends configmaps and secrets to this node")
    delete = verbs.add_parser("delete", help="delete objects named in manifests, or one object by kind and name")
    delete.add_argument("kind", nargs="?", help="pod, configmap, secret, device or devicemodel")
    delete.add_argument("name", nargs="?")
    delete.add_argument("-f", "--filename", action="append", help="manifest file, or - for stdin (repeatable)")
    delete.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    delete.add_argument("--node", help="the node the pod runs on (checked)")
    get = verbs.add_parser("get", help="list nodes, pods, configmaps, secrets or devices")
    get.add_argument(
        "what",
        choices=["nodes", "node", "pods", "pod", "po", "configmaps", "cm", "secrets", "devices", "device", "devicemodels", "devicemodel"],
    )
    get.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", choices=["table", "json"], default="table")
    describe = verbs.add_parser("describe", help="show a pod's status: its message, conditions and containers")
    describe.add_argument("kind", choices=["pod", "pods", "po"])
    describe.add_argument("name")
    describe.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    logs = verbs.add_parser("logs", help="print a pod's container log; -f follows it until Ctrl-C")
    logs.add_argument("pod")
    logs.add_argument("-c", "--container", default="", help="the container (needed when the pod has several)")
    logs.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    logs.add_argument("--tail", type=int, default=-1, help="only the last N lines")
    logs.add_argument("--since", default="", help="only lines newer than this: 30s, 5m, 2h")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    execute = verbs.add_parser("exec", help="run a command in a pod's container; exits with its exit code")
    execute.add_argument("pod")
    execute.add_argument("-c", "--container", default="", help="the container (needed when the pod has several)")
    execute.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    execute.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]", help="the command and its arguments")
    return parser


def run_control(client: ApiClient, argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one command (``["get", "pods"]``) against the control API ``client`` talks to."""
    args = control_parser().parse_args(argv)
    try:
        if args.verb == "apply":
            return _apply(client, read_manifests(args.filename), args.node, out, err)
        if args.verb == "delete":
            return _delete(client, args, out, err)
        if args.verb in ("logs", "exec"):
            return _pod_stream(client, args, out, err)
        if args.verb == "describe":
            return _describe(client, args, out)
        return _get(client, args, out, err)
    except CtlError as exc:
        print(f"error: {exc}", file=err)
        return exc.code


def read_manifests(filenames: Sequence[str]) -> list[Json]:
    """Every document of every file (``-`` is stdin), with ``kind: List`` flattened."""
    documents: list[Json] = []
    for filename in filenames:
        try:
            text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
        except OSError as exc:
            raise CtlError(f"cannot read {filename}: {exc.strerror or exc}") from exc
        try:
            documents.extend(YAML(typ="safe", pure=True).load_all(text))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{filename}:{mark.line + 1}" if mark is not None else filename
            raise CtlError(f"{where}: not valid YAML or JSON: {getattr(exc, 'problem', None) or exc}") from exc
    manifests = flatten_lists(documents)
    if not manifests:
        raise CtlError(f"no objects in {', '.join(filenames)}")
    return manifests


def _apply(client: ApiClient, manifests: list[Json], node: str | None, out: TextIO, err: TextIO) -> int:
    status, answer = client.call("POST", "apply", manifests, {"node": node or ""})
    for result in answer.get("results") or []:
        print(_result_line(result), file=out)
    if status != 200:
        print(f"error: {answer.get('error', f'HTTP {status}')}", file=err)
        return 1
    return 0


def _result_line(result: ObjectResult) -> str:
    line = f"{result['kind'].lower()}/{result['name']} {result['action']}"
    if result["kind"] in ("ConfigMap", "Secret") and result["action"] != "deleted" and not result.get("nodes"):
        line += " (no node uses it yet)"
    return line


def _delete(client: ApiClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.filename:
        if args.kind:
            raise CtlError("give either -f FILE or KIND NAME, not both", 2)
        status, answer = client.call("POST", "delete", read_manifests(args.filename))
    elif args.kind and args.name:
        kind = KIND_ALIASES.get(args.kind.lower())
        if kind is None:
            raise CtlError(f"unknown kind {args.kind!r}: pod, configmap, secret, device or devicemodel", 2)
        path = "/".join(urllib.parse.quote(part, safe="") for part in ("namespaces", args.namespace, kind.lower(), args.name))
        status, answer = client.call("DELETE", path, query={"node": args.node or ""})
    else:
        raise CtlError("delete needs -f FILE, or KIND and NAME", 2)
    failed = status != 200
    for result in answer.get("results") or []:
        if result["action"] == "deleted":
            print(f'{result["kind"].lower()} "{result["name"]}" deleted', file=out)
        else:
            print(f'Error from server (NotFound): {result["kind"].lower()}s "{result["name"]}" not found', file=err)
            failed = True
    if status != 200 and not answer.get("results"):
        print(f"error: {answer.get('error', f'HTTP {status}')}", file=err)
    return 1 if failed else 0


def _pod_stream(client: ApiClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``logs`` and ``exec``: JSON lines from the API (docs/protocol.md#9.5), written as they come."""
    command = _exec_command(args) if args.verb == "exec" else []
    path = "/".join(urllib.parse.quote(part, safe="") for part in ("namespaces", args.namespace, "pods", args.pod))
    if args.verb == "exec":
        if not command:
            raise CtlError("exec needs a command: ctl exec POD -- COMMAND [ARG...]", 2)
        call = client.stream("POST", f"{path}/exec", {"command": command, "container": args.container})
    else:
        query = {"container": args.container, "frames": "1", "follow": "true" if args.follow else ""}
        query.update(
            {"tailLines": str(args.tail) if args.tail >= 0 else "", "sinceSeconds": str(seconds_of(args.since)) if args.since else ""}
        )
        call = client.stream("GET", f"{path}/log", query=query)
    try:
        with call as response:
            return _print_frames(response, out, err)
    except KeyboardInterrupt:
        return 130  # leaving the block closed the connection: the cloud tells the edge to stop
    except (http.client.HTTPException, OSError) as exc:
        raise CtlError(f"the stream broke: {exc}") from exc


def _exec_command(args: argparse.Namespace) -> list[str]:
    """The command after ``--``; ``-c`` and ``-n`` may stand between the pod and ``--`` (argparse
    hands all of that over as one remainder)."""
    if "--" not in args.argv:
        return list(args.argv)
    cut = args.argv.index("--")
    options = argparse.ArgumentParser(prog="ctl exec POD", add_help=False, exit_on_error=False)
    options.add_argument("-c", "--container", default=args.container)
    options.add_argument("-n", "--namespace", default=args.namespace)
    try:
        parsed, extra = options.parse_known_args(args.argv[:cut])
    except argparse.ArgumentError as exc:
        raise CtlError(f"exec: {exc}", 2) from exc
    if extra:
        raise CtlError(f"exec: unexpected {' '.join(extra)} before --", 2)
    args.container, args.namespace = parsed.container, parsed.namespace
    return list(args.argv[cut + 1 :])


def _print_frames(response: http.client.HTTPResponse, out: TextIO, err: TextIO) -> int:
    for line in response:
        try:
            frame = json.loads(line)
            if "data" in frame:
                _write(err if frame.get("channel") == "stderr" else out, base64.b64decode(frame["data"], validate=True))
                continue
        except (ValueError, binascii.Error, TypeError, AttributeError) as exc:
            raise CtlError(f"the cloud hub sent a line that is not a stream frame: {line[:80]!r} ({exc})") from exc
        if frame.get("error"):
            print(f"error: {frame['error']}", file=err)
            return 1
        code = frame.get("exit_code")
        return code if isinstance(code, int) else 0
    raise CtlError("the stream ended without its last frame (the cloud hub went away?)")


def _write(stream: TextIO, data: bytes) -> None:
    """The bytes as they are where the stream has a binary side (a terminal, a pipe), else as text."""
    binary = getattr(stream, "buffer", None)
    if binary is not None:
        stream.flush()
        binary.write(data)
        binary.flush()
    else:
        stream.write(data.decode("utf-8", errors="replace"))
        stream.flush()


def seconds_of(text: str) -> int:
    """``--since``: ``90``, ``30s``, ``5m``, ``2h`` as seconds.

    Raises:
        CtlError: anything else.
    """
    match = re.fullmatch(r"(\d+)([smh]?)", text.strip())
    if match is None:
        raise CtlError(f"--since {text!r}: expected a duration such as 30s, 5m or 2h", 2)
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


_CANONICAL_LIST = {"node": "nodes", "pod": "pods", "po": "pods", "cm": "configmaps", "device": "devices", "devicemodel": "devicemodels"}


def _get(client: ApiClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    what = _CANONICAL_LIST.get(args.what, args.what)
    namespace = "" if args.all_namespaces or what == "nodes" else args.namespace
    status, answer = client.call("GET", what, query={"namespace": namespace})
    if status != 200:
        raise CtlError(answer.get("error", f"HTTP {status}"))
    items = answer.get("items") or []
    if args.output == "json":
        print(json.dumps(items, indent=2), file=out)
        return 0
    if not items:
        print(f"No resources found{f' in {namespace} namespace' if namespace else ''}.", file=out)
        return 0
    header, rows = _TABLES[what](items)
    if args.all_namespaces and what != "nodes":
        header, rows = ["NAMESPACE", *header], [[item.get("namespace", ""), *row] for item, row in zip(items, rows, strict=True)]
    print(format_table(header, rows), file=out)
    if what == "pods":  # docs/protocol.md#7.11: as kubectl shows the API server's warnings
        for item in items:
            if item.get("message"):
                print(f"Warning: pod/{item['name']}: {item['message']}", file=err)
    return 0


def _describe(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    """kubectl describe's first lines for one pod, from the status its edge sent."""
    status, answer = client.call("GET", "pods", query={"namespace": args.namespace})
    if status != 200:
        raise CtlError(answer.get("error", f"HTTP {status}"))
    pod: PodRow | None = next((i for i in answer.get("items") or [] if i.get("name") == args.name), None)
    if pod is None:
        raise CtlError(f'pods "{args.name}" not found in namespace {args.namespace}')
    print("\n".join(describe_pod(pod)), file=out)
    return 0


_STATE_DETAILS = (("reason", "Reason"), ("message", "Message"), ("exitCode", "Exit Code"))


def describe_pod(pod: PodRow) -> list[str]:
    status = pod.get("status") or {}
    lines = [f"{key + ':':<14}{value}" for key, value in _describe_header(pod, status)]
    lines.append("Containers:")
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        kind = next(iter(state), "unknown")
        lines += [f"  {container.get('name')}:", f"    State:          {kind.capitalize()}"]
        details = state.get(kind) or {}
        lines += [f"      {label + ':':<14}{details[key]}" for key, label in _STATE_DETAILS if key in details]
        lines += [f"    Ready:          {container.get('ready')}", f"    Restart Count:  {container.get('restartCount', 0)}"]
    lines.append("Conditions:")
    lines += [f"  {c.get('type', ''):<18}{c.get('status', '')}" for c in status.get("conditions") or []]
    return lines


def _describe_header(pod: PodRow, status: JsonObject) -> list[tuple[str, str]]:
    header = [("Name", pod["name"]), ("Namespace", pod["namespace"]), ("Node", pod["node"] or "<none>"), ("Status", pod["state"])]
    header += [(key.capitalize(), str(status[key])) for key in ("reason", "message") if status.get(key)]
    return [*header, ("IP", str(status.get("podIP") or "<none>"))]


def _node_table(items: list[NodeRow]) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "STATUS", "CONNECTION", "LAST-STATUS", "VERSION"]
    return header, [[i["name"], i["ready"], i["connection"], age(i.get("status_at")), i.get("version") or "<none>"] for i in items]


def _pod_table(items: list[PodRow]) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "READY", "STATUS", "RESTARTS", "NODE", "AGE"]
    return header, [[i["name"], i["ready"], i["state"], str(i["restarts"]), i["node"], age(i["created"])] for i in items]


def _object_table(items: list[ObjectRow]) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "DATA", "NODES", "AGE"]
    return header, [[i["name"], str(i["data"]), ",".join(i["nodes"]) or "<none>", age(i["created"])] for i in items]


def _device_table(items: list[DeviceRow]) -> tuple[list[str], list[list[str]]]:
    # PROTOCOL and STATE last: scripts that read the first five columns keep working.
    header = ["NAME", "NODE", "PROPERTY", "DESIRED", "REPORTED", "PROTOCOL", "STATE"]
    no_twins = [{"name": "<none>", "desired": "", "reported": ""}]
    rows = [
        [
            item["name"],
            item["node"],
            twin["name"],
            _shown(twin.get("desired")),
            _shown(twin.get("reported")),
            _shown(item.get("protocol")),
            _shown(item.get("state")),
        ]
        for item in items
        for twin in item.get("twins") or no_twins
    ]
    return header, rows


def _model_table(items: list[DeviceModelRow]) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "PROPERTIES", "PROTOCOLS", "DEVICES", "AGE"]
    return header, [
        [i["name"], ",".join(i["properties"]), ",".join(i["protocols"]) or "<none>", str(len(i["devices"])), age(i["created"])]
        for i in items
    ]


def _shown(value: Json) -> str:
    return "<none>" if value is None or value == "" else str(value)


#: Each list's table: header and rows, from the items the API answered (JSON, read as its rows).
_TABLES: dict[str, Callable[[list[Json]], tuple[list[str], list[list[str]]]]] = {
    "nodes": _node_table,
    "pods": _pod_table,
    "configmaps": _object_table,
    "secrets": _object_table,
    "devices": _device_table,
    "devicemodels": _model_table,
}


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, three spaces apart, like kubectl."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def age(when: float | str | None, now: float | None = None) -> str:
    """kubectl's short age (``42s``, ``5m``, ``3h``, ``2d``) of an epoch or RFC 3339 time."""
    if when is None or when == "":
        return "<none>"
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return "<unknown>"
    seconds = max(0, int((now if now is not None else time.time()) - float(when)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: The bearer token test cloud sides take (``kube.token-file`` of :func:`write_token_file`).
TEST_TOKEN = "control-token-for-tests"


def write_token_file(path: Path) -> Path:
    """A static token file with :data:`TEST_TOKEN` for an operator ``tester``; returns ``path``."""
    path.write_text(f"{TEST_TOKEN},tester,1000\n")
    return path


def control_client(url: str, ca: Path | None) -> ApiClient:
    """A client of the control API at ``url`` with :data:`TEST_TOKEN`; ``ca``: the CA an
    ``https`` URL's certificate is checked against."""
    tls = ssl.create_default_context(cafile=str(ca)) if url.startswith("https:") and ca is not None else None
    return ApiClient(url, tls=tls, token=TEST_TOKEN)


class Controlled(NamedTuple):
    """What a command printed and its exit code; unpacks as ``code, out, err``."""

    returncode: int
    stdout: str
    stderr: str


def control(client: ApiClient, *args: str) -> Controlled:
    """Run one command (``"get", "pods"``) in this process; its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    code = run_control(client, list(args), out, err)
    return Controlled(code, out.getvalue(), err.getvalue())


__all__ = [
    "TEST_TOKEN",
    "Controlled",
    "age",
    "control",
    "control_client",
    "control_parser",
    "format_table",
    "read_manifests",
    "run_control",
    "seconds_of",
    "write_token_file",
]
