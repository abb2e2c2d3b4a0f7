# System measurements. Each takes the exclusive `bench_slot` resource (profiles/default), so no two timings overlap.


rule measure:
    input:
        model="results/models/{variant}",
    output:
        "results/measure/{variant}.parquet",
    params:
        resolved=RESOLVED,
        latency=json.dumps(SUITE.raw["config"]["latency"], sort_keys=True),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/measure/{variant}.log",
    threads: SUITE.threads
    resources:
        bench_slot=1,
    shell:
        "python -m suite measure --resolved {params.resolved} --variant {wildcards.variant} --model {input.model}"
        " --output {output} > {log} 2>&1"
