#!/usr/bin/python3
"""Write quantized ONNX models in the forms quantization tools emit, with the accumulator widths
`a2q audit` must report for them, computed here independently of a2q.

Usage:
    make_audit_fixtures.py OUT_DIR

For every fixture NAME it writes OUT_DIR/NAME.onnx and OUT_DIR/NAME.expected.json; the refusal cases go
to OUT_DIR/malformed_*.onnx, listed in OUT_DIR/malformed.json. Every model is built with onnx.helper from
integer weights chosen here (fixed seeds), passes onnx.checker.check_model(full_check=True), and is read
back from disk to confirm it holds exactly the integers the expectations were computed from.

Expected values (the "definitions" key of each JSON says the same):
  * x_q = x_int - x_zp, x_int over the input's integer type (or QONNX grid); a Relu after the dequantizer
    clips the range to [max(lo, 0), max(hi, 0)]; MaxPool, Flatten, Reshape and Identity keep it.
  * w_q = w_int - w_zp[c]. Per output channel c, without the bias:
        max_c = sum_{w>0} w*hi + sum_{w<0} w*lo,   min_c = sum_{w>0} w*lo + sum_{w<0} w*hi.
    With the bias: [min_c + b_c, max_c + b_c], b_c the int32 bias in accumulator units (s_x * s_w[c]).
  * needed_P = smallest P with [min, max] inside [-2^(P-1), 2^(P-1) - 1] (P >= 1).
  * Layers with K <= 16 are brute-forced: every input vector in {lo, hi}^K is tried (the sum is linear
    in x, so its extremes over the box are at corners), and the result must equal the sign-split formula
    and the element-wise formula sum_k max(w_k*lo, w_k*hi); random interior inputs must stay inside.
    Larger layers use the two formulas only and say "brute_force": false.
  * N (input bits): bits of the range [lo, hi]: two's complement when lo < 0 (input_signed), plain
    binary otherwise. M (weight bits): the weight's storage bits (QONNX: the bit width), one more when
    any of its zero points is nonzero, and at least the two's-complement bits of [min w_q, max w_q].
  * datatype_bound_P = ceil(alpha + log2(1 + 2^-alpha) + 1), alpha = log2(K) + N + M - 1 - s
    (s = 1 for signed inputs); computed exactly as bit_length(K * 2^(N+M-1-s)) + 1 and checked
    against the floating-point formula.
  * A layer's needed_P / needed_P_with_bias is the maximum over its channels; worst_channel is the
    first channel with the largest needed_P_with_bias.

Forms and where their patterns come from (microsoft/onnxruntime, onnxruntime/python/tools/quantization):
  qdq      qdq_quantizer.py (QDQQuantizer._add_qdq_pair_for_activation: Q "<t>_QuantizeLinear" ->
           "<t>_QuantizeLinear_Output", DQ "<t>_DequantizeLinear" -> "<t>_DequantizeLinear_Output",
           scalar scale "<t>_scale" and zero point "<t>_zero_point"; _add_qdq_pair_for_initializer: weight
           "<w>_quantized" + DQ "<w>_DequantizeLinear" with axis=<channel axis>; _quantize_bias_tensors:
           DQ "<b>_DequantizeLinear" of "<b>_quantized" int32 with axis 0 when the bias scale has one
           value per channel, output = the original bias name), base_quantizer.py
           (quantize_bias_static_impl: bias scale = input_scale * weight_scale, zero point int32 zeros
           of shape [C] (a scalar 0 when per-tensor); quantize_weight_per_channel_impl: scale and zero
           point of shape [C]), operators/conv.py (QDQConv: per-channel axis 0), operators/gemm.py
           (QDQGemm: axis 0 if transB else 1), operators/activation.py (QDQRemovableActivation: a Relu
           whose input feeds only it is removed and the producer's output quantized with the Relu's
           range), operators/direct_q8.py (QDQDirect8BitOp: MaxPool/Reshape output re-quantized with the
           input's scale and zero point), quant_utils.py (int8 symmetric weights in [-127, 127],
           compute_scale_zp: asymmetric zero point round(qmin - rmin/scale)).
  qlinear  onnx_quantizer.py (_get_quantize_input_nodes: QuantizeLinear "<t>_QuantizeLinear" ->
           "<t>_quantized"; quantize_bias_static: int32 "<b>_quantized"), operators/conv.py
           (QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B; per-channel axis 0;
           name "<node>_quant"), operators/matmul.py (QLinearMatMul), operators/activation.py
           (QLinearActivation.QuantizeClipRelu: a Relu after a quantized op disappears),
           operators/maxpool.py and direct_q8.py (QMaxPool / Direct8BitOp: MaxPool and Reshape run on
           the uint8 tensor directly, output "<t>_quantized" with the input's scale and zero point).
  integer  operators/conv.py (ConvInteger: ConvInteger -> Cast(to float) "<out>_cast" -> Mul by
           Mul(x_scale, w_scale) "<node>_scales_mul" -> float bias via Reshape [1,-1,1,1] + Add, see
           ConvInteger.add_bias), operators/matmul.py (MatMulInteger, per-column weight quantization).
  qonnx    QONNX Quant nodes (domain qonnx.custom_op.general) as Brevitas and a2q write them
           (docs/onnx.md).
Deviations from what ORT itself would write are named in each fixture's "description".
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
QONNX_DOMAIN = "qonnx.custom_op.general"
BRUTE_FORCE_MAX_K = 16
F32, I8, U8, I32, I64 = (TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32,
                         TensorProto.INT64)
NP_OF = {F32: np.float32, I8: np.int8, U8: np.uint8, I32: np.int32, I64: np.int64}
TYPE_RANGE = {U8: (0, 255, 8), I8: (-128, 127, 8)}

DEFINITIONS = {
    "x_q": "x_int - x_zp over the input's integer type or QONNX grid; a Relu after the dequantizer clips "
           "the range to [max(lo,0), max(hi,0)]; MaxPool/Flatten/Reshape/Identity keep it",
    "w_q": "w_int - w_zp[c] (per output channel zero point)",
    "min/max": "per channel without bias: max = sum_{w>0} w*hi + sum_{w<0} w*lo, "
               "min = sum_{w>0} w*lo + sum_{w<0} w*hi (exact integers)",
    "bias": "int32 bias in accumulator units (scale s_x*s_w[c]); 0 when the layer has none; a float bias "
            "added after the integer op (ConvInteger/MatMulInteger form) is not in the accumulator",
    "needed_P": "smallest P >= 1 with [min, max] inside [-2^(P-1), 2^(P-1)-1]",
    "needed_P_with_bias": "the same for [min + bias, max + bias]",
    "layer needed_P": "maximum over channels; worst_channel = first channel with the largest "
                      "needed_P_with_bias",
    "N": "bits of the input range [lo, hi]: two's complement when lo < 0 (input_signed), plain binary "
         "otherwise",
    "M": "storage bits of the weight (QONNX: bit width), +1 when any weight zero point is nonzero, at least "
         "the two's-complement bits of [min w_q, max w_q]",
    "K": "dot-product length: C_in/groups*kh*kw (Conv), in_features (Gemm, MatMul)",
    "datatype_bound_P": "ceil(alpha + log2(1 + 2^-alpha) + 1), alpha = log2(K) + N + M - 1 - (1 if "
                        "input_signed); = bit_length(K * 2^(N+M-1-s)) + 1",
    "brute_force": "true: every input in {lo,hi}^K tried per channel and equal to the formulas",
}


# ------------------------------------------------------------------------------------------ arithmetic

def needed_bits(lo, hi):
    """Smallest P >= 1 with [lo, hi] inside the P-bit two's-complement range."""
    lo, hi = int(lo), int(hi)
    p = 1
    while lo < -(1 << (p - 1)) or hi > (1 << (p - 1)) - 1:
        p += 1
    return p


def range_bits(lo, hi):
    """(bits, signed) of the integers in [lo, hi]: two's complement when lo < 0, else plain binary."""
    lo, hi = int(lo), int(hi)
    if lo < 0:
        return needed_bits(lo, hi), True
    p = 1
    while hi > (1 << p) - 1:
        p += 1
    return p, False


def weight_bits(storage_bits, any_nonzero_zp, wq):
    bits = storage_bits + (1 if any_nonzero_zp else 0)
    return max(bits, needed_bits(min(0, int(wq.min())), max(0, int(wq.max()))))


def datatype_bound(K, N, M, signed):
    e = N + M - 1 - (1 if signed else 0)
    exact = (int(K) << e).bit_length() + 1
    alpha = math.log2(K) + e
    approx = math.ceil(alpha + math.log2(1 + 2.0 ** -alpha) + 1)
    assert exact == approx, (K, N, M, signed, exact, approx)
    return exact


def sign_split(wq, lo, hi):
    """Per-channel (min, max) from the sign split; wq is [C, K] int64."""
    pos = np.where(wq > 0, wq, 0).sum(axis=1)
    neg = np.where(wq < 0, wq, 0).sum(axis=1)
    return pos * lo + neg * hi, pos * hi + neg * lo


def elementwise(wq, lo, hi):
    """Per-channel (min, max) as sums of per-element extremes (a second, independent formula)."""
    a, b = wq * lo, wq * hi
    return np.minimum(a, b).sum(axis=1), np.maximum(a, b).sum(axis=1)


def brute_force(wq, lo, hi, rng):
    """Per-channel (min, max) over every input vector in {lo, hi}^K; checks random interior inputs."""
    C, K = wq.shape
    assert K <= BRUTE_FORCE_MAX_K
    corners = ((np.arange(1 << K, dtype=np.int64)[:, None] >> np.arange(K)) & 1).astype(bool)
    X = np.where(corners, np.int64(hi), np.int64(lo))            # [2^K, K]
    sums = X @ wq.T                                                # [2^K, C]
    mn, mx = sums.min(axis=0), sums.max(axis=0)
    inner = rng.integers(lo, hi + 1, size=(2000, K), dtype=np.int64) @ wq.T
    assert (inner >= mn).all() and (inner <= mx).all()
    return mn, mx


# ------------------------------------------------------------------------------------------ building

class Builder:
    """Nodes, initializers and value infos of one graph, added in topological order."""

    def __init__(self, name):
        self.name = name
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.opsets = {"": OPSET}

    def init(self, name, array, dtype=None):
        a = np.asarray(array, dtype=NP_OF[dtype] if dtype is not None else None)
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def raw_init(self, tensor):
        self.inits.append(tensor)
        return tensor.name

    def node(self, op, inputs, outputs, name, domain=None, **attrs):
        if domain:
            self.opsets[domain] = 1
        n = helper.make_node(op, inputs, outputs if isinstance(outputs, list) else [outputs], name=name,
                             domain=domain, **attrs)
        self.nodes.append(n)
        return n.output[0]

    def input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def model(self):
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in self.opsets.items()],
                              producer_name="a2q tests/onnx/make_audit_fixtures.py")
        return m

    # ---- ORT-style QDQ pieces (qdq_quantizer.py naming)

    def qdq_activation(self, tensor, scale, zp, zp_type, q_name=None):
        """Q -> DQ on tensor (scalar scale and zero point); returns (dq_output, q_node_name)."""
        s = self.init(tensor + "_scale", np.float32(scale))
        z = self.init(tensor + "_zero_point", zp, zp_type)
        q_name = q_name or tensor + "_QuantizeLinear"
        q_out = self.node("QuantizeLinear", [tensor, s, z], tensor + "_QuantizeLinear_Output", q_name)
        dq = self.node("DequantizeLinear", [q_out, s, z], tensor + "_DequantizeLinear_Output",
                       tensor + "_DequantizeLinear")
        return dq, q_name

    def dq_weight(self, wname, w_int, scales, zps=None, axis=0):
        """DQ of an int8 per-channel weight; returns the DQ output name."""
        q = self.init(wname + "_quantized", w_int, I8)
        s = self.init(wname + "_scale", np.asarray(scales, np.float32))
        z = self.init(wname + "_zero_point",
                      np.zeros(len(scales), np.int8) if zps is None else np.asarray(zps, np.int8))
        return self.node("DequantizeLinear", [q, s, z], wname + "_DequantizeLinear_Output",
                         wname + "_DequantizeLinear", axis=axis)

    def dq_bias(self, bname, b_int, x_scale, w_scales):
        """DQ of an int32 bias with scale x_scale * w_scale[c], zero point int32 zeros [C], axis 0."""
        q = self.init(bname + "_quantized", b_int, I32)
        s = self.init(bname + "_quantized_scale", (np.float32(x_scale) * np.asarray(w_scales, np.float32)))
        z = self.init(bname + "_quantized_zero_point", np.zeros(len(w_scales), np.int32))
        return self.node("DequantizeLinear", [q, s, z], bname, bname + "_DequantizeLinear", axis=0)


class Fixture:
    """One model and the expectations for its layers."""

    def __init__(self, name, form, description):
        self.name, self.form, self.description = name, form, description
        self.b = Builder(name)
        self.layers = []
        self.rng = np.random.default_rng(sum(map(ord, name)) * 7919)
        self.extra = {}

    def layer(self, node, op_type, form, wq, lo, hi, storage_bits, any_nonzero_zp, bias, input_from,
              readback):
        """Expectations of one layer; wq is [C, K] int64 (weights minus zero points)."""
        wq = np.asarray(wq, np.int64)
        C, K = wq.shape
        lo, hi = int(lo), int(hi)
        mn, mx = sign_split(wq, lo, hi)
        emn, emx = elementwise(wq, lo, hi)
        assert (mn == emn).all() and (mx == emx).all(), node
        brute = K <= BRUTE_FORCE_MAX_K
        if brute:
            bmn, bmx = brute_force(wq, lo, hi, self.rng)
            assert (bmn == mn).all() and (bmx == mx).all(), (node, bmn, mn, bmx, mx)
        bias_v = np.zeros(C, np.int64) if bias is None else np.asarray(bias, np.int64)
        N, signed = range_bits(lo, hi)
        M = weight_bits(storage_bits, any_nonzero_zp, wq)
        channels = []
        for c in range(C):
            channels.append({"channel": c, "min": int(mn[c]), "max": int(mx[c]), "bias": int(bias_v[c]),
                             "needed_P": needed_bits(mn[c], mx[c]),
                             "needed_P_with_bias": needed_bits(mn[c] + bias_v[c], mx[c] + bias_v[c])})
        with_bias = [ch["needed_P_with_bias"] for ch in channels]
        rec = {"node": node, "op_type": op_type, "form": form, "out_channels": C, "K": K, "M": M, "N": N,
               "input_signed": signed, "input_range": [lo, hi], "input_from_node": input_from,
               "has_bias": bias is not None,
               "datatype_bound_P": datatype_bound(K, N, M, signed),
               "needed_P": max(ch["needed_P"] for ch in channels),
               "needed_P_with_bias": max(with_bias),
               "worst_channel": with_bias.index(max(with_bias)),
               "brute_force": brute, "channels": channels}
        # the data-type bound must hold for the exact widths (it assumes |x| <= 2^(N-s)-ish, |w| <= 2^(M-1))
        assert rec["datatype_bound_P"] >= rec["needed_P"], rec
        self.layers.append((rec, wq, bias, readback))
        return rec

    def write(self, out_dir):
        m = self.b.model()
        onnx.checker.check_model(m, full_check=True)
        path = os.path.join(out_dir, self.name + ".onnx")
        onnx.save(m, path)
        self.readback(path)
        layers = [rec for rec, _, _, _ in self.layers]
        doc = {"model": self.name + ".onnx", "form": self.form, "description": self.description,
               "opset": OPSET, "brute_force": all(r["brute_force"] for r in layers),
               "definitions": DEFINITIONS, "layers": layers}
        doc.update(self.extra)
        with open(os.path.join(out_dir, self.name + ".expected.json"), "w") as f:
            json.dump(doc, f, indent=1)
        return doc

    def readback(self, path):
        """The file on disk must hold the integers the expectations came from."""
        m = onnx.load(path)
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        names = {n.name for n in m.graph.node}
        for rec, wq, bias, rb in self.layers:
            assert rec["node"] in names, rec["node"]
            w = inits[rb["w"]].astype(np.float64)
            if "scale" in rb:   # QONNX: float weight = integer * scale[c]
                w = np.round(w / inits[rb["scale"]].astype(np.float64))
            w = w.astype(np.int64)
            if rb["layout"] == "cols":          # [K, C]
                w = w.T
            else:                               # [C, ...]
                w = w.reshape(w.shape[0], -1)
            if rb.get("zp"):
                w = w - inits[rb["zp"]].astype(np.int64).reshape(-1, 1)
            assert np.array_equal(w, wq), (self.name, rec["node"])
            if bias is not None:
                if "bias_float" in rb:       # QONNX: float bias / (s_x * s_w[c])
                    b = inits[rb["bias_float"]].astype(np.float64) / (
                        rb["x_scale"] * inits[rb["scale"]].astype(np.float64).reshape(-1))
                    assert np.array_equal(b, np.round(b)), "QONNX bias not exact in accumulator units"
                    b = np.round(b).astype(np.int64)
                else:
                    b = inits[rb["bias"]].astype(np.int64)
                assert np.array_equal(b, np.asarray(bias, np.int64)), (self.name, rec["node"])


def rand_int8(rng, shape, lo=-127, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


# ------------------------------------------------------------------------------------------ fixtures

def qdq_cnn():
    f = Fixture("qdq_cnn", "qdq",
                "ONNX Runtime QDQ (qdq_quantizer.py): uint8 activations (input zero point 128), int8 "
                "per-channel "
                "weights (DequantizeLinear axis 0, zero points int8 zeros [C]), int32 biases through "
                "DequantizeLinear with scale s_x*s_w[c]. Deviations: the Relu is kept between Conv and its "
                "QuantizeLinear (ORT removes it, activation.py QDQRemovableActivation, unless "
                "QDQKeepRemovableActivations), and MaxPool/Flatten have no Q/DQ of their own (ORT "
                "re-quantizes "
                "the MaxPool output, direct_q8.py), so the range passes through them to the Gemm. Gemm K = "
                "16: "
                "brute force over 2^16 corners.")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 1, 6, 6])
    s_in = 1.0 / 128
    xd, xq = b.qdq_activation(x, s_in, 128, U8)
    # conv1: channel 0 all +127, channel 1 all zero, channel 2 random, channel 3 random with a -128
    w1 = np.zeros((4, 1, 3, 3), np.int8)
    w1[0] = 127
    w1[2] = rand_int8(rng, (1, 3, 3))
    w1[3] = rand_int8(rng, (1, 3, 3))
    w1[3, 0, 1, 1] = -128
    s_w1 = np.array([0.0021, 0.0034, 0.0011, 0.0047], np.float32)
    b1 = np.array([5000, -1000, 400000, -7], np.int32)
    wd = b.dq_weight("conv1.weight", w1, s_w1, axis=0)
    bd = b.dq_bias("conv1.bias", b1, s_in, s_w1)
    c1 = b.node("Conv", [xd, wd, bd], "/conv1/Conv_output_0", "/conv1/Conv", kernel_shape=[3, 3])
    f.layer("/conv1/Conv", "Conv", "qdq", w1.reshape(4, -1), -128, 127, 8, False, b1, xq,
            {"w": "conv1.weight_quantized", "zp": "conv1.weight_zero_point", "layout": "rows",
             "bias": "conv1.bias_quantized"})
    r = b.node("Relu", [c1], "/relu/Relu_output_0", "/relu/Relu")
    s_r = 0.05
    rd, rq = b.qdq_activation(r, s_r, 0, U8)
    p = b.node("MaxPool", [rd], "/pool/MaxPool_output_0", "/pool/MaxPool", kernel_shape=[2, 2],
               strides=[2, 2])
    fl = b.node("Flatten", [p], "/flatten/Flatten_output_0", "/flatten/Flatten", axis=1)
    w2 = rand_int8(rng, (5, 16))
    s_w2 = np.array([0.003, 0.002, 0.004, 0.0025, 0.001], np.float32)
    b2 = rng.integers(-20000, 20001, size=5).astype(np.int32)
    wd2 = b.dq_weight("fc.weight", w2, s_w2, axis=0)           # gemm.py: axis 0 when transB = 1
    bd2 = b.dq_bias("fc.bias", b2, s_r, s_w2)
    g = b.node("Gemm", [fl, wd2, bd2], "/fc/Gemm_output_0", "/fc/Gemm", alpha=1.0, beta=1.0, transB=1)
    f.layer("/fc/Gemm", "Gemm", "qdq", w2, 0, 255, 8, False, b2, rq,
            {"w": "fc.weight_quantized", "zp": "fc.weight_zero_point", "layout": "rows",
             "bias": "fc.bias_quantized"})
    # graph output: Q/DQ on the Gemm output as ORT writes it (the output keeps its name)
    s = b.init("output_scale", np.float32(0.1))
    z = b.init("output_zero_point", 100, U8)
    q = b.node("QuantizeLinear", [g, s, z], "output_QuantizeLinear_Output", "output_QuantizeLinear")
    b.node("DequantizeLinear", [q, s, z], "output", "output_DequantizeLinear")
    b.output("output", F32, [1, 5])
    return f


def qlinear_cnn():
    f = Fixture("qlinear_cnn", "qlinear",
                "ONNX Runtime QOperator format (onnx_quantizer.py, operators/conv.py QLinearConv, "
                "operators/matmul.py QLinearMatMul): QuantizeLinear (uint8, zero point 128) -> QLinearConv "
                "(int8 per-channel weights, int32 bias; its Relu folded away as QuantizeClipRelu does, so "
                "y_zero_point 0) -> MaxPool and Reshape on the uint8 tensor (Direct8BitOp) -> QLinearMatMul "
                "(per-tensor int8 weight [K, N]) -> DequantizeLinear.")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 1, 6, 6])
    s_in = 1.0 / 128
    xs = b.init("input_scale", np.float32(s_in))
    xz = b.init("input_zero_point", 128, U8)
    xq = b.node("QuantizeLinear", [x, xs, xz], "input_quantized", "input_QuantizeLinear")
    w1 = rand_int8(rng, (3, 1, 3, 3))
    w1[1] = -np.abs(w1[1])          # channel 1: all weights <= 0
    s_w1 = np.array([0.004, 0.002, 0.003], np.float32)
    b1 = np.array([-3000, 250, 70000], np.int32)
    ws = b.init("conv1.weight_scale", s_w1)
    wz = b.init("conv1.weight_zero_point", np.zeros(3, np.int8))
    wq = b.init("conv1.weight_quantized", w1)
    bq = b.init("conv1.bias_quantized", b1)
    ys = b.init("/conv1/Conv_output_0_scale", np.float32(0.04))
    yz = b.init("/conv1/Conv_output_0_zero_point", 0, U8)
    c1 = b.node("QLinearConv", [xq, xs, xz, wq, ws, wz, ys, yz, bq], "/conv1/Conv_output_0_quantized",
                "/conv1/Conv_quant", kernel_shape=[3, 3])
    f.layer("/conv1/Conv_quant", "QLinearConv", "qlinear", w1.reshape(3, -1), -128, 127, 8, False, b1,
            "input_QuantizeLinear",
            {"w": "conv1.weight_quantized", "zp": "conv1.weight_zero_point", "layout": "rows",
             "bias": "conv1.bias_quantized"})
    p = b.node("MaxPool", [c1], "/pool/MaxPool_output_0_quantized", "/pool/MaxPool", kernel_shape=[2, 2],
               strides=[2, 2])
    shape = b.init("/flatten/Constant_output_0", np.array([1, 12], np.int64))
    fl = b.node("Reshape", [p, shape], "/flatten/Reshape_output_0_quantized", "/flatten/Reshape")
    w2 = rand_int8(rng, (12, 5))
    bw = b.init("fc.weight_quantized", w2)
    bs = b.init("fc.weight_scale", np.float32(0.005))
    bz = b.init("fc.weight_zero_point", 0, I8)
    os_ = b.init("/fc/MatMul_output_0_scale", np.float32(0.2))
    oz = b.init("/fc/MatMul_output_0_zero_point", 128, U8)
    mm = b.node("QLinearMatMul", [fl, ys, yz, bw, bs, bz, os_, oz], "/fc/MatMul_output_0_quantized",
                "/fc/MatMul_quant")
    f.layer("/fc/MatMul_quant", "QLinearMatMul", "qlinear", w2.T, 0, 255, 8, False, None,
            "/conv1/Conv_quant", {"w": "fc.weight_quantized", "layout": "cols"})
    b.node("DequantizeLinear", [mm, os_, oz], "output", "output_DequantizeLinear")
    b.output("output", F32, [1, 5])
    return f


def integer_ops():
    f = Fixture("integer_ops", "integer",
                "ONNX Runtime IntegerOps format (operators/conv.py ConvInteger, operators/matmul.py "
                "MatMulInteger): ConvInteger -> Cast(float) -> Mul(Mul(x_scale, w_scale)) -> float bias via "
                "Reshape + Add; MatMulInteger -> Cast -> Mul. The float bias is added after the integer op, "
                "so it is not in the accumulator (has_bias false). Deviations: the activations come from "
                "QuantizeLinear with constant zero points (ORT's dynamic quantization writes "
                "DynamicQuantizeLinear, whose zero point is only known at run time), the input zero point is "
                "120 (x_q in [-120, 135]: signed, N = 9), and the weight zero points are per channel "
                "(ConvInteger [1, 0, -2, 0], MatMulInteger per column [0, 3, -1]; ORT writes one).")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 3, 4, 4])
    xs = b.init("input_scale", np.float32(0.02))
    xz = b.init("input_zero_point", 120, U8)
    xq = b.node("QuantizeLinear", [x, xs, xz], "input_quantized", "input_QuantizeLinear")
    w1 = rand_int8(rng, (4, 3, 2, 2), -128, 127)
    w1[0, 0, 0, 0] = -128           # with zero point 1: w_q = -129
    w1[2, 1, 1, 1] = 127            # with zero point -2: w_q = 129
    zp1 = np.array([1, 0, -2, 0], np.int8)
    wq_ = b.init("conv1.weight_quantized", w1)
    wz = b.init("conv1.weight_zero_point", zp1)
    ws = b.init("conv1.weight_scale", np.float32(0.003))
    ci = b.node("ConvInteger", [xq, wq_, xz, wz], "/conv1/Conv_output_0_output_quantized",
                "/conv1/Conv_quant",
                kernel_shape=[2, 2])
    f.layer("/conv1/Conv_quant", "ConvInteger", "integer",
            w1.reshape(4, -1).astype(np.int64) - zp1.astype(np.int64)[:, None], -120, 135, 8, True, None,
            "input_QuantizeLinear",
            {"w": "conv1.weight_quantized", "zp": "conv1.weight_zero_point", "layout": "rows"})
    cast = b.node("Cast", [ci], "/conv1/Conv_output_0_output_quantized_cast_output",
                  "/conv1/Conv_output_0_output_quantized_cast", to=F32)
    sm = b.node("Mul", [xs, ws], "/conv1/Conv_quant_scales_mul:0", "/conv1/Conv_quant_scales_mul")
    scaled = b.node("Mul", [cast, sm], "/conv1/Conv_output_0quant_scaled_output",
                    "/conv1/Conv_quant_output_scale_mul")
    bias = b.init("conv1.bias", np.array([0.5, -0.25, 0.125, 1.0], np.float32))
    rshape = b.init("/conv1/Conv_output_0_bias_reshape_shape", np.array([1, -1, 1, 1], np.int64))
    br = b.node("Reshape", [bias, rshape], "/conv1/Conv_output_0_bias_reshape_output",
                "/conv1/Conv_output_0_bias_reshape")
    c1 = b.node("Add", [scaled, br], "/conv1/Conv_output_0", "/conv1/Conv_output_0_bias_add")
    r = b.node("Relu", [c1], "/relu/Relu_output_0", "/relu/Relu")
    shape = b.init("/Constant_output_0", np.array([4, 9], np.int64))
    rs = b.node("Reshape", [r, shape], "/Reshape_output_0", "/Reshape")
    as_ = b.init("/Reshape_output_0_scale", np.float32(0.03))
    az = b.init("/Reshape_output_0_zero_point", 0, U8)
    aq = b.node("QuantizeLinear", [rs, as_, az], "/Reshape_output_0_quantized",
                "/Reshape_output_0_QuantizeLinear")
    w2 = rand_int8(rng, (9, 3), -128, 127)
    zp2 = np.array([0, 3, -1], np.int8)
    bw = b.init("fc.weight_quantized", w2)
    bz = b.init("fc.weight_zero_point", zp2)
    bs = b.init("fc.weight_scale", np.float32(0.01))
    mi = b.node("MatMulInteger", [aq, bw, az, bz], "/fc/MatMul_output_0_output_quantized", "/fc/MatMul_quant")
    f.layer("/fc/MatMul_quant", "MatMulInteger", "integer",
            (w2.astype(np.int64) - zp2.astype(np.int64)[None, :]).T, 0, 255, 8, True, None,
            "/Reshape_output_0_QuantizeLinear",
            {"w": "fc.weight_quantized", "layout": "cols", "zp": "fc.weight_zero_point"})
    cast2 = b.node("Cast", [mi], "/fc/MatMul_output_0_output_quantized_cast_output",
                   "/fc/MatMul_output_0_output_quantized_cast", to=F32)
    sm2 = b.node("Mul", [as_, bs], "/fc/MatMul_quant_scales_mul:0", "/fc/MatMul_quant_scales_mul")
    b.node("Mul", [cast2, sm2], "output", "/fc/MatMul_quant_output_scale_mul")
    b.output("output", F32, [4, 3])
    return f


def qdq_misc():
    f = Fixture("qdq_misc", "qdq",
                "Hand-made QDQ patterns for the range rules: int8 input (zero point 0) -> DequantizeLinear "
                "-> "
                "Identity -> Relu -> Conv without bias (x_q in [0, 127]: unsigned, N = 7), then an "
                "asymmetric "
                "uint8 activation (zero point 10, as compute_scale_zp gives for a range that is not "
                "symmetric: x_q in [-10, 245], signed, N = 9) into a depthwise Conv (group 3, K = 9) with an "
                "int32 bias. ORT itself puts the Q/DQ pair after the Relu; a Relu left between the "
                "dequantizer and the layer (another tool, or a Relu excluded from quantization) must clip "
                "the range.")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 2, 5, 5])
    xd, xq = b.qdq_activation(x, 0.05, 0, I8)
    idn = b.node("Identity", [xd], "/Identity_output_0", "/Identity")
    r = b.node("Relu", [idn], "/relu0/Relu_output_0", "/relu0/Relu")
    w1 = rand_int8(rng, (3, 2, 2, 2))
    s_w1 = np.array([0.01, 0.02, 0.015], np.float32)
    wd = b.dq_weight("conv1.weight", w1, s_w1, axis=0)
    c1 = b.node("Conv", [r, wd], "/conv1/Conv_output_0", "/conv1/Conv", kernel_shape=[2, 2])
    f.layer("/conv1/Conv", "Conv", "qdq", w1.reshape(3, -1), 0, 127, 8, False, None, xq,
            {"w": "conv1.weight_quantized", "zp": "conv1.weight_zero_point", "layout": "rows"})
    s_c1 = 0.1
    cd, cq = b.qdq_activation(c1, s_c1, 10, U8)
    w2 = rand_int8(rng, (3, 1, 3, 3))
    s_w2 = np.array([0.02, 0.01, 0.03], np.float32)
    b2 = np.array([-40000, 123, 65000], np.int32)
    wd2 = b.dq_weight("dw.weight", w2, s_w2, axis=0)
    bd2 = b.dq_bias("dw.bias", b2, s_c1, s_w2)
    c2 = b.node("Conv", [cd, wd2, bd2], "/dw/Conv_output_0", "/dw/Conv", kernel_shape=[3, 3], group=3)
    f.layer("/dw/Conv", "Conv", "qdq", w2.reshape(3, -1), -10, 245, 8, False, b2, cq,
            {"w": "dw.weight_quantized", "zp": "dw.weight_zero_point", "layout": "rows",
             "bias": "dw.bias_quantized"})
    s = b.init("output_scale", np.float32(0.2))
    z = b.init("output_zero_point", 0, I8)
    q = b.node("QuantizeLinear", [c2, s, z], "output_QuantizeLinear_Output", "output_QuantizeLinear")
    b.node("DequantizeLinear", [q, s, z], "output", "output_DequantizeLinear")
    b.output("output", F32, [1, 3, 2, 2])
    return f


def qonnx_mlp():
    f = Fixture("qonnx_mlp", "qonnx",
                "QONNX (Quant nodes, domain qonnx.custom_op.general) as Brevitas/a2q write it: unsigned "
                "4-bit "
                "input grid [0, 15], 4-bit signed narrow weights [-7, 7] stored as integer * scale with "
                "per-channel scales of shape (OC, 1), float biases; Relu then an unsigned 3-bit Quant [0, 7] "
                "before a second Gemm with 3-bit weights. Scales are powers of two, so each float bias is "
                "exactly an integer in accumulator units (bias / (s_x * s_w[c])), which is the expected "
                "bias.")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 12])

    def quant(name, inp, scale, bits, signed, narrow, out):
        s = b.init(name + "_scale", np.asarray(scale, np.float32))
        z = b.init(name + "_zeropt", np.float32(0))
        w = b.init(name + "_bitwidth", np.float32(bits))
        return b.node("Quant", [inp, s, z, w], out, name, domain=QONNX_DOMAIN, signed=signed, narrow=narrow,
                      rounding_mode="ROUND")

    s_x0 = 0.0625
    a0 = quant("/act0/Quant", x, s_x0, 4, 0, 0, "/act0/Quant_output_0")
    w1 = rng.integers(-7, 8, size=(6, 12)).astype(np.int64)
    w1[0] = 7
    s_w1 = np.array([0.5, 0.25, 0.125, 0.5, 0.0625, 0.25], np.float32).reshape(6, 1)
    b.init("fc1.weight", (w1 * s_w1).astype(np.float32))
    wq1 = quant("/fc1/weight_quant/Quant", "fc1.weight", s_w1, 4, 1, 1, "/fc1/weight_quant/Quant_output_0")
    b1 = np.array([100, -3, 0, 200, -120, 7], np.int64)
    b.init("fc1.bias", (b1 * s_x0 * s_w1.reshape(-1)).astype(np.float32))
    g1 = b.node("Gemm", [a0, wq1, "fc1.bias"], "/fc1/Gemm_output_0", "/fc1/Gemm", transB=1)
    f.layer("/fc1/Gemm", "Gemm", "qonnx", w1, 0, 15, 4, False, b1, "/act0/Quant",
            {"w": "fc1.weight", "scale": "/fc1/weight_quant/Quant_scale", "layout": "rows",
             "bias_float": "fc1.bias", "x_scale": s_x0})
    r = b.node("Relu", [g1], "/relu1/Relu_output_0", "/relu1/Relu")
    s_x1 = 0.25
    a1 = quant("/act1/Quant", r, s_x1, 3, 0, 0, "/act1/Quant_output_0")
    w2 = rng.integers(-3, 4, size=(3, 6)).astype(np.int64)
    s_w2 = np.array([0.5, 1.0, 0.25], np.float32).reshape(3, 1)
    b.init("fc2.weight", (w2 * s_w2).astype(np.float32))
    wq2 = quant("/fc2/weight_quant/Quant", "fc2.weight", s_w2, 3, 1, 1, "/fc2/weight_quant/Quant_output_0")
    b2 = np.array([-9, 40, 3], np.int64)
    b.init("fc2.bias", (b2 * s_x1 * s_w2.reshape(-1)).astype(np.float32))
    b.node("Gemm", [a1, wq2, "fc2.bias"], "output", "/fc2/Gemm", transB=1)
    f.layer("/fc2/Gemm", "Gemm", "qonnx", w2, 0, 7, 3, False, b2, "/act1/Quant",
            {"w": "fc2.weight", "scale": "/fc2/weight_quant/Quant_scale", "layout": "rows",
             "bias_float": "fc2.bias", "x_scale": s_x1})
    b.output("output", F32, [1, 3])
    return f


def qdq_mnist_cnn(name, full_range):
    """ORT static QDQ, QInt8 activations (asymmetric: zero point -128 for ranges starting at 0) and
    per-channel symmetric int8 weights; Relus removed as QDQRemovableActivation does; MaxPool re-quantized
    with its input's parameters (QDQDirect8BitOp); the Gemm's input gets its own Q/DQ (QDQGemm)."""
    f = Fixture(name, "qdq",
                "ONNX Runtime static QDQ, int8 activations with zero point -128 after each (removed) Relu "
                "and "
                "on the [0, 1] input (x_q in [0, 255]), int8 per-channel weights, int32 biases: input "
                "[1,1,28,28] -> Conv 1->8 3x3 -> MaxPool 2 -> Conv 8->16 3x3 -> MaxPool 2 -> Flatten (400) "
                "-> Gemm 400->10. " +
                ("Full-range int8 weights: some layer needs more than 16 bits." if full_range else
                 "Small sparse weights (conv1 channels 0 and 1 reach exactly +-32640 + bias): every layer "
                 "fits 16 bits with its bias.") + " Large K: formulas only (brute_force false).")
    b, rng = f.b, f.rng
    x = b.input("input", F32, [1, 1, 28, 28])
    s_x = np.float32(1.0 / 255)
    xd, xq = b.qdq_activation(x, s_x, -128, I8)

    def weights(shape, sparsity, mag):
        if full_range:
            return rand_int8(rng, shape)
        w = rng.integers(-mag, mag + 1, size=shape)
        w[rng.random(shape) < sparsity] = 0
        return w.astype(np.int8)

    def conv(tag, inp, in_q, w, bias, s_in, out_scale):
        oc = w.shape[0]
        s_w = (rng.uniform(0.5, 2.0, size=oc) * (0.01 if full_range else 0.05)).astype(np.float32)
        wd = b.dq_weight(tag + ".weight", w, s_w, axis=0)
        bd = b.dq_bias(tag + ".bias", bias, s_in, s_w)
        node = "/%s/Conv" % tag
        # the Relu is removed; the Conv writes the Relu's output name (try_replacing_upstream_output)
        relu_out = "/relu%s/Relu_output_0" % tag[-1]
        b.node("Conv", [inp, wd, bd], relu_out, node, kernel_shape=[3, 3])
        f.layer(node, "Conv", "qdq", w.reshape(oc, -1), 0, 255, 8, False, bias, in_q,
                {"w": tag + ".weight_quantized", "zp": tag + ".weight_zero_point", "layout": "rows",
                 "bias": tag + ".bias_quantized"})
        rd, rq = b.qdq_activation(relu_out, out_scale, -128, I8)
        pool = "/pool%s/MaxPool" % tag[-1]
        p = b.node("MaxPool", [rd], pool + "_output_0", pool, kernel_shape=[2, 2], strides=[2, 2])
        # QDQDirect8BitOp: the output shares the input's scale and zero point initializers
        pq = b.node("QuantizeLinear", [p, relu_out + "_scale", relu_out + "_zero_point"],
                    p + "_QuantizeLinear_Output", p + "_QuantizeLinear")
        pd = b.node("DequantizeLinear", [pq, relu_out + "_scale", relu_out + "_zero_point"],
                    p + "_DequantizeLinear_Output", p + "_DequantizeLinear")
        return pd, p + "_QuantizeLinear"

    w1 = weights((8, 1, 3, 3), 0.5, 8)
    if not full_range:
        w1[0] = np.array([15, 15, 14, 14, 14, 14, 14, 14, 14]).reshape(1, 3, 3)   # sum 128: max 32640
        w1[1] = -w1[0]                                                              # min -32640
    b1 = np.int32(rng.integers(-2000, 2001, size=8) if full_range else rng.integers(-100, 101, size=8))
    if not full_range:
        b1[0], b1[1] = 127, -128        # 32640 + 127 = 32767 and -32640 - 128 = -32768: exactly 16 bits
    s_a1 = np.float32(0.02)
    p1, p1q = conv("conv1", xd, xq, w1, b1, s_x, s_a1)
    w2 = weights((16, 8, 3, 3), 0.75, 3)
    b2 = np.int32(rng.integers(-20000, 20001, size=16) if full_range else rng.integers(-300, 301, size=16))
    s_a2 = np.float32(0.03)
    p2, p2q = conv("conv2", p1, p1q, w2, b2, s_a1, s_a2)
    fl = b.node("Flatten", [p2], "/flatten/Flatten_output_0", "/flatten/Flatten", axis=1)
    fd, fq = b.qdq_activation(fl, s_a2, -128, I8)        # QDQGemm quantizes the Gemm's input
    w3 = weights((10, 400), 0.9, 2)
    s_w3 = (rng.uniform(0.5, 2.0, size=10) * 0.01).astype(np.float32)
    b3 = np.int32(rng.integers(-50000, 50001, size=10) if full_range else rng.integers(-500, 501, size=10))
    wd3 = b.dq_weight("fc.weight", w3, s_w3, axis=0)
    bd3 = b.dq_bias("fc.bias", b3, s_a2, s_w3)
    g = b.node("Gemm", [fd, wd3, bd3], "/fc/Gemm_output_0", "/fc/Gemm", alpha=1.0, beta=1.0, transB=1)
    f.layer("/fc/Gemm", "Gemm", "qdq", w3, 0, 255, 8, False, b3, fq,
            {"w": "fc.weight_quantized", "zp": "fc.weight_zero_point", "layout": "rows",
             "bias": "fc.bias_quantized"})
    s = b.init("output_scale", np.float32(0.1))
    z = b.init("output_zero_point", 0, I8)
    q = b.node("QuantizeLinear", [g, s, z], "output_QuantizeLinear_Output", "output_QuantizeLinear")
    b.node("DequantizeLinear", [q, s, z], "output", "output_DequantizeLinear")
    b.output("output", F32, [1, 10])
    worst = max(rec["needed_P_with_bias"] for rec, _, _, _ in f.layers)
    fits = worst <= 16
    assert fits == (not full_range), (name, worst)
    f.extra["acc_bits_checks"] = [{"acc_bits": 16, "fits": fits, "exit_code": 0 if fits else 4}]
    return f


# ------------------------------------------------------------------------------------------ refusals

def malformed(out_dir):
    """Graphs onnx.checker accepts but the audit must refuse, naming the node (or the tensor)."""
    cases = []

    def save(name, b, node, nodes, reason, what):
        m = b.model()
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, os.path.join(out_dir, name + ".onnx"))
        cases.append({"file": name + ".onnx", "node": node, "nodes": nodes, "reason": reason, "what": what})

    def qdq_conv(name, w_scales, bias_len=None):
        b = Builder(name)
        x = b.input("input", F32, [1, 1, 6, 6])
        xd, _ = b.qdq_activation(x, 1.0 / 128, 128, U8)
        w = np.ones((4, 1, 3, 3), np.int8)
        q = b.init("conv1.weight_quantized", w)
        s = b.init("conv1.weight_scale", np.full(len(w_scales), 0.01, np.float32))
        z = b.init("conv1.weight_zero_point", np.zeros(len(w_scales), np.int8))
        wd = b.node("DequantizeLinear", [q, s, z], "conv1.weight_DequantizeLinear_Output",
                    "conv1.weight_DequantizeLinear", axis=0)
        ins = [xd, wd]
        if bias_len:
            ins.append(b.dq_bias("conv1.bias", np.arange(bias_len, dtype=np.int32), 1.0 / 128,
                                 np.full(bias_len, 0.01, np.float32)))
        b.node("Conv", ins, "output", "/conv1/Conv", kernel_shape=[3, 3])
        b.output("output", F32, [1, 4, 4, 4])
        return b

    save("malformed_scale_len", qdq_conv("malformed_scale_len", [0.01] * 3),
         "conv1.weight_DequantizeLinear", ["conv1.weight_DequantizeLinear", "/conv1/Conv"], "scale",
         "a per-channel weight scale (and zero point) of 3 values for a weight with 4 output channels")
    save("malformed_bias_len", qdq_conv("malformed_bias_len", [0.01] * 4, bias_len=3),
         "/conv1/Conv", ["/conv1/Conv", "conv1.bias_DequantizeLinear"], "bias",
         "an int32 bias of 3 values for 4 output channels")

    # a uint8 zero point stored as 300 (int32_data): outside its type, the checker does not look
    b = Builder("malformed_zp_range")
    x = b.input("input", F32, [1, 1, 6, 6])
    s = b.init("input_scale", np.float32(0.01))
    b.raw_init(helper.make_tensor("input_zero_point", U8, [], [300]))
    q = b.node("QuantizeLinear", [x, s, "input_zero_point"], "input_QuantizeLinear_Output",
               "input_QuantizeLinear")
    xd = b.node("DequantizeLinear", [q, s, "input_zero_point"], "input_DequantizeLinear_Output",
                "input_DequantizeLinear")
    wd = b.dq_weight("conv1.weight", np.ones((2, 1, 3, 3), np.int8), [0.01, 0.01], axis=0)
    b.node("Conv", [xd, wd], "output", "/conv1/Conv", kernel_shape=[3, 3])
    b.output("output", F32, [1, 2, 4, 4])
    save("malformed_zp_range", b, "input_QuantizeLinear",
         ["input_zero_point", "input_QuantizeLinear", "input_DequantizeLinear"], "zero point",
         "a uint8 activation zero point of 300 (stored in int32_data), outside its type")

    def qlinear_conv(name, x_zp, w_scale_len):
        b = Builder(name)
        x = b.input("input", F32, [1, 2, 4, 4])
        xs = b.init("input_scale", np.float32(0.01))
        xz = b.init("input_zero_point", np.asarray(x_zp, np.uint8))
        xq = b.node("QuantizeLinear", [x, xs, b.init("input_zero_point_q", 128, U8)], "input_quantized",
                    "input_QuantizeLinear")
        w = b.init("conv1.weight_quantized", np.ones((4, 2, 2, 2), np.int8))
        ws = b.init("conv1.weight_scale", np.full(w_scale_len, 0.01, np.float32))
        wz = b.init("conv1.weight_zero_point", np.zeros(w_scale_len, np.int8))
        ys = b.init("y_scale", np.float32(0.1))
        yz = b.init("y_zero_point", 0, U8)
        y = b.node("QLinearConv", [xq, xs, xz, w, ws, wz, ys, yz], "y_quantized", "/conv1/Conv_quant",
                   kernel_shape=[2, 2])
        b.node("DequantizeLinear", [y, ys, yz], "output", "output_DequantizeLinear")
        b.output("output", F32, [1, 4, 3, 3])
        return b

    save("malformed_qlinear_x_zp", qlinear_conv("malformed_qlinear_x_zp", [128, 100], 4),
         "/conv1/Conv_quant", ["/conv1/Conv_quant"], "zero point",
         "QLinearConv x_zero_point with 2 different values (the operator takes one per tensor)")
    save("malformed_qlinear_w_scale", qlinear_conv("malformed_qlinear_w_scale", 128, 3),
         "/conv1/Conv_quant", ["/conv1/Conv_quant"], "scale",
         "QLinearConv w_scale and w_zero_point of 3 values for 4 output channels")

    b = Builder("malformed_integer_x_zp")
    x = b.input("input", F32, [1, 2, 4, 4])
    xs = b.init("input_scale", np.float32(0.01))
    xq = b.node("QuantizeLinear", [x, xs, b.init("input_zero_point", 128, U8)], "input_quantized",
                "input_QuantizeLinear")
    w = b.init("conv1.weight_quantized", np.ones((4, 2, 2, 2), np.int8))
    xz2 = b.init("conv_x_zero_point", np.array([128, 100], np.uint8))
    wz = b.init("conv1.weight_zero_point", np.zeros(4, np.int8))
    ci = b.node("ConvInteger", [xq, w, xz2, wz], "/conv1/Conv_output_0_output_quantized", "/conv1/Conv_quant",
                kernel_shape=[2, 2])
    b.node("Cast", [ci], "output", "/conv1/Conv_output_0_output_quantized_cast", to=F32)
    b.output("output", F32, [1, 4, 3, 3])
    save("malformed_integer_x_zp", b, "/conv1/Conv_quant", ["/conv1/Conv_quant"], "zero point",
         "ConvInteger x_zero_point with 2 different values (the operator takes one per tensor)")

    def qonnx(name, act_bits, w_bits):
        b = Builder(name)
        x = b.input("input", F32, [1, 4])

        def quant(qname, inp, scale, bits, signed, narrow, out):
            s = b.init(qname + "_scale", np.asarray(scale, np.float32))
            z = b.init(qname + "_zeropt", np.float32(0))
            w = b.init(qname + "_bitwidth", np.float32(bits))
            return b.node("Quant", [inp, s, z, w], out, qname, domain=QONNX_DOMAIN, signed=signed,
                          narrow=narrow, rounding_mode="ROUND")

        a = quant("/act0/Quant", x, 0.125, act_bits, 0, 0, "/act0/Quant_output_0")
        b.init("fc.weight", (np.arange(-4, 4).reshape(2, 4) * 0.5).astype(np.float32))
        wq = quant("/fc/weight_quant/Quant", "fc.weight", 0.5, w_bits, 1, 1,
                   "/fc/weight_quant/Quant_output_0")
        b.init("fc.bias", np.zeros(2, np.float32))
        b.node("Gemm", [a, wq, "fc.bias"], "output", "/fc/Gemm", transB=1)
        b.output("output", F32, [1, 2])
        return b

    save("malformed_quant_bits0", qonnx("malformed_quant_bits0", 8, 0), "/fc/weight_quant/Quant",
         ["/fc/weight_quant/Quant"], "bit width", "a QONNX weight Quant with bit width 0")
    save("malformed_quant_bits40", qonnx("malformed_quant_bits40", 40, 8), "/act0/Quant", ["/act0/Quant"],
         "bit width", "a QONNX activation Quant with bit width 40")

    with open(os.path.join(out_dir, "malformed.json"), "w") as f:
        json.dump(cases, f, indent=1)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    fixtures = [qdq_cnn(), qlinear_cnn(), integer_ops(), qdq_misc(), qonnx_mlp(),
                qdq_mnist_cnn("qdq_fits16", full_range=False),
                qdq_mnist_cnn("qdq_overflows16", full_range=True)]
    for f in fixtures:
        doc = f.write(args.out_dir)
        print("%-16s %-8s %s" % (f.name, f.form, "  ".join(
            "%s K=%d N=%d%s M=%d [%d,%d] P=%d/%d dt=%d%s" % (
                l["node"], l["K"], l["N"], "s" if l["input_signed"] else "u", l["M"], l["input_range"][0],
                l["input_range"][1], l["needed_P"], l["needed_P_with_bias"], l["datatype_bound_P"],
                "" if l["brute_force"] else " (formula)") for l in doc["layers"])))
    for c in malformed(args.out_dir):
        print("%-26s refuse at %s (%s)" % (c["file"], c["node"], c["reason"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
