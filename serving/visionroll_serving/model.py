"""The digits CNN: a small network for 8x8 grey images, written so that eager-mode static int8 quantization works
on it unchanged (quant/dequant stubs are identities in fp32, and conv/linear + ReLU pairs can be fused).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub

NUM_CLASSES = 10
IMAGE_SIZE = 8


class DigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = QuantStub()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * (IMAGE_SIZE // 2) ** 2, 64)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64, NUM_CLASSES)
        self.dequant = DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        x = self.relu1(self.conv1(x))
        x = self.pool(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        out: torch.Tensor = self.dequant(self.fc2(x))
        return out

    fusable = (("conv1", "relu1"), ("conv2", "relu2"), ("fc1", "relu3"))
