import torch.nn as nn


class SeparableBlock(nn.Module):
    """One MobileNet-style block: a depthwise 3x3 followed by a pointwise 1x1."""

    def __init__(self, in_channels: int = 32, out_channels: int = 64):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
