"""fcbench.pipelines: KFP pipelines, the command line, local runs, compile and submit."""
