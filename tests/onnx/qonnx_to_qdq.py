#!/usr/bin/python3
"""Rewrite a QONNX model (as `a2q export --format qonnx` writes it) in ONNX Runtime's QDQ form, so that
`a2q audit` can be tested on a trained QDQ model whose exact widths are known.

Usage:  qonnx_to_qdq.py IN.onnx OUT.onnx

What ONNX Runtime's static quantizer writes (onnxruntime/python/tools/quantization/qdq_quantizer.py,
quant_utils.py) and this script reproduces:
  - activations: QuantizeLinear -> DequantizeLinear with a scalar scale and a uint8 zero point (int8 for
    signed activations); here the zero point is 0, as a2q's quantizers are symmetric;
  - weights: an int8 initializer -> DequantizeLinear with a per-output-channel scale (1-D) and int8 zero
    points 0 on axis 0 (Conv, and Gemm with transB = 1);
  - biases: an int32 initializer -> DequantizeLinear with scale = input scale x weight scale, zero point 0.
Every Quant node's integers are kept exactly (round(W / scale) of the pre-quantized weights).
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

PASS_THROUGH = {"MaxPool", "Flatten", "Reshape", "Relu", "Identity"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}

    def array(name):
        return numpy_helper.to_array(inits[name])

    def input_scale(tensor):
        """The scale of the activation quantizer that reaches `tensor` through pass-through ops."""
        while tensor in producer and producer[tensor].op_type in PASS_THROUGH:
            tensor = producer[tensor].input[0]
        n = producer.get(tensor)
        assert n is not None and n.op_type == "Quant", f"no activation quantizer reaches {tensor}"
        return float(array(n.input[1]))

    new_nodes, new_inits, drop = [], [], set()
    for n in g.node:
        if n.op_type == "Quant":
            x, scale, _, bits = n.input
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            assert int(array(bits)) == 8, "8-bit quantizers only"
            if x in inits:  # a weight: int8 integers, per-channel scale on axis 0
                s = array(scale).astype(np.float32)
                q = np.round(array(x).astype(np.float64) / s).astype(np.int8)
                qname, sname, zname = n.output[0] + "_int8", n.output[0] + "_scale", n.output[0] + "_zero"
                new_inits += [numpy_helper.from_array(q, qname),
                              numpy_helper.from_array(s.reshape(-1), sname),
                              numpy_helper.from_array(np.zeros(s.size, np.int8), zname)]
                new_nodes.append(helper.make_node("DequantizeLinear", [qname, sname, zname], [n.output[0]],
                                                  name=n.name + "_dq", axis=0))
                drop.add(x)
            else:  # an activation: QuantizeLinear -> DequantizeLinear
                signed = bool(attrs.get("signed", 1))
                zname, sname = n.name + "_zero", n.name + "_scale"
                new_inits += [numpy_helper.from_array(np.array(0, np.int8 if signed else np.uint8), zname),
                              numpy_helper.from_array(array(scale).astype(np.float32).reshape(()), sname)]
                new_nodes += [helper.make_node("QuantizeLinear", [x, sname, zname], [n.output[0] + "_q"],
                                               name=n.name + "_q"),
                              helper.make_node("DequantizeLinear", [n.output[0] + "_q", sname, zname],
                                               [n.output[0]], name=n.name + "_dq")]
            drop.update([scale, n.input[2], bits])
            continue
        if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in inits:
            # the bias as int32 in accumulator units, as ONNX Runtime quantizes it
            w_scale = array(producer[n.input[1]].input[1]).reshape(-1)
            s = (input_scale(n.input[0]) * w_scale).astype(np.float32)
            b = array(n.input[2]).astype(np.float64)
            bname = n.input[2]
            new_inits += [numpy_helper.from_array(np.round(b / s).astype(np.int32), bname + "_int32"),
                          numpy_helper.from_array(s, bname + "_scale"),
                          numpy_helper.from_array(np.zeros(s.size, np.int32), bname + "_zero")]
            new_nodes.append(helper.make_node("DequantizeLinear",
                                              [bname + "_int32", bname + "_scale", bname + "_zero"],
                                              [bname + "_dq"], name=n.name + "_bias_dq", axis=0))
            n.input[2] = bname + "_dq"
            drop.add(bname)
        new_nodes.append(n)

    keep = [t for t in g.initializer if t.name not in drop]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    # the QONNX Quant outputs' value_info stays valid (same names and shapes)
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, sys.argv[2])
    print(f"wrote {sys.argv[2]}: {sum(n.op_type == 'QuantizeLinear' for n in g.node)} QuantizeLinear, "
          f"{sum(n.op_type == 'DequantizeLinear' for n in g.node)} DequantizeLinear")


if __name__ == "__main__":
    main()
