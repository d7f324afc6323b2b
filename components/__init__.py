"""fcbench.components: KFP components (one per stage), object storage and MLflow tracking."""
