"""Python tools: a node's source file loaded as a module, its one ``@tool`` function (or class
tool), the parameter types read from annotations, and the call.

- A tool file is imported once per process per version of the file (path and mtime), under a
  module name unique to its path, with the flow folder, the file's folder and the includes on
  ``sys.path`` while it imports. ``promptflow_compat.install()`` runs first, so
  ``from promptflow.core import tool`` works without promptflow installed.
- The tool is the one function marked by ``@tool`` (Ember's or promptflow's own, which sets
  ``__tool``) defined in that file, or one ``@tool`` method of a ``ToolProvider`` class (its
  ``__init__`` takes the node inputs it names). None or several: an error, as in promptflow.
- Connection parameters are recognised by class name (``OpenAIConnection``,
  ``AzureOpenAIConnection``, ``CustomConnection``, any ``*Connection``), so annotations with the
  real promptflow's classes match as Ember's do; the YAML value names the connection.
- Package tools: promptflow-tools' chat, completion and embedding map to ``ember.flows.llm``;
  any other package tool is refused by name.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import importlib.util
import inspect
import sys
import sysconfig
import threading
import traceback
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ember.errors import SpecError, UnsupportedError, UserCodeError
from ember.flows import _types, promptflow_compat, references
from ember.flows._signature import Param, params_of
from ember.flows.connections import ConnectionProvider, CustomConnection, from_plain
from ember.flows.dag import MISSING, Flow, Node
from ember.flows.node_context import NodeContext

# promptflow-tools' package tools Ember runs itself: tool id -> (runner, api).
PACKAGE_TOOLS = {
    "promptflow.tools.openai.chat": ("llm", "chat"),
    "promptflow.tools.aoai.chat": ("llm", "chat"),
    "promptflow.tools.openai.completion": ("llm", "completion"),
    "promptflow.tools.aoai.completion": ("llm", "completion"),
    "promptflow.tools.embedding.embedding": ("embedding", None),
}
@dataclass
class Tool:
    name: str
    func: Callable[..., Any]
    file: Path
    params: dict[str, Param] = field(default_factory=dict)
    var_kwargs: bool = False
    cls: type | None = None                      # class tools: the ToolProvider subclass
    init_params: dict[str, Param] = field(default_factory=dict)


@dataclass
class PreparedNode:
    """A python node ready to call: its tool and its literal inputs already converted."""

    node: Node
    tool: Tool | None = None
    package: tuple[str, str | None] | None = None
    literals: dict[str, Any] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)   # empty literals: the default applies
    instance: Any = None                         # class tools: made on first call, then kept
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def has_default(self, name: str) -> bool:
        """Whether the tool's parameter ``name`` has a default (an input fed by a bypassed node
        is then left out, so the default applies)."""
        param = self.tool.params.get(name) if self.tool else None
        return param is not None and param.default is not MISSING


# Sync tools run here, not on asyncio's default pool (min(32, cores + 4) threads: 6 on a
# 2-core machine), so a batch of lines whose tools wait on HTTP is not capped by core count;
# promptflow runs 16 nodes at once per line.
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
POOL_SIZE = 64


async def run_sync(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``asyncio.to_thread`` on the flows' own pool: the context (span, tracer, metrics sink)
    goes with the call."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="ember-flow-node")
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)


_cache: dict[tuple[str, int], Tool] = {}
_import_lock = threading.Lock()


def _is_tool(obj: Any) -> bool:
    return callable(obj) and (hasattr(obj, "__ember_tool__") or hasattr(obj, "__tool"))


def _search_path(flow: Flow, file: Path) -> list[str]:
    paths = [str(file.parent), str(flow.folder)]
    for include in flow.includes.values():
        paths.append(str(include.parent))
    return list(dict.fromkeys(paths))


def load_tool(flow: Flow, node: Node) -> Tool:
    """The tool of a python node whose source is a code file. Raises UserCodeError when the
    file does not import, SpecError when it has no ``@tool`` or several."""
    file = flow.source_path(node).resolve()
    key = (str(file), file.stat().st_mtime_ns)
    with _import_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        promptflow_compat.install()
        module = _import(flow, file)
        tool = _find_tool(flow, node, file, module)
        _cache[key] = tool
        return tool


def _import(flow: Flow, file: Path) -> types.ModuleType:
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
    name = f"ember_flow_tool_{digest}_{file.stem.replace('-', '_').replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise SpecError("cannot load as a Python module", file=str(file))
    module = importlib.util.module_from_spec(spec)
    added = [p for p in _search_path(flow, file) if p not in sys.path]
    sys.path[:0] = added
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:   # the user's import-time error, reported as theirs
        sys.modules.pop(name, None)
        raise UserCodeError(f"{file}: the tool file does not import: "
                            f"({type(exc).__name__}) {exc}",
                            details={"traceback": user_traceback(exc)}) from exc
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)
    return module


def _find_tool(flow: Flow, node: Node, file: Path, module: types.ModuleType) -> Tool:
    found: list[Tool] = []
    for obj in list(vars(module).values()):
        if getattr(obj, "__module__", None) != module.__name__:
            continue   # imported from elsewhere, not this file's tool
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if _is_tool(member):
                    params, var_kwargs = params_of(member, skip_self=True)
                    init, _ = params_of(obj.__init__, skip_self=True)   # type: ignore[misc]
                    found.append(Tool(name=f"{obj.__name__}.{attr}", func=member, file=file,
                                      params=params, var_kwargs=var_kwargs, cls=obj,
                                      init_params=init))
        elif _is_tool(obj):
            params, var_kwargs = params_of(obj, skip_self=False)
            found.append(Tool(name=obj.__name__, func=obj, file=file, params=params,
                              var_kwargs=var_kwargs))
    if len(found) != 1:
        what = ("no @tool function" if not found else
                "several @tool functions (" + ", ".join(t.name for t in found) + ")")
        raise SpecError(f"node '{node.name}': {file.name} has {what}; it needs exactly one",
                        file=str(flow.path), line=node.line, key=f"nodes.{node.name}.source.path",
                        hint="decorate the node's function with @tool "
                        "(from promptflow.core import tool)")
    return found[0]


def prepare_node(flow: Flow, node: Node) -> PreparedNode:
    """Load a python node's tool and check its inputs against the tool's parameters (unknown
    or missing inputs, literals that do not convert). Raises SpecError, UserCodeError, or
    UnsupportedError for a package tool Ember does not run."""
    if node.source.type != "code":
        target = PACKAGE_TOOLS.get(node.source.tool or "")
        if target is None:
            raise UnsupportedError(
                f"node '{node.name}': package tool '{node.source.tool}' is not supported "
                f"(supported: {', '.join(sorted(PACKAGE_TOOLS))}); write it as a python node")
        return PreparedNode(node=node, package=target, literals={
            k: v for k, v in node.inputs.items() if not references.is_reference(v)})
    tool = load_tool(flow, node)
    prepared = PreparedNode(node=node, tool=tool)
    where = f"nodes.{node.name}.inputs"
    known = {**tool.params, **tool.init_params}
    for key, value in node.inputs.items():
        param = known.get(key)
        if param is None and not tool.var_kwargs:
            raise SpecError(f"node '{node.name}': input '{key}' is not a parameter of tool "
                            f"{tool.name}", file=str(flow.path), line=node.line,
                            key=f"{where}.{key}", hint="parameters: " + ", ".join(known))
        if references.is_reference(value):
            if key in tool.init_params:
                raise SpecError(f"node '{node.name}': input '{key}' goes to {tool.name}'s "
                                "class __init__, which takes literals and connections only",
                                file=str(flow.path), line=node.line, key=f"{where}.{key}")
            continue
        if value is None or value == "":
            # promptflow drops empty literals so the parameter's default applies (exported
            # flows write unset inputs as "").
            prepared.skipped.add(key)
            continue
        if param is not None and not param.connections:
            try:
                value = _types.convert(value, param.kind)
            except ValueError as exc:
                raise SpecError(f"node '{node.name}': input '{key}' does not fit parameter "
                                f"'{key}: {param.kind}' of tool {tool.name}: {exc}",
                                file=str(flow.path), line=node.line,
                                key=f"{where}.{key}") from None
        prepared.literals[key] = value
    missing = [n for n, p in known.items() if p.default is MISSING
               and (n not in node.inputs or n in prepared.skipped)]
    if missing:
        raise SpecError(f"node '{node.name}' does not set required input(s) "
                        f"{', '.join(missing)} of tool {tool.name}", file=str(flow.path),
                        line=node.line, key=where, hint="an empty value counts as not set")
    return prepared


def prepare_flow(flow: Flow) -> dict[str, PreparedNode]:
    """``prepare_node`` for every python node."""
    return {n.name: prepare_node(flow, n) for n in flow.nodes if n.type == "python"}


def resolve_connections(prepared: PreparedNode, connections: ConnectionProvider) -> None:
    """Replace the connection names among a node's literal inputs by connection objects, once
    per executor as promptflow does when it resolves tools: a missing connection fails the
    executor's creation (NotFoundError), not every line."""
    tool = prepared.tool
    if tool is None:
        return
    params = {**tool.params, **tool.init_params}
    for key, value in list(prepared.literals.items()):
        param = params.get(key)
        if param is not None and param.connections and isinstance(value, str):
            prepared.literals[key] = connection_for(param, connections.get(value))


def connection_for(param: Param, plain: dict[str, Any]) -> Any:
    """The connection object a parameter gets. A custom connection given to a parameter
    annotated with a ``CustomStrongTypeConnection`` subclass becomes that class, as promptflow
    converts it (its keys as attributes, class defaults for the rest)."""
    conn = from_plain(plain)
    if isinstance(conn, CustomConnection):
        for cls in param.connection_classes:
            names = {c.__name__ for c in cls.__mro__}
            if "CustomStrongTypeConnection" in names and "CustomConnection" not in names:
                return cls(secrets=conn.secrets, configs=conn.configs, name=conn.name)
    return conn


def _connection(ctx: NodeContext, param: Param, value: Any) -> Any:
    if not isinstance(value, str):
        return value     # already an object (resolved at creation, or given to run_node)
    return connection_for(param, ctx.connections.get(value))


def _with_connections(tool: Tool, params: dict[str, Param], ctx: NodeContext,
                      values: dict[str, Any]) -> dict[str, Any]:
    return {k: _connection(ctx, params[k], v) if k in params and params[k].connections else v
            for k, v in values.items()}


async def invoke(prepared: PreparedNode, ctx: NodeContext, inputs: dict[str, Any]) -> Any:
    """Call the node's tool with its resolved inputs. Sync tools run in a worker thread (the
    context, hence the span, follows); async tools are awaited; a generator (sync or async) is
    returned as is. User errors propagate as raised."""
    if prepared.package is not None:
        return await _run_package(prepared, ctx, inputs)
    tool = prepared.tool
    assert tool is not None
    if tool.cls is not None:
        init = {k: v for k, v in inputs.items() if k in tool.init_params}
        call_args = {k: v for k, v in inputs.items() if k not in tool.init_params}
        instance = await run_sync(_instance, prepared, ctx, init)
        func: Callable[..., Any] = getattr(instance, tool.func.__name__)
    else:
        call_args, func = inputs, tool.func
    if any(tool.params.get(k) and tool.params[k].connections for k in call_args):
        call_args = await run_sync(_with_connections, tool, tool.params, ctx, call_args)
    if inspect.iscoroutinefunction(func):
        return await func(**call_args)
    if inspect.isasyncgenfunction(func):
        return func(**call_args)
    result = await run_sync(func, **call_args)
    # a sync wrapper around an async function (some decorators) hands back the coroutine
    return await result if inspect.isawaitable(result) else result


def _instance(prepared: PreparedNode, ctx: NodeContext, init: dict[str, Any]) -> Any:
    # One instance per executor (promptflow makes it when it resolves the tool); the lock keeps
    # concurrent first lines from making two.
    tool = prepared.tool
    assert tool is not None and tool.cls is not None
    with prepared.lock:
        if prepared.instance is None:
            prepared.instance = tool.cls(**_with_connections(tool, tool.init_params, ctx, init))
        return prepared.instance


async def _run_package(prepared: PreparedNode, ctx: NodeContext, inputs: dict[str, Any]) -> Any:
    from ember.flows import llm

    assert prepared.package is not None
    runner, api = prepared.package
    values = dict(inputs)
    connection = values.pop("connection", None) or prepared.node.connection
    node = replace(prepared.node, type="llm", api=api or prepared.node.api,
                   connection=connection)
    sub = replace(ctx, node=node)
    if runner == "llm":
        return await llm.run_llm_node(sub, values)
    run_embedding = getattr(llm, "run_embedding_node", None)
    if run_embedding is None:
        raise UnsupportedError(f"node '{node.name}': the embedding tool is not supported yet")
    result = run_embedding(sub, values)
    return await result if inspect.isawaitable(result) else result


def user_traceback(exc: BaseException) -> str:
    """The traceback of a user error without Ember's own frames (the user's code is what they
    need to see)."""
    skip = (str(Path(__file__).resolve().parent), sysconfig.get_paths()["stdlib"])
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(skip)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines)
