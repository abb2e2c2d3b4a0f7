# Wiring only: which config, which rules, which final targets. The work lives in the `suite` package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/build.smk"
include: "rules/evaluate.smk"
include: "rules/measure.smk"
include: "rules/report.smk"


rule all:
    input:
        "results/leaderboard.parquet",
        "results/site",
        "results/logs/run_ok",
    default_target: True
