#!/usr/bin/python3
"""Check that an ONNX file written by `a2q export --format qonnx` is QONNX as FINN reads it.

Usage:
    check_qonnx.py FILE.onnx [--expect-layers N]

Checks, each reported with a clear message:
  * onnx.checker.check_model(model, full_check=True) passes;
  * the opset_import lists the domain qonnx.custom_op.general;
  * every Quant node is in that domain, has the 4 inputs x, scale, zeropt,
    bitwidth and the attributes signed, narrow and rounding_mode; scale, zeropt
    and bitwidth are initializers (qonnx reads them with get_initializer), the
    bit width is an integer scalar and the zero point 0 (all FINN supports);
  * the weight of every Conv/Gemm/MatMul comes from a Quant node whose x is an
    initializer;
  * metadata_props hold "a2q.accumulator_bits" and "a2q.layer.*" keys for each
    of those layers.  A layer's keys are recognised by its node name, its weight
    name (with or without a ".weight" suffix) or its index among the layers in
    graph order; when no name matches, there must be at least as many distinct
    "a2q.layer.<id>" ids as layers;
  * with --expect-layers N: exactly N Conv/Gemm/MatMul nodes.
Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import collections
import sys

import numpy as np
import onnx
from onnx import numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"
LAYER_OPS = ("Conv", "Gemm", "MatMul")
QUANT_ATTRS = {"signed": onnx.AttributeProto.INT,
               "narrow": onnx.AttributeProto.INT,
               "rounding_mode": onnx.AttributeProto.STRING}
ROUNDING_MODES = {"ROUND", "CEIL", "FLOOR"}   # those qonnx's Quant executes
ACC_KEY = "a2q.accumulator_bits"
LAYER_PREFIX = "a2q.layer."


class Checker:
    def __init__(self, model):
        self.model = model
        self.errors = []
        self.inits = {i.name: i for i in model.graph.initializer}
        self.producers = {o: n for n in model.graph.node for o in n.output}

    def fail(self, msg):
        self.errors.append(msg)

    def init_array(self, name):
        return numpy_helper.to_array(self.inits[name]) if name in self.inits else None

    # -------------------------------------------------------------------- checks

    def check_onnx(self):
        try:
            onnx.checker.check_model(self.model, full_check=True)
        except Exception as e:  # ValidationError, InferenceError, ...
            self.fail(f"onnx.checker.check_model(full_check=True) failed: {e}")

    def check_opset(self):
        domains = {imp.domain or "ai.onnx": imp.version for imp in self.model.opset_import}
        if QONNX_DOMAIN not in domains:
            self.fail(f"opset_import lacks domain {QONNX_DOMAIN} (has {domains})")
        return domains

    def check_quant(self, node):
        where = f"Quant node '{node.name}'"
        if node.domain != QONNX_DOMAIN:
            self.fail(f"{where}: domain '{node.domain}', expected '{QONNX_DOMAIN}'")
        if len(node.input) != 4 or not all(node.input):
            self.fail(f"{where}: {len(node.input)} inputs {list(node.input)}, "
                      "expected 4 (x, scale, zeropt, bitwidth)")
            return None
        found = {a.name: a for a in node.attribute}
        for name, kind in QUANT_ATTRS.items():
            if name not in found:
                self.fail(f"{where}: attribute '{name}' missing")
            elif found[name].type != kind:
                self.fail(f"{where}: attribute '{name}' has type "
                          f"{onnx.AttributeProto.AttributeType.Name(found[name].type)}")
        for name in ("signed", "narrow"):
            if name in found and found[name].i not in (0, 1):
                self.fail(f"{where}: {name} = {found[name].i}, expected 0 or 1")
        if "rounding_mode" in found:
            mode = found["rounding_mode"].s.decode()
            if mode.upper() not in ROUNDING_MODES:
                self.fail(f"{where}: rounding_mode '{mode}' is not one of "
                          f"{sorted(ROUNDING_MODES)}")
        # FINN reads scale, zero point and bit width with get_initializer().
        _, scale_name, zeropt_name, bits_name = node.input
        for role, name in (("scale", scale_name), ("zeropt", zeropt_name),
                           ("bitwidth", bits_name)):
            if name not in self.inits:
                self.fail(f"{where}: {role} '{name}' is not an initializer")
        bits = self.init_array(bits_name)
        if bits is not None:
            if bits.ndim != 0 or float(bits) != int(float(bits)) or float(bits) < 1:
                self.fail(f"{where}: bitwidth must be an integer scalar >= 1, is {bits.tolist()}")
                bits = None
            else:
                bits = int(float(bits))
        zeropt = self.init_array(zeropt_name)
        if zeropt is not None and np.any(zeropt != 0):
            self.fail(f"{where}: zero point is not 0 (FINN supports only 0)")
        scale = self.init_array(scale_name)
        if scale is not None and np.any(~(scale > 0)):
            self.fail(f"{where}: scale has values that are not > 0")
        x = self.init_array(node.input[0])
        if scale is not None and x is not None and scale.ndim not in (0, x.ndim):
            self.fail(f"{where}: scale of rank {scale.ndim} for an input of rank {x.ndim} "
                      "(qonnx wants a scalar or the input's rank)")
        return bits

    def check_layer(self, node):
        """The weight must be Quant(initializer); returns (weight name, bits)."""
        where = f"{node.op_type} node '{node.name}'"
        if len(node.input) < 2:
            self.fail(f"{where}: no weight input")
            return None, None
        q = self.producers.get(node.input[1])
        if q is None or q.op_type != "Quant":
            src = "an initializer" if node.input[1] in self.inits else \
                (f"a {q.op_type} node" if q else "a graph input")
            self.fail(f"{where}: weight '{node.input[1]}' comes from {src}, not from a Quant node")
            return None, None
        if q.input[0] not in self.inits:
            self.fail(f"{where}: the weight's Quant node '{q.name}' quantizes '{q.input[0]}', "
                      "which is not an initializer")
            return None, None
        # FINN reads tensor shapes from value_info: the quantized weight keeps the weight's shape
        declared = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
                    for v in self.model.graph.value_info}
        weight_dims = list(self.inits[q.input[0]].dims)
        if q.output[0] in declared and declared[q.output[0]] != weight_dims:
            self.fail(f"{where}: value_info gives the quantized weight '{q.output[0]}' shape "
                      f"{declared[q.output[0]]}, the weight has {weight_dims}")
        bits = self.init_array(q.input[3]) if len(q.input) == 4 else None
        return q.input[0], (int(float(bits)) if bits is not None and bits.ndim == 0 else None)

    def check_metadata(self, layers):
        """layers: list of (node, weight name).  Returns the metadata dict."""
        meta = {p.key: p.value for p in self.model.metadata_props}
        if ACC_KEY not in meta:
            self.fail(f"metadata_props lack '{ACC_KEY}' (keys: {sorted(meta) or 'none'})")
        else:
            try:
                int(meta[ACC_KEY])
            except ValueError:
                self.fail(f"'{ACC_KEY}' = '{meta[ACC_KEY]}' is not an integer")
        layer_keys = sorted(k for k in meta if k.startswith(LAYER_PREFIX))
        if not layers:
            return meta
        if not layer_keys:
            self.fail(f"metadata_props hold no '{LAYER_PREFIX}*' keys for {len(layers)} layers")
            return meta

        def has_keys_for(ident):
            full = LAYER_PREFIX + ident
            return any(k == full or k.startswith(full + ".") for k in layer_keys)

        unmatched = []
        for index, (node, weight) in enumerate(layers):
            names = {node.name, str(index)}
            if weight:
                names |= {weight, weight.rsplit(".weight", 1)[0], weight.rsplit("_weight", 1)[0]}
            if not any(n and has_keys_for(n) for n in names):
                unmatched.append(node.name or f"#{index}")
        if unmatched and len(unmatched) < len(layers):
            # Some layers are named in the metadata, so the others should be too.
            self.fail(f"no '{LAYER_PREFIX}*' keys for layers {unmatched}")
        elif unmatched:
            ids = {k[len(LAYER_PREFIX):].split(".")[0] for k in layer_keys}
            if len(ids) < len(layers):
                self.fail(f"'{LAYER_PREFIX}*' keys name {len(ids)} layers {sorted(ids)}, "
                          f"the graph has {len(layers)} Conv/Gemm/MatMul layers")
        return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", help="the ONNX file to check")
    ap.add_argument("--expect-layers", type=int, metavar="N",
                    help="require exactly N Conv/Gemm/MatMul nodes")
    args = ap.parse_args()

    try:
        model = onnx.load(args.file)
    except Exception as e:
        print(f"FAIL: cannot load {args.file}: {e}", file=sys.stderr)
        return 1
    c = Checker(model)
    c.check_onnx()
    domains = c.check_opset()

    quant_bits = collections.Counter()
    for node in model.graph.node:
        if node.op_type == "Quant":
            quant_bits[c.check_quant(node)] += 1
        elif node.domain == "" and node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            c.fail(f"node '{node.name}' is {node.op_type}: QDQ, not QONNX")

    layers, rows = [], []
    for node in model.graph.node:
        if node.op_type in LAYER_OPS:
            weight, bits = c.check_layer(node)
            layers.append((node, weight))
            shown = f"weight {weight} ({bits} bits)" if weight else "weight not quantized"
            rows.append(f"  {node.op_type:<7} {node.name:<24} {shown}")
    if args.expect_layers is not None and len(layers) != args.expect_layers:
        c.fail(f"{len(layers)} Conv/Gemm/MatMul nodes, expected {args.expect_layers}")
    meta = c.check_metadata(layers)

    # Summary first, then the verdict, so a failure reads in context.
    ops = collections.Counter(n.op_type for n in model.graph.node)
    n_weight_quants = sum(1 for n in model.graph.node
                          if n.op_type == "Quant" and n.input and n.input[0] in c.inits)
    print(f"{args.file}: ir_version {model.ir_version}, opsets {domains}")
    print("ops: " + ", ".join(f"{op} x{ops[op]}" for op in sorted(ops)))
    print(f"Quant nodes: {sum(quant_bits.values())} ({n_weight_quants} on initializers), "
          "bit widths " + ", ".join(f"{b}: {k}" for b, k in sorted(
              quant_bits.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))))
    print(f"layers: {len(layers)}")
    for row in rows:
        print(row)
    print(f"{ACC_KEY} = {meta.get(ACC_KEY)}")
    for key in sorted(k for k in meta if k.startswith(LAYER_PREFIX)):
        print(f"  {key} = {meta[key]}")
    if c.errors:
        for e in c.errors:
            print(f"FAIL: {e}", file=sys.stderr)
        print(f"{args.file}: not valid QONNX for FINN ({len(c.errors)} problems)", file=sys.stderr)
        return 1
    print(f"{args.file}: OK, QONNX as FINN reads it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
