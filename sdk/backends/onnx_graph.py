"""The package's ONNX graph executed by torch ops: the interpreter behind the torch backends.

The deploy graph is restricted to a handful of ops (Conv, Relu, Add, Mul, Resize, Clip; see
trainer/models/generator.py), so the graph is interpreted directly with the checksummed weights from the
package: no pickled module, no second copy of the network definition, and the same file feeds every backend.
"""
from __future__ import annotations

import numpy as np

from sdk.errors import ModelLoadError


class OnnxGraphModule:
    """Executes an ONNX graph of the supported op set with torch functional ops.

    Every node's static arguments (pads, strides, resize scales, clip bounds) are read from
    the graph once, here, so a forward pass never reads a device value back to the host
    (which would break CUDA graph capture and stall the stream).

    ``style_input``: the name of an input that changes rarely (the style vector). The nodes that
    depend only on it and on constants (the generator's per-channel style scales and shifts) form a
    style program, :meth:`bind` runs it, and a Conv followed by a Mul and/or an Add of such a
    per-channel value runs as one Conv with the scale and shift folded into its weight and bias:
    two full passes over a feature map fewer each. :meth:`run_bound` runs the rest with the bound
    values, so a caller that binds once per style (the CUDA pipeline) runs only that.
    """

    SUPPORTED = ("Conv", "Relu", "Add", "Mul", "Resize", "Clip", "Constant", "Identity", "Tanh", "Sigmoid")

    def __init__(self, model_bytes: bytes, device, where: str, dtype=None, channels_last: bool = False,
                 style_input: str | None = None):
        import onnx
        import torch
        from onnx import numpy_helper

        try:
            model = onnx.load_model_from_string(model_bytes)
        except Exception as exc:  # protobuf raises DecodeError and others on a damaged file
            raise ModelLoadError(f"{where}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(self.SUPPORTED))
        if unsupported:
            raise ModelLoadError(f"{where}: ops {unsupported} are outside the deploy op set {self.SUPPORTED}; "
                                 "export with this project's trainer.")
        arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                value = next(a for a in node.attribute if a.name == "value")
                arrays[node.output[0]] = numpy_helper.to_array(value.t)
        self.inputs = [i.name for i in graph.input if i.name not in arrays]
        self.outputs = [o.name for o in graph.output]
        self.nodes = []
        used_as_weight = set()
        for node in graph.node:
            if node.op_type == "Constant":
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            static: dict = {}
            if node.op_type == "Conv":
                pads = list(attrs.get("pads", [0, 0, 0, 0]))
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ModelLoadError(f"{where}: asymmetric Conv pads {pads} are not supported")
                static = {"stride": tuple(attrs.get("strides", (1, 1))), "padding": (pads[0], pads[1]),
                          "dilation": tuple(attrs.get("dilations", (1, 1))), "groups": attrs.get("group", 1)}
                used_as_weight.add(node.input[1])
            elif node.op_type == "Clip":
                lo = node.input[1] if len(node.input) > 1 and node.input[1] else None
                hi = node.input[2] if len(node.input) > 2 and node.input[2] else None
                static = {"min": float(arrays[lo]) if lo else attrs.get("min"),
                          "max": float(arrays[hi]) if hi else attrs.get("max")}
            elif node.op_type == "Resize":
                static = _resize_options(attrs, where)
                scales = node.input[2] if len(node.input) > 2 and node.input[2] else None
                if scales is None or arrays[scales].size == 0:
                    raise ModelLoadError(f"{where}: Resize without constant scales is not supported")
                static["scale_factor"] = tuple(float(v) for v in arrays[scales][2:])
            self.nodes.append((node.op_type, list(node.input[:1] if node.op_type in ("Resize", "Clip") else node.input),
                               node.output[0], static))
        self.values = {}
        for name, array in arrays.items():
            tensor = torch.from_numpy(np.array(array, copy=True)).to(device)
            if dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            if channels_last and name in used_as_weight and tensor.dim() == 4:
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            self.values[name] = tensor
        self.dtype, self.channels_last, self.style_input = dtype, channels_last, None
        self.style_nodes, self.image_nodes, self.folds, self.bound_names = [], list(self.nodes), [], []
        if style_input is not None:
            style_shape = next(([d.dim_value or 1 for d in i.type.tensor_type.shape.dim] for i in graph.input
                                if i.name == style_input), None)
            self._split_and_fold(style_input, style_shape, arrays, where)

    def _split_and_fold(self, style_input: str, style_shape: list[int], arrays: dict, where: str) -> None:
        """Split the nodes into the style program and the image program, and fold per-channel style
        scales and shifts into the Conv before them."""
        import torch

        if style_input not in self.inputs:
            raise ModelLoadError(f"{where}: no graph input {style_input!r} (inputs {self.inputs})")
        static = set(arrays) | {style_input}
        style_nodes, image_nodes = [], []
        for node in self.nodes:
            if all(not i or i in static for i in node[1]):
                style_nodes.append(node)
                static.add(node[2])
            else:
                image_nodes.append(node)
        # The style program's values, from a zero style on the CPU: their shapes decide what folds.
        env = {name: torch.from_numpy(np.array(a, dtype=np.float32 if np.issubdtype(a.dtype, np.floating) else a.dtype))
               for name, a in arrays.items()}
        env[style_input] = torch.zeros(style_shape)
        for node in style_nodes:
            env[node[2]] = self._run_node(node, env)
        consumers: dict[str, list] = {}
        for node in image_nodes:
            for name in node[1]:
                consumers.setdefault(name, []).append(node)
        for name in self.outputs:
            consumers.setdefault(name, []).append(None)

        def per_channel(name, channels):  # a style value that scales or shifts each output channel
            return name in static and name not in arrays and tuple(env[name].shape) == (1, channels, 1, 1)

        def follower(name, op, channels):  # the only consumer of `name`, if it is `op` with a per-channel style value
            users = consumers.get(name, [])
            if len(users) != 1 or users[0] is None or users[0][0] != op:
                return None, None
            other = [i for i in users[0][1] if i != name]
            return (users[0], other[0]) if len(other) == 1 and per_channel(other[0], channels) else (None, None)

        dropped = set()
        for index, node in enumerate(image_nodes):
            op, ins, out, static_args = node
            if op != "Conv" or ins[1] not in arrays:
                continue
            channels = arrays[ins[1]].shape[0]
            mul, scale = follower(out, "Mul", channels)
            last = mul[2] if mul else out
            add, shift = follower(last, "Add", channels)
            if mul is None and add is None:
                continue
            bias = ins[2] if len(ins) > 2 and ins[2] else None
            weight_name, bias_name = f"{ins[1]}::folded{index}", f"{out}::bias{index}"
            self.folds.append((ins[1], bias, scale if mul else None, shift if add else None, weight_name, bias_name))
            image_nodes[index] = (op, [ins[0], weight_name, bias_name], (add or mul)[2], static_args)
            dropped.update(id(n) for n in (mul, add) if n is not None)
        self.style_nodes = style_nodes
        self.image_nodes = [n for n in image_nodes if id(n) not in dropped]
        folded = {f[4] for f in self.folds} | {f[5] for f in self.folds}
        needed = {i for n in self.image_nodes for i in n[1] if i}
        self.bound_names = sorted(name for name in needed if name in folded or (name in static and name not in arrays))
        self.style_input = style_input
        # The folded weights are computed in FP32 and rounded to the model's dtype once.
        self._fold_weights = {name: self.values[name].float() for f in self.folds for name in (f[0], f[1]) if name}

    def bind(self, style) -> dict:
        """The style program for ``style``: every style value the image program reads, folded weights
        and biases included, by name (``bound_names``)."""
        import torch

        env = dict(self.values)
        env[self.style_input] = style
        for node in self.style_nodes:
            env[node[2]] = self._run_node(node, env)
        bound = {name: env[name] for name in self.bound_names if name in env}
        for weight, bias, scale, shift, weight_name, bias_name in self.folds:
            w = self._fold_weights[weight]
            b = self._fold_weights[bias] if bias else torch.zeros(w.shape[0], device=w.device)
            if scale is not None:
                s = env[scale].float().reshape(-1)
                w, b = w * s.reshape(-1, 1, 1, 1), b * s
            if shift is not None:
                b = b + env[shift].float().reshape(-1)
            dtype = self.dtype or torch.float32
            w = w.to(dtype)
            bound[weight_name] = w.contiguous(memory_format=torch.channels_last) if self.channels_last else w
            bound[bias_name] = b.to(dtype)
        return bound

    def run_bound(self, image, bound: dict):
        """The image program with values from :meth:`bind`."""
        env = dict(self.values)
        env.update(bound)
        env[next(i for i in self.inputs if i != self.style_input)] = image
        for node in self.image_nodes:
            env[node[2]] = self._run_node(node, env)
        return [env[o] for o in self.outputs]

    def __call__(self, *args):
        if self.style_input is not None:
            named = dict(zip(self.inputs, args))
            image = next(v for k, v in named.items() if k != self.style_input)
            return self.run_bound(image, self.bind(named[self.style_input]))
        env = dict(self.values)
        env.update(zip(self.inputs, args))
        for node in self.nodes:
            env[node[2]] = self._run_node(node, env)
        return [env[o] for o in self.outputs]

    @staticmethod
    def _run_node(node, env):
        import torch
        import torch.nn.functional as F

        op, ins, _, static = node
        x = [env[i] if i else None for i in ins]
        if op == "Conv":
            y = F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, **static)
        elif op == "Relu":
            y = F.relu(x[0])
        elif op == "Add":
            y = x[0] + x[1]
        elif op == "Mul":
            y = x[0] * x[1]
        elif op == "Clip":
            y = torch.clamp(x[0], static["min"], static["max"])
        elif op == "Resize":
            y = F.interpolate(x[0], **static)
        elif op == "Identity":
            y = x[0]
        elif op == "Tanh":
            y = torch.tanh(x[0])
        elif op == "Sigmoid":
            y = torch.sigmoid(x[0])
        else:  # guarded by SUPPORTED in __init__
            raise AssertionError(op)
        return y


def _resize_options(attrs: dict, where: str) -> dict:
    """F.interpolate's mode (and align_corners) for an ONNX Resize: nearest (floor, as torch exports it), or
    linear on 4D tensors, which is bilinear with the ONNX coordinate transform's align_corners."""
    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    mode = text(attrs.get("mode", "nearest"))
    if mode == "nearest":
        return {"mode": "nearest"}
    if mode == "linear":
        transform = text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        corners = {"half_pixel": False, "pytorch_half_pixel": False, "align_corners": True}
        if transform not in corners:
            raise ModelLoadError(f"{where}: Resize coordinate_transformation_mode {transform!r} is not supported "
                                 f"(supported: {', '.join(corners)})")
        return {"mode": "bilinear", "align_corners": corners[transform]}
    raise ModelLoadError(f"{where}: Resize mode {mode!r} is not supported (supported: nearest, linear)")
