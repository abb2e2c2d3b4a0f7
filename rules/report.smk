# Gather each track's rows (with what is derived against its teacher), combine the tracks into
# results/leaderboard.parquet, and render the static site from it.

# Cheap steps over files every job wrote: run where snakemake runs, never submitted to a cluster.
localrules:
    gather,
    combine,
    render,
    run_status,


rule gather:
    input:
        metrics=variant_files("results/{track}/metrics/{variant}.parquet"),
        measures=variant_files("results/{track}/measure/{variant}.parquet"),
        predictions=variant_files("results/{track}/predictions/{variant}.parquet"),
    output:
        "results/{track}/leaderboard.parquet",
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/gather.log",
    shell:
        suite_command(
            "gather --resolved {params.resolved}"
            " --metrics {input.metrics} {input.measures}"
            " --predictions {input.predictions} --output {output} > {log} 2>&1"
        )


rule combine:
    input:
        track_files("results/{track}/leaderboard.parquet"),
    output:
        report("results/leaderboard.parquet", caption="../report/results.rst", category="Results"),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/combine.log",
    shell:
        suite_command("combine --input {input} --output {output} > {log} 2>&1")


rule render:
    input:
        results="results/leaderboard.parquet",
        schema=SCHEMA_FILES,
        resolved=track_files("results/{track}/config.resolved.json"),
    output:
        # The whole site (index.html, pages, figures, downloads): the directory is one output, replaced as a whole.
        report(
            directory("results/site"), htmlindex="index.html", caption="../report/site.rst", category="Leaderboard"
        ),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/render.log",
    shell:
        suite_command(
            "render --input {input.results} --schema {input.schema} --resolved {input.resolved}"
            " --output {output} > {log} 2>&1"
        )


rule run_status:
    """The run's verdict, last: what failed (variants, numbers, rejected entries) on the console and in the log, and
    exit status 1 when anything did, so CI notices; the leaderboard and the site are already written by then. It
    leaves no output when something failed, so every later `snakemake` says so again until it is fixed."""
    input:
        results="results/leaderboard.parquet",
        site="results/site",
        resolved=track_files("results/{track}/config.resolved.json"),
    output:
        touch("results/logs/run_ok"),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/run_status.log",
    shell:
        suite_command("run-status --input {input.results} --resolved {input.resolved} 2>&1 | tee {log}")
