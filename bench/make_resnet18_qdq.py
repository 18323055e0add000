#!/usr/bin/python3
"""Write a ResNet-18-sized QDQ int8 model, as ONNX Runtime's static quantizer lays one out, for timing
`a2q audit` on a realistic graph.

Usage:
    make_resnet18_qdq.py OUT.onnx [--expected OUT.json] [--seed S]

The 21 layers of torchvision's ResNet-18 for a 3x224x224 input (conv1 7x7/2, four stages of two basic
blocks with 1x1/2 projection shortcuts in stages 2-4, global average pooling, fc 512->1000), with random
integer weights (11.7 M int8, stored as raw_data): per-channel symmetric int8 weights in [-127, 127]
(each channel reaches +-127, the rest roughly Gaussian, as a max-abs per-channel scale gives), per-channel
float scales, int32 biases (batch norm folded) through DequantizeLinear with scale s_x * s_w[c] and zero
point int32 zeros [C] on axis 0. Activations are int8 with asymmetric zero points: -128 after every ReLU
(ORT removes the Relu and quantizes the producer's output with the Relu's range), a small zero point on
the normalised image and on the second convolution of each block (no ReLU there). Each residual Add runs
in float between the DequantizeLinear of its two inputs and the QuantizeLinear of its (ReLU'd) output;
GlobalAveragePool runs in float and the Gemm's input gets its own Q/DQ pair (QDQGemm). Patterns as in
onnxruntime/python/tools/quantization: qdq_quantizer.py, base_quantizer.py, operators/conv.py,
operators/gemm.py, operators/activation.py, operators/direct_q8.py (see tests/onnx/make_audit_fixtures.py).

It prints the weight count, the file size and the time taken; with --expected it also writes, per layer,
the exact widths (sign-split formula, no brute force) in the format of make_audit_fixtures.py's
*.expected.json, so tests/onnx/check_audit.py can compare a2q against it.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32, I8, I32, I64 = TensorProto.FLOAT, TensorProto.INT8, TensorProto.INT32, TensorProto.INT64


def needed_bits(lo, hi):
    p = 1
    while lo < -(1 << (p - 1)) or hi > (1 << (p - 1)) - 1:
        p += 1
    return p


def range_bits(lo, hi):
    if lo < 0:
        return needed_bits(lo, hi), True
    p = 1
    while hi > (1 << p) - 1:
        p += 1
    return p, False


class Net:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.layers = [], [], []
        self.weights = 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, output, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def qdq(self, tensor, scale, zp, shared_from=None):
        """Q -> DQ on an activation (ORT names); shared_from reuses another tensor's scale/zero point."""
        if shared_from is None:
            s = self.init(tensor + "_scale", np.float32(scale))
            z = self.init(tensor + "_zero_point", np.int8(zp))
        else:
            s, z = shared_from
        q = self.node("QuantizeLinear", [tensor, s, z], tensor + "_QuantizeLinear_Output",
                      tensor + "_QuantizeLinear")
        dq = self.node("DequantizeLinear", [q, s, z], tensor + "_DequantizeLinear_Output",
                       tensor + "_DequantizeLinear")
        return {"dq": dq, "q_node": tensor + "_QuantizeLinear", "scale": float(scale), "zp": int(zp),
                "params": (s, z)}

    def int8_weights(self, shape):
        """Per-channel symmetric int8: roughly Gaussian, each channel's largest magnitude at 127."""
        oc = shape[0]
        w = self.rng.standard_normal(size=shape, dtype=np.float32)
        flat = w.reshape(oc, -1)
        flat *= 127.0 / np.abs(flat).max(axis=1, keepdims=True)
        return np.rint(w).astype(np.int8)

    def layer(self, op, node, x, out_name, w_shape, attrs, out_q=None):
        """A QDQ Conv or Gemm (transB = 1) with per-channel weights and an int32 bias; returns its output."""
        parts = node.strip("/").split("/")[:-1]          # "/layer1/layer1.0/conv1/Conv" -> layer1.0.conv1
        base = ".".join(parts[1:] if len(parts) > 1 and parts[1].startswith(parts[0] + ".") else parts)
        oc = w_shape[0]
        w = self.int8_weights(w_shape)
        s_w = (self.rng.uniform(0.5, 2.0, size=oc) * 2e-3).astype(np.float32)
        bias = np.rint(self.rng.standard_normal(oc) * 4000).astype(np.int32)
        self.weights += w.size
        wq = self.init(base + ".weight_quantized", w)
        ws = self.init(base + ".weight_scale", s_w)
        wz = self.init(base + ".weight_zero_point", np.zeros(oc, np.int8))
        wd = self.node("DequantizeLinear", [wq, ws, wz], base + ".weight_DequantizeLinear_Output",
                       base + ".weight_DequantizeLinear", axis=0)
        bq = self.init(base + ".bias_quantized", bias)
        bs = self.init(base + ".bias_quantized_scale", (np.float32(x["scale"]) * s_w).astype(np.float32))
        bz = self.init(base + ".bias_quantized_zero_point", np.zeros(oc, np.int32))
        bd = self.node("DequantizeLinear", [bq, bs, bz], base + ".bias", base + ".bias_DequantizeLinear",
                       axis=0)
        y = self.node(op, [x["dq"], wd, bd], out_name, node, **attrs)
        # expectations: x_q = x_int - zp over int8
        lo, hi = -128 - x["zp"], 127 - x["zp"]
        wq64 = w.reshape(oc, -1).astype(np.int64)
        pos = np.where(wq64 > 0, wq64, 0).sum(axis=1)
        neg = np.where(wq64 < 0, wq64, 0).sum(axis=1)
        mn, mx = pos * lo + neg * hi, pos * hi + neg * lo
        N, signed = range_bits(lo, hi)
        M = max(8, needed_bits(int(wq64.min()), int(wq64.max())))
        K = wq64.shape[1]
        need = [needed_bits(int(a), int(b)) for a, b in zip(mn, mx)]
        need_b = [needed_bits(int(a) + int(c), int(b) + int(c)) for a, b, c in zip(mn, mx, bias)]
        self.layers.append({
            "node": node, "op_type": op, "form": "qdq", "out_channels": oc, "K": K, "M": M, "N": N,
            "input_signed": signed, "input_range": [lo, hi], "input_from_node": x["q_node"], "has_bias": True,
            "datatype_bound_P": (K << (N + M - 1 - (1 if signed else 0))).bit_length() + 1,
            "needed_P": max(need), "needed_P_with_bias": max(need_b),
            "worst_channel": need_b.index(max(need_b)),
            "brute_force": False,
            "channels": [{"channel": c, "min": int(mn[c]), "max": int(mx[c]), "bias": int(bias[c]),
                          "needed_P": need[c], "needed_P_with_bias": need_b[c]} for c in range(oc)]})
        return y


def build(seed):
    net = Net(seed)
    rng = net.rng
    relu_scale = lambda: float(rng.uniform(0.01, 0.05))
    x = net.qdq("input", 0.01866, -14)          # a normalised image: range about [-2.12, 2.64]
    y = net.layer("Conv", "/conv1/Conv", x, "/relu/Relu_output_0", (64, 3, 7, 7),
                  dict(kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]))
    a = net.qdq(y, relu_scale(), -128)
    p = net.node("MaxPool", [a["dq"]], "/maxpool/MaxPool_output_0", "/maxpool/MaxPool", kernel_shape=[3, 3],
                 strides=[2, 2], pads=[1, 1, 1, 1])
    cur = net.qdq(p, a["scale"], a["zp"], shared_from=a["params"])   # QDQDirect8BitOp
    c_in = 64
    for stage, c_out in enumerate([64, 128, 256, 512], start=1):
        for blk in range(2):
            stride = 2 if stage > 1 and blk == 0 else 1
            pre = "/layer%d/layer%d.%d" % (stage, stage, blk)
            h = net.layer("Conv", pre + "/conv1/Conv", cur, pre + "/relu/Relu_output_0", (c_out, c_in, 3, 3),
                          dict(kernel_shape=[3, 3], strides=[stride, stride], pads=[1, 1, 1, 1]))
            hq = net.qdq(h, relu_scale(), -128)
            h2 = net.layer("Conv", pre + "/conv2/Conv", hq, pre + "/conv2/Conv_output_0",
                           (c_out, c_out, 3, 3),
                           dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]))
            h2q = net.qdq(h2, float(rng.uniform(0.02, 0.08)), int(rng.integers(-20, 21)))
            if stride != 1 or c_in != c_out:
                sc = net.layer("Conv", pre + "/downsample/downsample.0/Conv", cur,
                               pre + "/downsample/downsample.0/Conv_output_0", (c_out, c_in, 1, 1),
                               dict(kernel_shape=[1, 1], strides=[stride, stride]))
                short = net.qdq(sc, float(rng.uniform(0.02, 0.08)), int(rng.integers(-20, 21)))["dq"]
            else:
                short = cur["dq"]
            # the residual Add in float; its ReLU is removed and its output quantized with the ReLU's range
            s = net.node("Add", [h2q["dq"], short], pre + "/relu_1/Relu_output_0", pre + "/Add")
            cur = net.qdq(s, relu_scale(), -128)
            c_in = c_out
    gap = net.node("GlobalAveragePool", [cur["dq"]], "/avgpool/GlobalAveragePool_output_0",
                   "/avgpool/GlobalAveragePool")
    fl = net.node("Flatten", [gap], "/Flatten_output_0", "/Flatten", axis=1)
    fq = net.qdq(fl, relu_scale(), -128)                         # QDQGemm quantizes the Gemm input
    g = net.layer("Gemm", "/fc/Gemm", fq, "/fc/Gemm_output_0", (1000, 512),
                  dict(alpha=1.0, beta=1.0, transB=1))
    s = net.init("output_scale", np.float32(0.1))
    z = net.init("output_zero_point", np.int8(-5))
    q = net.node("QuantizeLinear", [g, s, z], "output_QuantizeLinear_Output", "output_QuantizeLinear")
    net.node("DequantizeLinear", [q, s, z], "output", "output_DequantizeLinear")
    graph = helper.make_graph(net.nodes, "resnet18_qdq",
                              [helper.make_tensor_value_info("input", F32, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("output", F32, [1, 1000])],
                              initializer=net.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="a2q bench/make_resnet18_qdq.py")
    return model, net


def main():
    ap = argparse.ArgumentParser(description="Write a ResNet-18-sized QDQ int8 ONNX model.")
    ap.add_argument("out")
    ap.add_argument("--expected", help="also write the per-layer exact widths as JSON")
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    t0 = time.monotonic()
    model, net = build(args.seed)
    t_build = time.monotonic() - t0
    onnx.checker.check_model(model)
    t_check = time.monotonic() - t0 - t_build
    onnx.save(model, args.out)
    size = os.path.getsize(args.out)
    print("%s: %d layers, %d int8 weights (%.2f M), %d nodes, %d bytes (%.1f MiB); built in %.2fs, "
          "checked in %.2fs, total %.2fs"
          % (args.out, len(net.layers), net.weights, net.weights / 1e6, len(net.nodes), size, size / 2 ** 20,
             t_build, t_check, time.monotonic() - t0))
    if args.expected:
        name = os.path.basename(args.out)
        doc = {"model": name, "form": "qdq", "description": "ResNet-18-sized QDQ int8 model (bench)",
               "brute_force": False, "layers": net.layers}
        with open(args.expected, "w") as f:
            json.dump(doc, f)
        worst = max(net.layers, key=lambda l: l["needed_P_with_bias"])
        print("expected widths written to %s: needed_P_with_bias %d..%d (largest at %s)" % (
            args.expected, min(l["needed_P_with_bias"] for l in net.layers), worst["needed_P_with_bias"],
            worst["node"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
