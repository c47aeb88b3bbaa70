"""LiteRT (`ai-edge-litert`, never TensorFlow) running one exported tower on the kiosk.

`LiteRunner` holds the verified bytes of a model's float and int8 flatbuffers and builds an
interpreter for the precision asked for, on first use, on one thread (the frame loop's own). The int8
model's input and output scale and zero point are read from the interpreter's details, never assumed.
Both deep models (the CNN and the normality tower) run through it.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

PRECISIONS = ("float", "int8")


class LiteRunner:
    """`runner(x)` -> the output vector for one input of `input_shape` (float32, 0..1)."""

    def __init__(self, flatbuffers: dict[str, bytes], input_shape: tuple[int, ...], output_size: int,
                 precision: str = "float"):
        missing = [p for p in PRECISIONS if p not in flatbuffers]
        if missing:
            raise ValueError(f"the export lacks the {', '.join(missing)} model")
        self._buffers = flatbuffers
        self.input_shape = tuple(input_shape)
        self.output_size = int(output_size)
        self.precision = precision
        self._runners: dict[str, tuple] = {}
        self._runner(precision)  # a broken flatbuffer is found at load, not on the first alarm

    def __getstate__(self) -> dict:
        # Replays hand models to worker processes: the flatbuffers travel, interpreters are rebuilt there.
        state = dict(self.__dict__)
        state["_runners"] = {}
        return state

    def _runner(self, precision: str):
        if precision not in self._runners:
            from ai_edge_litert.interpreter import Interpreter

            with _native_stderr_silenced():
                interp = Interpreter(model_content=self._buffers[precision], num_threads=1)
                interp.allocate_tensors()
            inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
            if tuple(inp["shape"][1:]) != self.input_shape or int(out["shape"][-1]) != self.output_size:
                raise ValueError(f"{precision} model takes {tuple(inp['shape'])} and gives {tuple(out['shape'])}")
            self._runners[precision] = (interp, inp, out)
        return self._runners[precision]

    def __call__(self, x: np.ndarray, precision: str | None = None) -> np.ndarray:
        interp, inp, out = self._runner(precision or self.precision)
        x = np.asarray(x, np.float32)[None]
        if inp["dtype"] != np.float32:  # int8: quantise with the interpreter's own parameters
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)


@contextlib.contextmanager
def _native_stderr_silenced():
    """LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate" on the process's stderr,
    which would make a user's one-line error two lines; a failure still raises in Python."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
