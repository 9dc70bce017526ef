"""The Typer app: parse options, call one library function, render. Nothing else lives here.

Start-up is the cost every Tab press and every cron tick pays, so this module imports only Typer, the
standard library and the small modules every path needs (``clibase``: the command classes; ``errors``,
``logs``). The rest (settings and pydantic, the HTTP stack, rich) is imported inside the commands that use
it: ``--version``, ``--help`` and shell completion never load it, and a quiet ``run-once`` off a terminal
never loads rich (``tests/test_startup.py`` keeps it so).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TextIO, TypeVar

import typer

from cxone_tune import __version__, logs, startup
from cxone_tune.clibase import (
    Command,
    Group,
    command_tree,
    load_help_renderer,
    shell_names,
    show_or_install_completion,
)
from cxone_tune.errors import INTERRUPTED, CxoneTuneError, Terminated, UsageError, exit_codes

if TYPE_CHECKING:
    from rich.console import Console

    from cxone_tune import cycle
    from cxone_tune.profiles import LoginInfo, Profile
    from cxone_tune.settings import Settings
    from cxone_tune.targets import TargetSpec


def _exit_codes_epilog() -> str:
    """The main help's epilog: every exit code, from the error hierarchy (errors.py)."""
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in exit_codes())
    return f"[bold]Exit codes[/bold] (details in the README):\n{rows}"


app = typer.Typer(
    name="cxone-tune",
    cls=Group,
    help="Keep NICE CXone outbound pacing in step with the agents actually available.",
    epilog=_exit_codes_epilog(),
    add_completion=False,  # its own --install-completion/--show-completion [SHELL], on main_callback
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", "-n", help="Read and decide, but never write.")]


@dataclass
class Options:
    verbose: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    config: Path | None = None
    target: str | None = None
    current: str | None = None  # the target being worked on, named by a failed --json run's document

    def settings(self) -> Settings:
        """The settings of the one target this command works on."""
        specs = self.specs()
        if len(specs) > 1:
            names = ", ".join(str(spec.name) for spec in specs)
            raise UsageError(f"this command works on one target; choose one with --target ({names})")
        return self.target_settings(specs[0])

    def specs(self) -> list[TargetSpec]:
        from cxone_tune.targets import load_targets

        specs = load_targets(self.config)
        if self.target is None:
            return specs
        chosen = [spec for spec in specs if spec.name == self.target]
        if not chosen:
            raise UsageError(f"--target {self.target!r} is not in the config file")
        return chosen

    def target_settings(self, spec: TargetSpec) -> Settings:
        from cxone_tune.targets import target_settings

        self.current = spec.name
        settings = target_settings(spec, self.overrides)
        logs.redact_settings(settings)
        return settings


@dataclass
class Outcome(Generic[T]):
    target: str | None
    result: T | None = None
    exit_code: int = 0
    error: str | None = None


@dataclass(frozen=True)
class TargetRun:
    name: str | None
    settings: Settings
    several: bool  # one of several targets: output is headed by the target's name

    def job(self) -> cycle.Job:
        from cxone_tune import cycle

        return cycle.Job.from_settings(self.settings)

    def heading(self, out: Console) -> None:
        if self.several and self.name is not None:
            from cxone_tune.text import markup_safe

            out.rule(markup_safe(f"target {self.name}"))


def _each_target(options: Options, work: Callable[[TargetRun], T]) -> list[Outcome[T]]:
    """Run ``work`` for every target. With one target its errors end the command as usual; with several,
    a failing target is reported and the others still run."""
    specs = options.specs()
    if len(specs) == 1:
        return [Outcome(specs[0].name, work(TargetRun(specs[0].name, options.target_settings(specs[0]), False)))]
    outcomes: list[Outcome[T]] = []
    for spec in specs:
        try:
            outcomes.append(Outcome(spec.name, work(TargetRun(spec.name, options.target_settings(spec), True))))
        except CxoneTuneError as exc:
            logs.failure_story()
            logs.error(f"target {spec.name!r}: {exc}")
            outcomes.append(Outcome(spec.name, None, exc.exit_code, str(exc)))
    return outcomes


def _finish(outcomes: list[Outcome[T]], json_output: bool, document: Callable[[T], Any]) -> None:
    """Print (for JSON) and exit with the worst code. One target: its document as is; several: a list."""
    from cxone_tune import documents
    from cxone_tune.targets import worst_exit

    code = worst_exit([o.exit_code for o in outcomes])
    if json_output:
        if len(outcomes) == 1 and outcomes[0].result is not None:
            _emit_json(document(outcomes[0].result))
        else:
            entries = [
                documents.target_entry(o.target, document(o.result))
                if o.result is not None
                else documents.failed_target(o.target, o.exit_code, o.error)
                for o in outcomes
            ]
            _emit_json(documents.several_targets(entries, code))
    if code:
        raise typer.Exit(code)


def _emit_json(document: Any) -> None:
    """The one JSON document of ``--json`` (built in ``documents.py``), as is: no rich needed."""
    import json

    try:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (| head -1): the command still ends with its own exit code
        from cxone_tune.render import stdout_to_devnull

        stdout_to_devnull()


def _console() -> Console:
    from cxone_tune import render

    return render.console()


def _is_terminal(stream: TextIO) -> bool:
    """A person is reading ``stream``. Not rich's ``is_terminal``: FORCE_COLOR asks for colour, not for a
    spinner, and must not turn a quiet cron run chatty."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream (tests, pipes that went away)
        return False


def _options(ctx: Any) -> Options:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Options) else Options()


# Commands that open an API client as soon as they start: the TLS context is loaded ahead for them
# (http.prepare_tls), and their start-up ends when the client is open (cycle.Job.open resumes the collector).
_STARTS_WITH_A_CLIENT = frozenset({"run-once", "compute", "apply", "agents", "auth-check"})


def handles_errors(command: F) -> F:
    """Expected failures become one line on stderr and their exit code; bugs become exit 70."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")  # every command takes ``ctx``; Typer passes parameters by name
        options = _options(ctx)
        # A failed --json run still prints one document on stdout: the several-target form's entry for it.
        json_for = options if kwargs.get("json_output") else None
        try:
            if ctx is not None and ctx.info_name in _STARTS_WITH_A_CLIENT:
                from cxone_tune.http import prepare_tls

                prepare_tls()  # the CA store loads on a thread while the settings and the run's imports do
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # a write of its own to stdout (rich's console carries on by itself)
            from cxone_tune.render import stdout_to_devnull

            stdout_to_devnull()  # the reader has what it wanted: no failure, no traceback
            raise typer.Exit(0) from None
        except CxoneTuneError as exc:
            _fail(exc.exit_code, str(exc), _traceback() if options.verbose >= 2 else None, json_for)
        except Terminated:
            _fail(Terminated.exit_code, "terminated (SIGTERM); stopped cleanly", None, json_for)
        except KeyboardInterrupt:
            _fail(INTERRUPTED, "interrupted", None, json_for)
        except Exception as exc:
            hint = "" if options.verbose else " (run with --verbose for details)"
            _fail(
                70,
                f"internal error (a bug): {type(exc).__name__}: {exc}{hint}",
                _traceback() if options.verbose else None,
                json_for,
            )

    return wrapper  # type: ignore[return-value]


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


def _fail(code: int, message: str, trace: str | None, json_for: Options | None = None) -> None:
    """End the command: the held-back story and the error line on stderr, the error document on stdout for
    ``--json`` (``json_for``: the run's options), and the exit code."""
    logs.failure_story()  # off a terminal: the INFO lines held back so far
    logs.error(message, trace)
    if json_for is not None:
        from cxone_tune import documents

        name = json_for.current if json_for.current is not None else json_for.target
        _emit_json(documents.failed_target(name, code, logs.mask(message)))
    raise typer.Exit(code) from None


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A spinner on stderr while agent pages arrive, only for a person at a terminal."""
    if not enabled or not _is_terminal(sys.stderr):
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status(label) as status:
        yield lambda pages, agents: status.update(f"{label} {agents} agents, {pages} page(s)")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cxone-tune {__version__}")
        raise typer.Exit


def _api_profile(value: str | None) -> str | None:
    """``--api`` names a registered profile: anything else is a usage error (2), like any bad option value
    (``CXONE_API`` in the environment or a config file stays a configuration error, 78)."""
    if value is not None:
        from cxone_tune import profiles

        if value not in profiles.names():
            known = " or ".join(repr(name) for name in profiles.names())
            raise typer.BadParameter(f"{value!r} is not an API profile; expected {known}")
    return value


@app.callback()
def main_callback(
    ctx: typer.Context,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr; twice for debug and tracebacks.")
    ] = 0,
    api: Annotated[
        str | None,
        typer.Option(metavar="PROFILE", callback=_api_profile, help="API profile: v2 or acd (env CXONE_API)."),
    ] = None,
    tenant_url: Annotated[
        str | None, typer.Option(metavar="URL", help="v2 API base URL (env CXONE_TENANT_URL).")
    ] = None,
    campaign_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Campaign to steer (env CXONE_CAMPAIGN_ID).")
    ] = None,
    # Text, not Path: the settings read "" as "not set" (the default); a Path("") would be the working directory.
    cache_dir: Annotated[
        str | None, typer.Option(metavar="DIR", help="Token cache directory (env CXONE_CACHE_DIR).")
    ] = None,
    state_dir: Annotated[
        str | None, typer.Option(metavar="DIR", help="Lock and audit log directory (env CXONE_STATE_DIR).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="TOML file of targets (default: ~/.config/cxone-tune/config.toml when it exists)."
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(metavar="NAME", help="Only this target of the config file.")] = None,
    log_format: Annotated[
        logs.LogFormat,
        typer.Option(
            metavar="FORMAT",
            help="Log lines on stderr: text, journal (<N> priority prefixes) or json; auto picks.",
        ),
    ] = "auto",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    install_completion: Annotated[
        str | None,
        typer.Option(
            metavar="[SHELL]",
            callback=show_or_install_completion,
            autocompletion=shell_names,
            is_eager=True,
            expose_value=False,
            help="Install completion for the current shell, or for SHELL: bash, zsh, fish or powershell.",
        ),
    ] = None,
    show_completion: Annotated[
        str | None,
        typer.Option(
            metavar="[SHELL]",
            callback=show_or_install_completion,
            autocompletion=shell_names,
            is_eager=True,
            expose_value=False,
            help="Show completion for the current shell, or for SHELL, to copy it or customize the installation.",
        ),
    ] = None,
) -> None:
    """Read agent availability, compute the outbound pacing limit, and update it.

    Settings come from CXONE_* environment variables, a .env file, or systemd credentials; the options
    here override them. See the README for the full list.
    """
    logs.setup_logging(verbose, log_format)
    if ctx.invoked_subcommand not in _STARTS_WITH_A_CLIENT:
        startup.resume_gc()  # a command that opens no API client, or runs for long: the collector runs from here
    ctx.obj = Options(
        verbose,
        {
            "api": api,
            "tenant_url": tenant_url,
            "campaign_id": campaign_id,
            "cache_dir": cache_dir,
            "state_dir": state_dir,
        },
        config,
        target,
    )


@app.command("auth-check", cls=Command, short_help="Get or reuse a token and say for how long it is valid.")
@handles_errors
def auth_check(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Get (or reuse) a token, prove it with one cheap read when it came from the cache, and say for how long
    it is valid."""

    from cxone_tune import documents, render

    def work(run: TargetRun) -> LoginInfo:
        with run.job().open() as profile:
            return profile.auth_check()

    outcomes = _each_target(_options(ctx), work)
    if not json_output:
        for outcome in outcomes:
            if outcome.result is not None:
                prefix = f"{outcome.target}: " if len(outcomes) > 1 else ""
                render.console().print(prefix + render.login_line(outcome.result), markup=False)
    _finish(outcomes, json_output, documents.login_document)


@app.command(cls=Command, short_help="The agents the target is paced for, with counts per state.")
@handles_errors
def agents(
    ctx: typer.Context,
    json_output: JsonOption = False,
    state: Annotated[
        list[str] | None, typer.Option(metavar="STATE", help="Only list agents in this state (repeatable).")
    ] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Only the counts per state, no agent rows.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Keep refreshing until Ctrl-C, which exits 0 (off a terminal: a line per refresh;"
            " with --json: a JSON document per line). See the README.",
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="With --watch: seconds between refreshes, 1 to 3600 (default 5)."),
    ] = None,
    count: Annotated[
        int | None, typer.Option(metavar="N", help="With --watch: stop after N refreshes (default: at Ctrl-C).")
    ] = None,
    pool: Annotated[
        bool,
        typer.Option(
            "--pool",
            help="Also the steered skill's pool beside the tenant's agents and the skill's activity (acd); with"
            " --watch, in every refresh (the activity: one request more each).",
        ),
    ] = False,
) -> None:
    """A table of agents (id, name, state, queue, team) and the counts per state: the agents the target is paced
    for (acd: the steered skill's assigned agents, unless CXONE_POOL_SOURCE=tenant); --watch keeps it up to
    date."""
    from cxone_tune import cycle, documents, render

    if watch:
        from cxone_tune.watch import watch_agents

        code = watch_agents(
            _options(ctx).settings(),
            render.console(),
            interval=interval,
            count=count,
            json_output=json_output,
            states=state or [],
            summary=summary,
            pool=pool,
        )
        raise typer.Exit(code)
    if interval is not None or count is not None:
        raise UsageError("--interval and --count go with --watch")
    out = render.console()

    def work(run: TargetRun) -> dict[str, Any]:
        job = run.job()
        # Shown on stdout (the --pool table's disagreement line): not a warning on stderr as well.
        shown = logs.conditions_shown(not json_output)
        with shown, job.open() as profile, _progress("Reading agents...", not json_output) as on_page:
            snapshot, pooled = cycle.read_agents(job, profile, on_page, activity=pool, check=False)
        listed = snapshot.in_states(state or [])
        if not json_output:
            run.heading(out)
            styles = job.profile_class.state_styles
            if not summary:
                out.print(render.agents_table(listed, job.profile_class.group_label, styles))
            out.print(render.summary_table(snapshot, styles))
            if pool:
                render.print_pool(out, pooled, job.target, styles)
        return documents.agents_document(snapshot, listed, summary=summary, pool=pooled)

    _finish(_each_target(_options(ctx), work), json_output, lambda document: document)


@app.command(cls=Command, short_help="Show the limit the policy would set, and why. Writes nothing.")
@handles_errors
def compute(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Fetch agents and show the limit the policy would set, each rule that fired, and why. Writes nothing."""
    from cxone_tune import cycle, documents, render

    out = render.console()

    def work(run: TargetRun) -> dict[str, Any]:
        job = run.job()
        shown = logs.conditions_shown(not json_output)  # the pool's disagreement, the guard's unreadable windows
        with shown, job.open() as profile, _progress("Reading agents...", not json_output) as on_page:
            result = cycle.compute(job, profile, on_page)
        if not json_output:
            run.heading(out)
            render.print_compute(out, result)
        return documents.compute_document(result)

    _finish(_each_target(_options(ctx), work), json_output, lambda document: document)


@app.command(cls=Command, short_help="Set the steered value to LIMIT, within the configured bounds.")
@handles_errors
def apply(
    ctx: typer.Context,
    limit: Annotated[
        float,
        typer.Argument(
            metavar="LIMIT",
            help="The value to set, within CXONE_MIN_LIMIT..MAX_LIMIT (a ratio: CXONE_MIN_RATIO..MAX_RATIO).",
        ),
    ],
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write a raise above what the abandon guard allows (the output and audit say so)."
        ),
    ] = False,
) -> None:
    """Set the steered value to LIMIT (refusing values outside the configured bounds, and a raise above what the
    abandon guard allows unless --force)."""
    from cxone_tune import cycle, documents
    from cxone_tune.runner import recorded_run

    job = cycle.Job.from_settings(_options(ctx).settings())

    def action(profile: Profile) -> cycle.ApplyResult:
        guard = cycle.hand_guard(job, profile, force=force)
        return cycle.apply_limit(job, profile, limit, dry_run=dry_run, guard=guard)

    result = recorded_run(job, "apply", dry_run=dry_run, action=action)
    if json_output:
        _emit_json(documents.apply_document(result))
    else:
        from cxone_tune import render

        render.console().print(render.change_line(result), markup=False)


@app.command("run-once", cls=Command, short_help="The whole cycle for cron and timers: fetch, compute, update.")
@handles_errors
def run_once(
    ctx: typer.Context,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
    quiet: Annotated[
        bool | None,
        typer.Option(
            "--quiet/--no-quiet",
            "-q",
            help="Print nothing when nothing changed, one line when it did. Default: on when stdout is not a terminal.",
        ),
    ] = None,
) -> None:
    """The whole cycle: fetch agents, compute the limit, update it if it differs. For cron and timers."""
    from cxone_tune import cycle, documents
    from cxone_tune.runner import recorded_run

    options = _options(ctx)
    if quiet is None:
        quiet = not _is_terminal(sys.stdout) and not dry_run and options.verbose == 0

    def work(run: TargetRun) -> cycle.CycleResult:
        job = run.job()

        def action(profile: Profile) -> cycle.CycleResult:
            with _progress("Reading agents...", not json_output) as on_page:
                return cycle.run_once(job, profile, dry_run=dry_run, on_page=on_page)

        with logs.conditions_shown(not json_output and not quiet):  # print_cycle shows them below
            result = recorded_run(job, "run-once", dry_run=dry_run, action=action)
        if json_output or (quiet and not result.apply.changed):
            return result  # a quiet no-op prints nothing, so it never loads rich
        from cxone_tune import render

        out = render.console()
        if not quiet:
            run.heading(out)
            render.print_cycle(out, result)
        else:
            # cron mails whatever a job prints: only a change (or a failure, on stderr) is worth a mail
            prefix = f"{run.name}: " if run.several else ""
            out.print(prefix + render.change_line(result.apply), markup=False)
        return result

    _finish(_each_target(options, work), json_output, documents.run_once_document)


@app.command(cls=Command, short_help="The audit log: every decision of run-once and apply.")
@handles_errors
def history(
    ctx: typer.Context,
    json_output: JsonOption = False,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="How many of the newest records.")] = 20,
) -> None:
    """The audit log: every decision of run-once and apply, newest last."""
    from cxone_tune import audit, documents

    options = _options(ctx)
    # Every target of a config file records into its state directory; read each one once.
    directories = dict.fromkeys(options.target_settings(spec).resolved_state_dir() for spec in options.specs())
    records = sorted(
        (record for directory in directories for record in audit.read(directory)), key=lambda r: str(r.get("time"))
    )[-limit:]
    if json_output:
        _emit_json(documents.history_document(records))
    else:
        from cxone_tune import render

        out = render.console()
        out.print(render.history_table(records, out.width))


@app.command(cls=Command, short_help="The effective settings and where each comes from.")
@handles_errors
def config(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """The effective settings and where each comes from; secrets are shown as ***."""
    from cxone_tune.settings import setting_sources

    options = _options(ctx)
    settings = options.settings()
    sources = setting_sources(options.overrides)
    if json_output:
        from cxone_tune import documents

        _emit_json(documents.config_document(settings, sources))
    else:
        from cxone_tune import render

        render.console().print(render.config_table(settings, sources))


@app.command(cls=Command, short_help="Replay the policy over a trace or the audit log, with a chart.")
@handles_errors
def replay(
    ctx: typer.Context,
    trace: Annotated[
        Path | None,
        typer.Argument(
            metavar="TRACE",
            help=(
                "CSV file (- reads standard input): a time column, then one column of agent counts per state; "
                "optional abandons and handled columns (calls since the row before) feed the abandon guard."
            ),
        ),
    ] = None,
    json_output: JsonOption = False,
    width: Annotated[int | None, typer.Option(help="Chart width in columns (default: the terminal's).")] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history", help="Replay the audit log's recorded runs instead of a trace, against what was written."
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="With --history: runs from this ISO date or time on (local, or Z/offset)."),
    ] = None,
    target_name: Annotated[
        str | None,
        typer.Option(
            "--target", metavar="NAME", help="With --history: the target (config name, target id, or PROFILE:ID)."
        ),
    ] = None,
) -> None:
    """Run the configured policy over a recorded or synthetic day (TRACE) against the design's rule, or over the
    audit log's own runs (--history) against what was written, with a chart."""
    from cxone_tune.replay import run_history, run_replay

    options = _options(ctx)
    if history:
        targets = [(spec.name, options.target_settings(spec)) for spec in options.specs()]
        run_history(
            targets,
            _console(),
            since=since,
            target=target_name,
            json_output=json_output,
            width=width,
            trace=trace,
        )
    elif since is not None or target_name is not None:
        raise UsageError("--since and --target go with --history")
    else:
        run_replay(trace, options.settings(), _console(), json_output=json_output, width=width)


def _fault_kinds_epilog() -> str:
    """The sandbox command's epilog: every fault kind with its line, from the sandbox's registry."""
    from rich.markup import escape

    from cxone_sandbox.faults import FAULT_KINDS  # stdlib-only and small: not the server

    lines = [f"[bold]{name}[/bold]: {escape(kind.description)}" for name, kind in FAULT_KINDS.items()]
    intro = (
        'Faults to inject, by POST /_sandbox/faults with a JSON Fault such as {"kind": "status", "status": 503}'
        " (path prefix, method, times, after; see docs/reliability.md). The kinds:"
    )
    return "\n\n".join([intro, *lines])


class _SandboxCommand(Command):
    """The sandbox command: its epilog lists the fault kinds, read from the sandbox's registry only when the
    help is shown (importing it, and rich's escaping, would cost every other command's start-up)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.epilog = _fault_kinds_epilog()
        super().format_help(ctx, formatter)


@app.command(cls=_SandboxCommand, short_help="Serve a local sandbox tenant on loopback until Ctrl-C.")
@handles_errors
def sandbox(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(metavar="PORT", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 8787,
    agents: Annotated[int, typer.Option(metavar="N", min=0, max=1_000_000, help="Number of agents.")] = 40,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for the agent mix.")] = 1,
    token_ttl: Annotated[int, typer.Option(metavar="SECONDS", min=1, help="Token lifetime in seconds.")] = 3600,
    latency: Annotated[float, typer.Option(metavar="SECONDS", min=0, help="Seconds added to every answer.")] = 0.0,
) -> None:
    """Serve a local sandbox tenant on loopback, for rehearsals and tests. Ctrl-C stops it."""
    from cxone_tune.demo import serve_sandbox

    serve_sandbox(port=port, agents=agents, seed=seed, token_ttl=token_ttl, latency=latency)


def _demo_profiles(incomplete: str) -> list[str]:
    """Tab completion of ``demo --api``: the profiles the demo can show (demo.py knows them)."""
    from cxone_tune.demo import SANDBOX_PROFILES

    return [name for name in SANDBOX_PROFILES if name.startswith(incomplete)]


@app.command(cls=Command, short_help="Show the whole tool working against an in-process sandbox.")
@handles_errors
def demo(
    ctx: typer.Context,
    agents: Annotated[int, typer.Option(metavar="N", min=0, max=100_000, help="Number of agents in the sandbox.")] = 40,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for the agent mix.")] = 1,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            metavar="PROFILE",
            autocompletion=_demo_profiles,
            help="API profile to show: v2 or acd. Default: the global --api, else CXONE_API, else v2.",
        ),
    ] = None,
) -> None:
    """Show the whole tool working against an in-process sandbox tenant (nothing leaves this machine)."""
    from cxone_tune.demo import demo_profile, run_demo

    chosen = demo_profile(api, _options(ctx).overrides.get("api"))
    with logs.conditions_shown():  # it prints every run's pool and guard
        run_demo(_console(), agents=agents, seed=seed, api=chosen)


@app.command("print-unit", cls=Command, short_help="Print the systemd units of the package, or write them to a DIR.")
@handles_errors
def print_unit(
    ctx: typer.Context,
    unit: Annotated[
        Literal["service", "timer", "failure"] | None,
        typer.Argument(
            metavar="UNIT",
            help="Which unit: service, timer or failure (the OnFailure= handler). Default: all three.",
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", metavar="DIR", help="Write the units into this directory (e.g. /etc/systemd/system), not stdout."
        ),
    ] = None,
) -> None:
    """The systemd units shipped with the package, ExecStart= set to this cxone-tune; see the README."""
    from cxone_tune import units

    kinds, command = units.selected(unit), units.running_command()
    units.warn_if_hidden(command)
    if directory is None:
        sys.stdout.write(units.render(kinds, command))
        return
    for path in units.write(kinds, command, directory):
        typer.echo(f"wrote {path}")


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    # SIGTERM (systemd stopping the unit, a timeout, kill) unwinds like Ctrl-C: every file write in the tool
    # is a rename or a single append, so stopping between two statements never leaves half a file.
    signal.signal(signal.SIGTERM, _terminate)
    if os.environ.get("_CXONE_TUNE_COMPLETE", "complete_bash") != "complete_bash":
        # zsh, fish and PowerShell completions show each choice's help, rendered by Typer's rich renderer
        load_help_renderer()
    try:
        command_tree(app)(prog_name="cxone-tune")  # Typer's app(), each command built only when it is looked up
    finally:
        try:
            sys.stdout.flush()  # here, not at interpreter exit, where a reader that left costs a traceback
        except BrokenPipeError:
            from cxone_tune.render import stdout_to_devnull

            stdout_to_devnull()


if __name__ == "__main__":  # pragma: no cover
    main()
