"""The KFP components, one module per pipeline stage.

Each module holds the `@container_images.component` function KFP runs and the plain function its
body calls (tests and benchmarks call that directly): extract, prepare_coding (displayed as
"truncate-quantize"), code_traditional, hyperprior_train, hyperprior_infer, evaluate, report.
context.py names a failing stage, params.py converts KFP parameters, container_images.py picks
the image of each component, timing.py records where a task's time goes.
"""
