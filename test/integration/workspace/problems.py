# Fixture of the integration tests: layers that PyTorch refuses to build.
import torch.nn as nn

bad_groups = nn.Conv2d(32, 64, 3, groups=3)
same_strided = nn.Conv2d(16, 16, 3, stride=2, padding="same")
fine_same = nn.Conv2d(16, 16, 3, padding="same")
