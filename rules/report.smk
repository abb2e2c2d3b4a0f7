# Gather every row into results/leaderboard.parquet and render the static site from it.


rule gather:
    input:
        metrics=expand("results/metrics/{task}/{variant}.parquet", task=TASKS, variant=VARIANTS),
        measures=expand("results/measure/{variant}.parquet", variant=VARIANTS),
        predictions=expand("results/predictions/{task}/{variant}.parquet", task=TASKS, variant=VARIANTS),
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
    output:
        "results/site/index.html",
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/render.log",
    shell:
        "python -m suite render --input {input.results} --schema {input.schema} --output results/site > {log} 2>&1"
