# Build the teacher and every variant artefact (weights + variant.json with lineage, recipe and hashes).


rule build_teacher:
    output:
        directory(f"results/models/{TEACHER}"),
    params:
        resolved=RESOLVED,
        recipe=teacher_recipe(),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/build/teacher.log",
    threads: SUITE.threads
    shell:
        "python -m suite build-teacher --resolved {params.resolved} --output {output} > {log} 2>&1"


rule teacher_logits:
    input:
        teacher=f"results/models/{TEACHER}",
    output:
        TEACHER_LOGITS,
    params:
        resolved=RESOLVED,
        recipe=distillation_recipe(),
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/build/teacher_logits.log",
    threads: SUITE.threads
    shell:
        "python -m suite teacher-logits --resolved {params.resolved} --teacher {input.teacher} --output {output}"
        " > {log} 2>&1"


rule build_variant:
    input:
        unpack(variant_inputs),
    output:
        directory("results/models/{student}"),
    params:
        resolved=RESOLVED,
        recipe=variant_recipe,
        logits=lambda wildcards, input: f"--teacher-logits {input.logits}" if "logits" in input.keys() else "",
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/build/{student}.log",
    threads: SUITE.threads
    shell:
        "python -m suite build-variant --resolved {params.resolved} --variant {wildcards.student}"
        " --parent {input.parent} {params.logits} --output {output} > {log} 2>&1"
