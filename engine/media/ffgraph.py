"""A typed builder of ffmpeg command lines: inputs, a `-filter_complex` graph, outputs.

It writes exactly the arguments ffmpeg-python 0.2.0 wrote for the graphs the engine builds (the same call
shape, node order, `s0`, `s1`… labels and escaping; tests/test_ffgraph.py holds that library's output), so
clip keys and pictures stay as they were. The engine runs the command itself (engine.media.process: resumable
segments, NVENC, cancellation by process group); this module only writes it, so it neither runs nor probes.

Identity: two nodes with the same filter, arguments and inputs are one node, as in ffmpeg-python, so opening
one file twice with the same options gives one `-i` (ffmpeg-python also merged filters differing only in name,
`hflip` and `vflip` of one stream; here they stay two). A filter output feeding two filters needs a `split`
(`asplit`), whose count is the number of its outputs in use.

Only what the engine uses is here: no running, probing or drawing to a picture, and output options are written
as given (ffmpeg-python's `video_bitrate` and `video_size` shorthands are not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = [
    "GraphError",
    "Node",
    "Output",
    "Stream",
    "Value",
    "concat",
    "filter",
    "filter_multi_output",
    "input",
    "merge_outputs",
    "output",
    "overlay",
]

Value = str | int | float | None
"""An option's or a filter argument's value; as an input or output option, None is a bare flag (`-copyts`)."""
Label = int | None
"""Which of a node's inputs or outputs an edge is: None for a node's only one, else its position."""
Kind = Literal["input", "filter", "output", "global", "merge"]

FILTER_CHARS = "\\'=:"
"""Escaped inside one filter's arguments (positional arguments twice, as ffmpeg-python did)."""
GRAPH_CHARS = "\\'[],;"
"""Escaped once more over a whole filter, so the graph's own separators never appear unescaped."""


class GraphError(ValueError):
    """A graph ffmpeg could not take: a stream used twice without a split, a missing file name."""


def escape(text: object, chars: str) -> str:
    """`text` with a backslash before each of `chars` (backslashes first, so none is escaped twice)."""
    out = str(text)
    for ch in sorted(set(chars), key=lambda c: c != "\\"):
        out = out.replace(ch, "\\" + ch)
    return out


class Node:
    """One input, filter, output or global option; immutable, and equal to any node built the same way."""

    def __init__(
        self,
        kind: Kind,
        name: str,
        incoming: Sequence[tuple[Label, Stream | Output]] = (),
        args: Sequence[Value] = (),
        kwargs: dict[str, Value] | None = None,
    ) -> None:
        self.kind: Kind = kind
        self.name = name
        self.incoming: tuple[tuple[Label, Stream | Output], ...] = tuple(incoming)
        self.args: tuple[Value, ...] = tuple(args)
        self.kwargs: dict[str, Value] = dict(kwargs or {})
        edges = tuple((label, s.node, s.label, s.selector) for label, s in self.incoming)
        # Compared as ffmpeg writes them: 1 and "1" are the same argument.
        named = tuple(sorted((k, str(v)) for k, v in self.kwargs.items()))
        self._key = (kind, name, tuple(map(str, self.args)), named, edges)
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Node) and self._hash == other._hash and self._key == other._key)

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.name}, {self.args!r}, {self.kwargs!r})"

    def __getitem__(self, label: int) -> Stream:
        """Output `label` of a multi-output filter (`split`, `asplit`)."""
        return Stream(self, label)

    def stream(self, label: Label = None, selector: str | None = None) -> Stream:
        return Stream(self, label, selector)

    def filter_text(self, outputs: int) -> str:
        """The filter as the graph names it, `name=arg:key=value`, escaped."""
        args: Sequence[Value] = [outputs] if self.name in ("split", "asplit") else self.args
        params = [escape(escape(a, FILTER_CHARS), FILTER_CHARS) for a in args]
        named = {escape(k, FILTER_CHARS): escape(v, FILTER_CHARS) for k, v in self.kwargs.items()}
        params += [f"{k}={named[k]}" for k in sorted(named)]
        text = escape(self.name, FILTER_CHARS)
        if params:
            text += "=" + ":".join(params)
        return escape(text, GRAPH_CHARS)


class Stream:
    """An output of an input or a filter (with a selector such as `v` or `a` on an input's), to filter further."""

    def __init__(self, node: Node, label: Label = None, selector: str | None = None) -> None:
        self.node = node
        self.label = label
        self.selector = selector

    def __repr__(self) -> str:
        return f"Stream({self.node!r}, {self.label!r}, {self.selector!r})"

    def __getitem__(self, selector: str) -> Stream:
        """The stream's `v` (video) or `a` (audio) part, as `-map 0:a` says it."""
        if self.selector is not None:
            raise GraphError(f"stream already has a selector: {self}")
        return Stream(self.node, self.label, selector)

    @property
    def video(self) -> Stream:
        return self["v"]

    @property
    def audio(self) -> Stream:
        return self["a"]

    def filter(self, name: str, *args: Value, **kwargs: Value) -> Stream:
        return filter(self, name, *args, **kwargs)

    def filter_multi_output(self, name: str, *args: Value, **kwargs: Value) -> Node:
        return filter_multi_output(self, name, *args, **kwargs)

    def split(self) -> Node:
        """`split` into as many branches as are taken (`node[0]`, `node[1]`…)."""
        return Node("filter", "split", [(None, self)])

    def trim(self, **kwargs: Value) -> Stream:
        return Stream(Node("filter", "trim", [(None, self)], kwargs=kwargs))

    def setpts(self, expr: str) -> Stream:
        return Stream(Node("filter", "setpts", [(None, self)], args=[expr]))

    def overlay(self, over: Stream, eof_action: str = "repeat", **kwargs: Value) -> Stream:
        return overlay(self, over, eof_action, **kwargs)

    def crop(self, x: Value, y: Value, width: Value, height: Value, **kwargs: Value) -> Stream:
        return Stream(Node("filter", "crop", [(None, self)], args=[width, height, x, y], kwargs=kwargs))

    def drawbox(
        self, x: Value, y: Value, width: Value, height: Value, color: str, thickness: Value = None, **kwargs: Value
    ) -> Stream:
        if thickness:
            kwargs["t"] = thickness
        return Stream(Node("filter", "drawbox", [(None, self)], args=[x, y, width, height, color], kwargs=kwargs))

    def output(self, filename: str, **kwargs: Value) -> Output:
        return output(self, filename, **kwargs)


class Output:
    """One or more outputs with their streams: what `compile` turns into a command line."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.label: Label = None
        self.selector: str | None = None

    def global_args(self, *args: str) -> Output:
        """Arguments placed after every output (`-progress pipe:1`)."""
        return Output(Node("global", "global_args", [(None, self)], args=args))

    def overwrite_output(self) -> Output:
        return Output(Node("global", "overwrite_output", [(None, self)], args=["-y"]))

    def get_args(self, overwrite_output: bool = False) -> list[str]:
        """The arguments after `ffmpeg`: inputs, `-filter_complex`, outputs, global options."""
        return _arguments(self.node, overwrite_output)

    def compile(self, cmd: str | Sequence[str] = "ffmpeg", overwrite_output: bool = False) -> list[str]:
        """The whole command line, `cmd` first."""
        return ([cmd] if isinstance(cmd, str) else [*cmd]) + self.get_args(overwrite_output)


def input(filename: str, **kwargs: Value) -> Stream:
    """Input `filename` (`-i`); `f`/`format` is its format, other options go before `-i` in name order."""
    return Stream(Node("input", "input", kwargs=_with_format(kwargs, filename=filename)))


def filter_multi_output(streams: Stream | Sequence[Stream], name: str, *args: Value, **kwargs: Value) -> Node:
    """A filter of `streams` whose outputs are taken by index (`node[0]`)."""
    incoming: list[tuple[Label, Stream]] = (
        [(None, streams)] if isinstance(streams, Stream) else list(enumerate(streams))
    )
    return Node("filter", name, incoming, args=args, kwargs=kwargs)


def filter(streams: Stream | Sequence[Stream], name: str, *args: Value, **kwargs: Value) -> Stream:
    """Filter `name` over `streams` (one, or several in the filter's input order), with its one output."""
    return Stream(filter_multi_output(streams, name, *args, **kwargs))


def overlay(main: Stream, over: Stream, eof_action: str = "repeat", **kwargs: Value) -> Stream:
    """`over` drawn on `main`."""
    return Stream(Node("filter", "overlay", [(0, main), (1, over)], kwargs={**kwargs, "eof_action": eof_action}))


def concat(*streams: Stream, **kwargs: Value) -> Stream:
    """`streams` one after another, `v` video and `a` audio streams per segment (1 and 0 unless said)."""
    v, a = kwargs.get("v", 1), kwargs.get("a", 0)
    per = int(v or 0) + int(a or 0)
    if per == 0 or len(streams) % per:
        raise GraphError(f"concat takes a multiple of {per} streams (v={v}, a={a}); got {len(streams)}")
    return Stream(Node("filter", "concat", list(enumerate(streams)), kwargs={**kwargs, "n": len(streams) // per}))


def output(*streams_and_filename: Stream | str, **kwargs: Value) -> Output:
    """Output file (last positional argument) of `streams`; `f`/`format` is its format."""
    *streams, filename = streams_and_filename
    if not isinstance(filename, str) or not all(isinstance(s, Stream) for s in streams):
        raise GraphError("output takes streams, then a file name")
    incoming = [(i, s) for i, s in enumerate(streams) if isinstance(s, Stream)]
    return Output(Node("output", "output", incoming, kwargs=_with_format(kwargs, filename=filename)))


def merge_outputs(*outputs: Output) -> Output:
    """Several outputs written by one ffmpeg run."""
    return Output(Node("merge", "merge_outputs", list(enumerate(outputs))))


def _with_format(kwargs: dict[str, Value], *, filename: str) -> dict[str, Value]:
    options: dict[str, Value] = {**kwargs, "filename": filename}
    fmt = options.pop("f", None)
    if fmt:
        if "format" in options:
            raise GraphError("give `f` or `format`, not both")
        options["format"] = fmt
    return options


def _options(kwargs: dict[str, Value]) -> list[str]:
    """`-name value` per option in name order; `-name` alone for None."""
    args: list[str] = []
    for name in sorted(kwargs):
        args.append(f"-{name}")
        if kwargs[name] is not None:
            args.append(f"{kwargs[name]}")
    return args


Outgoing = dict[Label, list[tuple[Node, Label]]]


def _sorted_nodes(last: Node) -> tuple[list[Node], dict[Node, Outgoing]]:
    """Every node `last` depends on, each after its inputs (ffmpeg-python's depth-first order, so the labels
    come out as it numbered them), and each node's outgoing edges by output label."""
    order: list[Node] = []
    done: set[Node] = set()
    outgoing: dict[Node, Outgoing] = {}

    def visit(node: Node, label: Label, downstream: Node | None, downstream_label: Label) -> None:
        if downstream is not None:
            outgoing.setdefault(node, {}).setdefault(label, []).append((downstream, downstream_label))
        if node in done:
            return
        for into, stream in node.incoming:
            visit(stream.node, stream.label, node, into)
        done.add(node)
        order.append(node)

    visit(last, None, None, None)
    return order, outgoing


def _label_order(item: tuple[Label, object]) -> tuple[bool, int]:
    return item[0] is not None, item[0] or 0


def _stream_name(names: dict[tuple[Node, Label], str], stream: Stream | Output, final: bool = False) -> str:
    """`[s3]`, `[0:a]`; an input's stream as an output's `-map` is bare: `0:a`."""
    name = names[stream.node, stream.label] + (f":{stream.selector}" if stream.selector else "")
    return name if final and stream.node.kind == "input" else f"[{name}]"


def _arguments(last: Node, overwrite_output: bool) -> list[str]:
    order, outgoing = _sorted_nodes(last)
    inputs = [n for n in order if n.kind == "input"]
    filters = [n for n in order if n.kind == "filter"]
    names: dict[tuple[Node, Label], str] = {(node, None): str(i) for i, node in enumerate(inputs)}
    for node in filters:
        for label, downstreams in sorted(outgoing[node].items(), key=_label_order):
            if len(downstreams) > 1:
                raise GraphError(f"{node} output {label!r} feeds {len(downstreams)} filters: a split is needed")
            names[node, label] = f"s{len(names) - len(inputs)}"
    specs = []
    for node in filters:
        edges = [d for _, ds in sorted(outgoing[node].items(), key=_label_order) for d in ds]
        into = "".join(_stream_name(names, stream) for _, stream in node.incoming)
        out = "".join(
            f"[{names[node, label]}]" for label, ds in sorted(outgoing[node].items(), key=_label_order) for _ in ds
        )
        specs.append(into + node.filter_text(len(edges)) + out)

    args: list[str] = []
    for node in inputs:
        options = dict(node.kwargs)
        filename, fmt = str(options.pop("filename")), options.pop("format", None)
        args += [*(["-f", str(fmt)] if fmt else []), *_options(options), "-i", filename]
    if specs:
        args += ["-filter_complex", ";".join(specs)]
    for node in (n for n in order if n.kind == "output"):
        for _, stream in node.incoming:
            name = _stream_name(names, stream, final=True)
            if name != "0" or len(node.incoming) > 1:
                args += ["-map", name]
        options = dict(node.kwargs)
        filename = str(options.pop("filename"))
        if "format" in options:
            args += ["-f", str(options.pop("format"))]
        args += [*_options(options), filename]
    for node in (n for n in order if n.kind == "global"):
        args += [str(a) for a in node.args]
    return [*args, "-y"] if overwrite_output else args
