# Build each track's teacher and every variant artefact (weights + variant.json with lineage, recipe and hashes).


rule build_teacher:
    output:
        directory("results/{track}/models/teacher"),
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
        recipe=teacher_recipe,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/build/teacher.log",
    threads: threads_of
    resources:
        **job_resources("build"),
    shell:
        job("build-teacher --output {output}", "build", "--variant teacher --output {output}")


rule teacher_logits:
    input:
        teacher="results/{track}/models/teacher",
    output:
        "results/{track}/distill/teacher_logits.parquet",
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
        recipe=distillation_recipe,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/build/teacher_logits.log",
    threads: threads_of
    resources:
        **job_resources("build"),
    shell:
        job("teacher-logits --teacher {input.teacher} --output {output}", "teacher-logits", "--output {output}")


rule build_variant:
    input:
        unpack(variant_inputs),
    output:
        directory("results/{track}/models/{student}"),
    params:
        resolved=lambda wildcards: resolved_file(wildcards.track),
        recipe=variant_recipe,
        logits=lambda wildcards, input: f"--teacher-logits {input.logits}" if "logits" in input.keys() else "",
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/{track}/build/{student}.log",
    threads: threads_of
    resources:
        **job_resources("build"),
    shell:
        job(
            "build-variant --variant {wildcards.student} --parent {input.parent} {params.logits} --output {output}",
            "build",
            "--variant {wildcards.student} --output {output}",
        )
