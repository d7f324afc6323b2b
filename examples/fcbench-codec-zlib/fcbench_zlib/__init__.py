"""Example fcbench codec plug-in (see docs/codecs.md, "Write your own codec")."""
