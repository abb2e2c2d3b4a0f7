# Run every task of a variant in one job (one model load): per-instance predictions, then metrics scored from them.


rule evaluate:
    input:
        model="results/{track}/models/{variant}",
    output:
        predictions="results/{track}/predictions/{variant}.parquet",
        metrics="results/{track}/metrics/{variant}.parquet",
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
        tasks=variant_task_definitions,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/evaluate/{variant}.log",
    threads: quality_threads_of
    resources:
        **job_resources("evaluate"),
    shell:
        job(
            "evaluate --variant {wildcards.variant} --model {input.model} --predictions {output.predictions}"
            " --metrics {output.metrics}",
            "evaluate",
            "--variant {wildcards.variant} --model {input.model} --predictions {output.predictions}"
            " --metrics {output.metrics}",
        )
