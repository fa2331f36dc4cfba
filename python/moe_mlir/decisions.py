"""What moe-compile decided for each MoE layer, as Python objects.

Built from Executable::decisions() of the C++ API (include/moe/Moe.h,
moe/Execution/Decisions.h): the compiler reads them back from the IR its
passes leave; nothing here decides anything. docs/Python.md, "Decisions".
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

__all__ = ["LayerDecision", "Candidate", "Quantization", "StreamPlan"]


@dataclass(frozen=True)
class Candidate:
    """A method of the layer and the largest step token count (the maximum
    over the MoE group's ranks) it runs for; None: every larger count."""
    method: str
    up_to_tokens: Optional[int]

    def __repr__(self):
        limit = ("any count" if self.up_to_tokens is None
                 else f"<= {self.up_to_tokens} tokens")
        return f"{self.method} ({limit})"


@dataclass(frozen=True)
class Quantization:
    """The experts' scheme ("" unquantized) and where the routed
    activations are quantized: "in the dispatch", "before the dispatch",
    "after the dispatch", "no dispatch" (per candidate for a run-time
    switch)."""
    scheme: str
    placement: str

    def __repr__(self):
        if not self.scheme:
            return "Quantization(none)"
        return f"Quantization({self.scheme}, {self.placement})"


@dataclass(frozen=True)
class StreamPlan:
    """streams: {stream id: [device ops, first-issue order]}, 0 the default
    stream; events: [(from stream, to stream, count)] of npu.record /
    npu.wait pairs."""
    streams: dict
    events: List[Tuple[int, int, int]] = field(default_factory=list)

    def __repr__(self):
        parts = [f"stream {s}: {', '.join(ops)}"
                 for s, ops in self.streams.items()]
        parts += [f"event {a}->{b} x{n}" for a, b, n in self.events]
        return "StreamPlan(" + "; ".join(parts) + ")"


@dataclass(frozen=True)
class LayerDecision:
    """One MoE layer (one moe.prepare) of the compiled module.

    method: the communication method, or "run-time" when moe.choose_method
    picks one of `candidates` per step; reason: the remark of
    moe-select-comm-method (the same text moe-opt prints); capacity: the
    per-rank token capacity the MC2 dispatch checks at run time (0 without
    MC2); max_tokens: the layer's bound, if any."""
    function: str
    location: str
    method: str
    candidates: List[Candidate]
    reason: str
    capacity: int
    max_tokens: Optional[int]
    quantization: Quantization
    streams: StreamPlan

    @classmethod
    def from_dict(cls, d):
        return cls(
            function=d["function"], location=d["location"],
            method=d["method"],
            candidates=[Candidate(m, None if t < 0 else t)
                        for m, t in d["candidates"]],
            reason=d["reason"], capacity=d["capacity"],
            max_tokens=d["max_tokens"],
            quantization=Quantization(d["quant_scheme"], d["quant_placement"]),
            streams=StreamPlan({s: list(ops) for s, ops in d["streams"]},
                               [tuple(e) for e in d["events"]]))

    def __repr__(self):
        method = self.method
        if self.method == "run-time":
            method += " [" + ", ".join(map(repr, self.candidates)) + "]"
        return (f"LayerDecision(@{self.function}: {method}; capacity "
                f"{self.capacity}; {self.quantization!r}; "
                f"{len(self.streams.streams)} streams; reason: {self.reason})")
