"""fcbench.components: the KFP stages, and the libraries they call.

    stages/           the KFP component adapters, one module per pipeline stage (thin: each body
                      calls a plain function of its module), their image settings and plumbing
    storage/          object storage (local folders, S3/MinIO), staging, the artifact key layout
    tracking/         MLflow tracking, the offline journal, the model registry
    coding.py         one codec at one rate point over a feature set (the codec stages' work)
    codec_identity.py identity hashes that pin a codec build
    inputs.py         URI inputs (s3://, models:/) -> local paths
    rd_points.py      RD points (one result per codec and rate point) and their JSON/CSV files
    reporting.py      RD tables, plots, BD-rate reports (bdrate.py: the Bjontegaard deltas)
    provenance.py     version, git sha, host, image digest
    cluster.py        names shared by the cluster manifests and the pipelines
"""
