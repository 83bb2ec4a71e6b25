# Fixture of the integration tests: the figures the tests expect are worked out in the tests
# from the layer shapes (at the default 224x224 input), not copied from the extension.
import torch.nn as nn


class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.standard = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.depthwise = nn.Conv2d(32, 32, kernel_size=3, padding=1, groups=32)

    def forward(self, x):
        return self.standard(x), self.depthwise(x)


class Features(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32),
            nn.Conv2d(32, 64, 1),
        )

    def forward(self, x):
        return self.features(x)
