"""Where the draws of ``curate validate`` run: in this process (``local``) or one Ray task each (``ray``).

    curate validate out/a out/b --seeds 5 --executor ray --out runs/val              # a local Ray cluster
    RAY_ADDRESS=ray://head:10001 curate validate ... --executor ray --num-gpus 1     # a running cluster

    with make_executor(cfg, entries, model_objects=None, prune_fn=backend_prune, log=print) as ex:
        model_fp, info, dense_rows = ex.dense(check)   # once, shared by every draw
        done, failures = ex.run(draws, dense, bar)      # [(frame, facts)], [failure records]
        ex.store(table, sets)                           # curate predict's store (needs the model)

Both executors run :func:`curate.validate.run.run_draw`, which writes each finished draw to
``--out`` atomically (parquet last), so a local run, a Ray run and a second driver all resume
with the draws already on disk.

Ray (``ray`` is imported and initialised only here, only when asked for): the dense evaluation is
one task, then every draw is a task with ``num_cpus`` / ``num_gpus`` (default: one GPU where the
cluster has GPUs). Each task loads ``cfg.model`` itself (or gets its own copy of the caller's
``model_objects`` from the object store), runs in the driver's working directory when that
folder exists on its node, and sees the driver's ``CURATE_CACHE``. A worker that dies mid-draw
loses that draw only; Ray runs it again up to ``max_retries`` times, then it is a failed draw.
A draw that raises is not retried (an OOM raises the same way twice); it is a failed draw, as
locally. Ctrl-C cancels every task and removes what the unfinished draws had half-written.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evaluate.evaluator import Evaluator, MetricRow
from curate.validate.config import ValidateConfig
from curate.validate.dense import dense_scores, model_identity
from curate.validate.draw import Draw, PruneFn, run_draw
from curate.validate.draws import SetEntry

CANCEL_GRACE_S = 20.0  # Ctrl-C: how long cancelled tasks get to unwind before their workers are killed
POLL_S = 1.0  # how often the driver refreshes the bar while Ray tasks run
CARRIED_ENV = ("CURATE_CACHE",)  # the driver's settings a task runs with (the cache holds models and dense scores)

Check = Callable[[Any], None]  # called with the ModelInfo (or None) before any draw uses the sets


@contextmanager
def ctrl_c_at_poll():
    """While the driver polls its Ray tasks: Ctrl-C (SIGINT) sets a flag, and the poll loop raises
    KeyboardInterrupt where it reads it (within POLL_S). Yields the flag's reader.

    Raised by Python's default handler, the KeyboardInterrupt lands wherever the main thread is
    when the handler runs; where that is a finalizer (each poll makes ObjectRefs), Python reports
    "Exception ignored" and drops it. Setting a flag cannot be lost. A second Ctrl-C before the
    loop has read the first raises at once. The handler before (Python's, a host program's, or
    SIG_DFL, under which Ctrl-C would kill the driver without cancelling its tasks) is back when
    the loop ends; SIGINT ignored (SIG_IGN: e.g. a run started in the background of a
    non-interactive shell) stays ignored; only on the main thread (signals go there)."""
    import signal
    import threading

    pressed = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous == signal.SIG_IGN:
        yield pressed.is_set
        return

    def handler(signum, frame):
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield pressed.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def make_executor(cfg: ValidateConfig, entries: list[SetEntry], *, model_objects, prune_fn: PruneFn,
                  log: Callable[[str], None]):
    cls: type[Executor] = RayExecutor if cfg.executor == "ray" else LocalExecutor
    return cls(cfg, entries, model_objects=model_objects, prune_fn=prune_fn, log=log)


def failure_record(draw: Draw, error: str, tb: str, **extra: Any) -> dict[str, Any]:
    """One entry of ``failures.json`` (and of the report's failed draws)."""
    return {"set": draw.label, "seed": draw.seed, "error": error, "traceback": tb, **extra}


def remove_partial(draw: Draw) -> None:
    """Remove what an unfinished draw may have left: its facts without a parquet, temp files."""
    if not draw.path.exists():
        draw.path.with_suffix(".json").unlink(missing_ok=True)
    for name in (draw.path.name, draw.path.with_suffix(".json").name):
        for tmp in draw.path.parent.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


class Executor:
    """What both executors take, and the protocol they follow (see the module docstring): a
    context manager with ``dense(check)``, ``run(draws, dense, bar)`` and ``store(table, sets)``."""

    def __init__(self, cfg: ValidateConfig, entries: list[SetEntry], *, model_objects, prune_fn: PruneFn,
                 log: Callable[[str], None]):
        self.cfg, self.entries, self.prune_fn, self.log = cfg, entries, prune_fn, log
        self.model_objects = model_objects  # (model, tokenizer, ModelInfo) from the caller, or None: load cfg.model


class LocalExecutor(Executor):
    """Every draw in this process, one after another, on one model reset from a CPU copy."""

    def __enter__(self) -> LocalExecutor:
        if self.model_objects is not None:
            self.model, self.tokenizer, self.info = self.model_objects
        else:
            from curate.models import load_model

            self.model, self.tokenizer, self.info = load_model(self.cfg.model, dtype=self.cfg.dtype,
                                                               device=self.cfg.device)
        if self.cfg.quant is None:  # an N:M pattern the model's shapes cannot take fails here, not in every draw
            from prune_backend.sequential import check_nm

            check_nm(self.model, self.cfg.prune.nm)
        # A CPU copy of the dense weights: resetting a draw is a memcpy, not a 540 MB disk read.
        self.dense_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self.evaluator = Evaluator(self.cfg.eval, self.tokenizer, progress=self.cfg.progress)
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.load_state_dict(self.dense_state)  # hand the caller back the dense model

    def dense(self, check: Check = lambda info: None) -> tuple[str, Any, list[MetricRow]]:
        model_fp = model_identity(self.model, self.info)
        check(self.info)
        return model_fp, self.info, dense_scores(self.model, self.evaluator, model_fp, log=self.log)

    def run(self, draws: list[Draw], dense: dict[str, float], bar) -> tuple[list, list[dict[str, Any]]]:
        by_label = {e.label: e for e in self.entries}
        done, failures = [], []
        try:
            for d in draws:
                bar.set_postfix_str(d.name)
                try:
                    self.model.load_state_dict(self.dense_state)
                    done.append(run_draw(d, by_label[d.label], self.cfg, self.model, self.tokenizer, self.info,
                                         self.evaluator, dense, self.prune_fn))
                except Exception as exc:  # noqa: BLE001 - a failed draw (OOM included) must not lose the others
                    failures.append(failure_record(d, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                    self.log(f"draw {d.name} failed: {type(exc).__name__}: {exc}")
                bar.update(1)
        finally:
            self.model.load_state_dict(self.dense_state)  # the store's features need the dense model
        return done, failures

    def store(self, table, sets: dict[str, Any]) -> None:
        from curate.validate.predict import append_results

        append_results(table, self.cfg.store, sets=sets, model=self.model, tokenizer=self.tokenizer)


# ------------------------------------------------------------------------------------------ ray


@contextmanager
def _driver_context(cwd: str, env: dict[str, str]):
    """Run a task as if in the driver: its working directory (when this node has it; relative
    paths of held-out texts resolve as there) and its carried environment."""
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    if os.path.isdir(cwd):
        os.chdir(cwd)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _quiet() -> None:
    """A task's own progress bars (weights loading, set reading) would cut through the driver's one bar."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _task_model(cfg: ValidateConfig, objects):
    """(model, tokenizer, info) of a task: its own copy of the caller's objects, or cfg.model loaded."""
    if objects is not None:
        return objects
    from curate.models import load_model

    return load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)


def _node() -> str:
    """Where a task runs, for the bar and the draw's facts: host, and the GPUs Ray gave it."""
    import ray

    gpus = ray.get_gpu_ids()
    return socket.gethostname() + (f":gpu{','.join(map(str, gpus))}" if gpus else "")


def _dense_task(cfg: ValidateConfig, objects, cwd: str, env: dict[str, str]):
    _quiet()
    with _driver_context(cwd, env):
        model, tokenizer, info = _task_model(cfg, objects)
        model_fp = model_identity(model, info)
        rows = dense_scores(model, Evaluator(cfg.eval, tokenizer), model_fp, log=lambda msg: None)
        return model_fp, info, [r.to_dict() for r in rows]


def _draw_task(cfg: ValidateConfig, draw: Draw, spec: str, nsamples: int, objects, dense: dict[str, float],
               prune_fn: PruneFn, hub, cwd: str, env: dict[str, str]):
    import ray

    _quiet()
    node = _node()
    try:  # which attempt this is (1 = first); the bar shows it. Progress is best effort.
        attempt = ray.get(hub.start.remote(draw.name, node), timeout=30)
    except Exception:  # noqa: BLE001
        attempt = None
    with _driver_context(cwd, env):
        from curate.sets.read import load_set

        entry = SetEntry(draw.label, load_set(spec), nsamples, spec)
        model, tokenizer, info = _task_model(cfg, objects)
        return run_draw(draw, entry, cfg, model, tokenizer, info, Evaluator(cfg.eval, tokenizer), dense, prune_fn,
                        where={"node": node, "attempt": attempt})


def _store_task(cfg: ValidateConfig, objects, table, sets: dict[str, str], cwd: str, env: dict[str, str]):
    from curate.validate.predict import append_results

    _quiet()
    with _driver_context(cwd, env):
        model, tokenizer, _ = _task_model(cfg, objects)
        append_results(table, cfg.store, sets=sets, model=model, tokenizer=tokenizer)


class _Hub:
    """A Ray actor the draw tasks report to when they start: {draw: (node, start time, attempt)}."""

    def __init__(self) -> None:
        self.running: dict[str, tuple[str, float, int]] = {}

    def start(self, name: str, node: str) -> int:
        attempt = self.running[name][2] + 1 if name in self.running else 1
        self.running[name] = (node, time.time(), attempt)
        return attempt

    def state(self) -> dict[str, tuple[str, float, int]]:
        return self.running


def running_line(state: dict[str, tuple[str, float, int]], pending: list[str], now: float, shown: int = 3) -> str:
    """The bar's postfix: the running draws (of those still pending), where, for how long."""
    runs = sorted((state[n][1], n) for n in pending if n in state)
    parts = []
    for t0, n in runs[:shown]:
        node, _, attempt = state[n]
        parts.append(f"{n} @{node} {now - t0:.0f}s" + (f" (attempt {attempt})" if attempt > 1 else ""))
    more = len(runs) - shown
    return ", ".join(parts) + (f", +{more} running" if more > 0 else "") + \
        (f"; {len(pending) - len(runs)} queued" if len(pending) > len(runs) else "")


class RayExecutor(Executor):
    """Every draw a Ray task; the dense evaluation and the store's features one task each."""

    def __enter__(self) -> RayExecutor:
        from curate.errors import requires

        ray = self.ray = requires("ray", extra="ray", what="--executor ray")
        self.started = not ray.is_initialized()
        if self.started:
            t0 = time.perf_counter()
            ray.init()  # RAY_ADDRESS names a cluster; without it a local one that ends with this run
            self.log(f"ray: connected in {time.perf_counter() - t0:.1f}s")
        try:
            self._setup()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _setup(self) -> None:
        ray, cfg = self.ray, self.cfg
        total = ray.cluster_resources()
        gpus = cfg.num_gpus if cfg.num_gpus is not None else (1.0 if total.get("GPU", 0) > 0 else 0.0)
        cpus = cfg.num_cpus if cfg.num_cpus is not None else 1.0
        for what, want, flag in (("GPU", gpus, "--num-gpus"), ("CPU", cpus, "--num-cpus")):
            if want > total.get(what, 0):  # Ray would queue the tasks forever
                raise CurateError(f"{flag} {want:g}: the Ray cluster has {total.get(what, 0):g} {what}(s)",
                                  hint=f"lower {flag} or add nodes with {what}s to the cluster")
        self.options = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": cfg.max_retries, "retry_exceptions": False}
        self.log(f"ray: {total.get('CPU', 0):g} CPU(s), {total.get('GPU', 0):g} GPU(s); "
                 f"each draw takes {cpus:g} CPU(s) and {gpus:g} GPU(s)")
        # Paths as the tasks must see them: absolute (the driver's folder, shared on a cluster).
        self.task_cfg = cfg.model_copy(update={
            "progress": False, "out": Path(cfg.out).absolute(),
            "rebuild_dir": None if cfg.rebuild_dir is None else Path(cfg.rebuild_dir).absolute(),
            "store": None if cfg.store is None else Path(cfg.store).absolute()})
        self.specs = {e.label: str(Path(e.spec).absolute()) if Path(e.spec).exists() else e.spec for e in self.entries}
        self.cwd, self.env = os.getcwd(), {k: os.environ[k] for k in CARRIED_ENV if k in os.environ}
        self.objects = None if self.model_objects is None else ray.put(self.model_objects)

    def __exit__(self, *exc: object) -> None:
        self.objects = None
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()

    def _get(self, ref):
        """ray.get of a one-off task: its own exception (a CurateError stays one line), Ctrl-C cancels it."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise exc.cause if isinstance(exc.cause, BaseException) else exc from None
        except KeyboardInterrupt:
            ray.cancel(ref, force=True)
            raise

    def dense(self, check: Check = lambda info: None) -> tuple[str, Any, list[MetricRow]]:
        t0 = time.perf_counter()
        task = self.ray.remote(_dense_task).options(**self.options)
        model_fp, info, rows = self._get(task.remote(self.task_cfg, self.objects, self.cwd, self.env))
        check(info)
        self.log(f"dense scores: {time.perf_counter() - t0:.1f}s in a Ray task (cached under CURATE_CACHE)")
        return model_fp, info, [MetricRow(**r) for r in rows]

    def run(self, draws: list[Draw], dense: dict[str, float], bar) -> tuple[list, list[dict[str, Any]]]:
        ray, cfg = self.ray, self.cfg
        if not draws:
            return [], []
        task = ray.remote(_draw_task).options(**self.options)
        hub = ray.remote(num_cpus=0)(_Hub).remote()
        pending: dict[Any, Draw] = {}
        for d in draws:
            d = Draw(d.label, d.seed, d.path.absolute())
            entry = next(e for e in self.entries if e.label == d.label)
            ref = task.remote(self.task_cfg, d, self.specs[d.label], entry.nsamples, self.objects, dense,
                              self.prune_fn, hub, self.cwd, self.env)
            pending[ref] = d
        done: list = []
        failures: list[dict[str, Any]] = []
        try:
            with ctrl_c_at_poll() as interrupted:
                self._poll(pending, done, failures, hub, bar, interrupted)
        except KeyboardInterrupt:
            self.log(f"interrupted: cancelling {len(pending)} draw(s); finished draws stay in {cfg.out}")
            self._cancel(pending)
            raise
        finally:
            ray.kill(hub)
        return done, failures

    def _poll(self, pending: dict[Any, Draw], done: list, failures: list[dict[str, Any]], hub, bar,
              interrupted: Callable[[], bool]) -> None:
        """Wait for the draws, POLL_S at a time: collect each finished one into ``done`` or
        ``failures`` (and off ``pending``), refresh the bar; KeyboardInterrupt once Ctrl-C was pressed."""
        ray, cfg = self.ray, self.cfg
        state: dict[str, tuple[str, float, int]] = {}
        while pending:
            if interrupted():
                raise KeyboardInterrupt
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL_S)
            try:
                state = ray.get(hub.state.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - progress is best effort; the draws go on
                pass
            for ref in ready:
                d = pending.pop(ref)
                try:
                    done.append(ray.get(ref))
                except ray.exceptions.RayTaskError as exc:  # the draw raised: not retried, as locally
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    failures.append(failure_record(d, f"{type(cause).__name__}: {cause}", str(exc),
                                                   node=state.get(d.name, ("?",))[0]))
                    self.log(f"draw {d.name} failed: {type(cause).__name__}: {cause}")
                except ray.exceptions.RayError as exc:  # its worker or node died more than max_retries times
                    node, _, attempts = state.get(d.name, ("?", 0.0, cfg.max_retries + 1))
                    error = (f"{type(exc).__name__}: the worker running the draw died on attempt {attempts} "
                             f"of {cfg.max_retries + 1} (last on {node})")
                    failures.append(failure_record(d, error, str(exc), node=node, attempts=attempts))
                    remove_partial(d)
                    self.log(f"draw {d.name} failed: {error}")
                bar.update(1)
            bar.set_postfix_str(running_line(state, [d.name for d in pending.values()], time.time()),
                                refresh=True)
        if interrupted():  # pressed while the last draws finished: still an interrupted run
            raise KeyboardInterrupt

    def _cancel(self, pending: dict[Any, Draw]) -> None:
        """Cancel every unfinished task, give them CANCEL_GRACE_S to unwind (a KeyboardInterrupt in
        the task: atomic writes remove their temp file), kill the rest, remove half-written files."""
        ray = self.ray
        refs = list(pending)
        for r in refs:
            ray.cancel(r)
        _, stuck = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
        for r in stuck:
            ray.cancel(r, force=True)
        if stuck:
            ray.wait(stuck, num_returns=len(stuck), timeout=CANCEL_GRACE_S)
        for d in pending.values():
            remove_partial(d)

    def store(self, table, sets: dict[str, Any]) -> None:
        paths = {k: v if isinstance(v, str | Path) else self.specs.get(k, str(getattr(v, "path", k)))
                 for k, v in sets.items()}
        task = self.ray.remote(_store_task).options(**self.options)
        self._get(task.remote(self.task_cfg, self.objects, table, paths, self.cwd, self.env))
