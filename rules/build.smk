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


rule build_variant:
    input:
        parent=parent_model,
    output:
        directory("results/models/{student}"),
    params:
        resolved=RESOLVED,
        recipe=variant_recipe,
    conda:
        "../envs/suite.yaml"
    log:
        "results/logs/build/{student}.log",
    threads: SUITE.threads
    shell:
        "python -m suite build-variant --resolved {params.resolved} --variant {wildcards.student}"
        " --parent {input.parent} --output {output} > {log} 2>&1"
