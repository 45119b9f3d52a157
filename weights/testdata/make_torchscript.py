"""Writes the TorchScript fixtures that weights/torchscript_test.go reads.

Run from weights/testdata with a python3 that has torch (Debian's
python3-torch 1.13 made the committed files):

    python3 make_torchscript.py

It writes script_net.pt (torch.jit.script of a module with a ModuleList, an
nn.Sequential, an fp16 parameter, a 0-d int64 buffer, a non-contiguous
buffer that views a parameter's storage, and plain attributes of several
types), traced_seq.pt (torch.jit.trace of nn.Sequential(nn.Linear(3, 4),
nn.LayerNorm(4))), traced_masked.pt (torch.jit.trace of a module with a
ModuleList whose blocks hold a plain tensor attribute, which tracing turns
into a constant in constants.pkl and constants/, as OpenAI's CLIP does with
its attention mask), and torchscript_expected.json: for each file, the keys
of torch.jit.load(file).state_dict() in order, with dtype, shape and values.
"""

import json
from typing import Dict, List, Optional

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d, bias=False)

    def forward(self, x):
        return x + self.fc(self.ln(x))


class Net(nn.Module):
    tag: str
    sizes: List[int]
    table: Dict[str, int]
    maybe: Optional[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(5, 4))
        self.w16 = nn.Parameter(torch.randn(2, 3).half())
        self.register_buffer("steps", torch.tensor(7))
        self.register_buffer("pos_t", self.pos.data.t())
        self.blocks = nn.ModuleList([Block(4) for _ in range(2)])
        self.head = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
        self.tag = "hello"
        self.sizes = [1, 2, 3]
        self.table = {"a": 1}
        self.scale = 0.5
        self.count = 3
        self.maybe = None

    def forward(self, x):
        x = x + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(x) + self.w16.float().sum() * self.scale + self.steps


class MaskedBlock(nn.Module):
    def __init__(self, mask):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.attn_mask = mask  # a plain attribute, not a buffer

    def forward(self, x):
        return self.fc(x) + self.attn_mask


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(2))
        self.resblocks = nn.ModuleList([MaskedBlock(torch.full((2,), -1.0)), MaskedBlock(torch.ones(2))])

    def forward(self, x):
        x = x + self.class_embedding
        for b in self.resblocks:
            x = b(x)
        return x


def describe(path):
    sd = torch.jit.load(path).state_dict()
    out = []
    for k, v in sd.items():
        out.append({
            "name": k,
            "dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "values": [float(x) for x in v.detach().double().flatten().tolist()],
        })
    return out


def main():
    torch.manual_seed(0)
    net = torch.jit.script(Net())
    torch.jit.save(net, "script_net.pt")
    seq = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    traced = torch.jit.trace(seq, torch.randn(2, 3))
    torch.jit.save(traced, "traced_seq.pt")
    masked = torch.jit.trace(Masked(), torch.randn(3, 2))
    torch.jit.save(masked, "traced_masked.pt")
    want = {
        "torch": torch.__version__,
        "script_net.pt": describe("script_net.pt"),
        "traced_seq.pt": describe("traced_seq.pt"),
        "traced_masked.pt": describe("traced_masked.pt"),
    }
    with open("torchscript_expected.json", "w") as f:
        json.dump(want, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
