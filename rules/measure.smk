# System measurements. Every timing job times its variant paired with the track's reference (latency.reference);
# every timing job takes the exclusive `bench_slot` resource (profiles/default) and all the
# track's threads, so no two timings overlap and nothing else runs beside one.


rule probe_peak:
    output:
        "results/{track}/hardware/peak.json",
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/measure/probe_peak.log",
    threads: threads_of
    resources:
        **job_resources("measure"),
        bench_slot=1,
    shell:
        job("probe-peak --output {output}", "probe-peak", "--output {output}")


rule measure:
    input:
        model="results/{track}/models/{variant}",
        # timed in the same process, in interleaved rounds; the reference's own job times a second copy (A/A)
        reference=lambda wildcards: f"results/{wildcards.track}/models/{TRACKS[wildcards.track].latency.reference}",
        peak="results/{track}/hardware/peak.json",
    output:
        "results/{track}/measure/{variant}.parquet",
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
        settings=measure_settings,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/measure/{variant}.log",
    threads: threads_of
    resources:
        **job_resources("measure"),
        bench_slot=1,
    shell:
        job(
            "measure --variant {wildcards.variant} --model {input.model} --reference {input.reference} "
            "--peak {input.peak} --output {output}",
            "measure",
            "--variant {wildcards.variant} --model {input.model} --output {output}",
        )
