# System measurements. Every timing job takes the exclusive `bench_slot` resource (profiles/default), so no two
# timings overlap, while builds and evaluations still run in parallel.


rule probe_peak:
    output:
        "results/hardware/peak.json",
    params:
        resolved=RESOLVED,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/measure/probe_peak.log",
    threads: SUITE.threads
    resources:
        bench_slot=1,
    shell:
        "python -m suite probe-peak --resolved {params.resolved} --output {output} > {log} 2>&1"


rule measure:
    input:
        model="results/models/{variant}",
        peak="results/hardware/peak.json",
    output:
        "results/measure/{variant}.parquet",
    params:
        resolved=RESOLVED,
        settings=json.dumps({k: SUITE.raw["config"][k] for k in ("latency", "throughput", "energy")}, sort_keys=True),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/measure/{variant}.log",
    threads: SUITE.threads
    resources:
        bench_slot=1,
    shell:
        "python -m suite measure --resolved {params.resolved} --variant {wildcards.variant} --model {input.model}"
        " --peak {input.peak} --output {output} > {log} 2>&1"
