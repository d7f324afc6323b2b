"""DINOv2 ViT machines (cls, seg, dpt) of the FCM-LM test conditions.

Importing this package registers the machines `dinov2/cls`, `dinov2/seg`, `dinov2/dpt`.
"""
from fcbench.machines.dinov2.backbone import Backbone
from fcbench.machines.dinov2.machine import Dinov2Cls, Dinov2Depth, Dinov2Machine, Dinov2Seg

__all__ = ["Backbone", "Dinov2Cls", "Dinov2Depth", "Dinov2Machine", "Dinov2Seg"]
