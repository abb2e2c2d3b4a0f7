# Gather every row into results/leaderboard.parquet and render the static site from it.


rule gather:
    input:
        metrics=expand("results/metrics/{variant}.parquet", variant=VARIANTS),
        measures=expand("results/measure/{variant}.parquet", variant=VARIANTS),
        predictions=expand("results/predictions/{variant}.parquet", variant=VARIANTS),
    output:
        "results/leaderboard.parquet",
    params:
        resolved=RESOLVED,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/gather.log",
    shell:
        "python -m suite gather --resolved {params.resolved} --metrics {input.metrics} {input.measures}"
        " --predictions {input.predictions} --output {output} > {log} 2>&1"


rule render:
    input:
        results="results/leaderboard.parquet",
        schema=SCHEMA_FILE,
        resolved=RESOLVED,
    output:
        # The whole site (index.html, pages, figures, downloads): the directory is one output, replaced as a whole.
        directory("results/site"),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/render.log",
    shell:
        "python -m suite render --input {input.results} --schema {input.schema} --resolved {input.resolved}"
        " --output {output} > {log} 2>&1"
