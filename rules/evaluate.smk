# Run every task on every variant: per-instance predictions, then metrics scored from them.


rule predict:
    input:
        model="results/models/{variant}",
    output:
        "results/predictions/{task}/{variant}.parquet",
    params:
        resolved=RESOLVED,
        task=task_definition,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/predict/{task}/{variant}.log",
    threads: SUITE.threads
    shell:
        "python -m suite predict --resolved {params.resolved} --variant {wildcards.variant} --task {wildcards.task}"
        " --model {input.model} --output {output} > {log} 2>&1"


rule score:
    input:
        model="results/models/{variant}",
        predictions="results/predictions/{task}/{variant}.parquet",
    output:
        "results/metrics/{task}/{variant}.parquet",
    params:
        resolved=RESOLVED,
        task=task_definition,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/score/{task}/{variant}.log",
    shell:
        "python -m suite score --resolved {params.resolved} --variant {wildcards.variant} --task {wildcards.task}"
        " --model {input.model} --predictions {input.predictions} --output {output} > {log} 2>&1"
