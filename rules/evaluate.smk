# Run every task of a variant in one job (one model load): per-instance predictions, then metrics scored from them.


rule evaluate:
    input:
        model="results/models/{variant}",
    output:
        predictions="results/predictions/{variant}.parquet",
        metrics="results/metrics/{variant}.parquet",
    params:
        resolved=RESOLVED,
        tasks=variant_task_definitions,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/evaluate/{variant}.log",
    threads: SUITE.threads
    shell:
        "python -m suite evaluate --resolved {params.resolved} --variant {wildcards.variant} --model {input.model}"
        " --predictions {output.predictions} --metrics {output.metrics} > {log} 2>&1"
