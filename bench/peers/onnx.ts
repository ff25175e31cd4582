// A tiny ONNX writer (bench-only): serialises a folded graph of workloads.ts as an ONNX ModelProto (opset 17,
// float32, batch dimension symbolic "B") with hand-written protobuf encoding, so the onnxruntime engines need
// neither Python nor the onnx package. Field numbers follow onnx/onnx.proto3.
import type { Graph, GraphNode } from "./workloads.ts";

type Chunk = Uint8Array;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function concat(chunks: Chunk[]): Chunk {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Length-delimited field (wire type 2). */
function bytes(field: number, data: Chunk): Chunk {
  return concat([
    Uint8Array.from([...varint((field << 3) | 2), ...varint(data.length)]),
    data,
  ]);
}
const str = (field: number, s: string): Chunk => bytes(field, new TextEncoder().encode(s));
/** Varint field (wire type 0); non-negative values only. */
const int = (field: number, v: number): Chunk => Uint8Array.from([...varint(field << 3), ...varint(v)]);
const msg = (field: number, parts: Chunk[]): Chunk => bytes(field, concat(parts));

function attrInt(name: string, v: number): Chunk {
  return msg(5, [str(1, name), int(3, v), int(20, 2)]);
}
function attrInts(name: string, vs: number[]): Chunk {
  return msg(5, [str(1, name), ...vs.map((v) => int(8, v)), int(20, 7)]);
}

function node(
  op: string,
  inputs: string[],
  outputs: string[],
  attrs: Chunk[] = [],
): Chunk {
  return msg(1, [
    ...inputs.map((i) => str(1, i)),
    ...outputs.map((o) => str(2, o)),
    str(4, op),
    ...attrs,
  ]);
}

function initializer(name: string, dims: number[], data: Float32Array): Chunk {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return msg(5, [
    ...dims.map((d) => int(1, d)),
    int(2, 1),
    str(8, name),
    bytes(9, raw),
  ]);
}

function valueInfo(
  field: number,
  name: string,
  dims: (number | string)[],
): Chunk {
  const dim = (d: number | string) => msg(1, [typeof d === "number" ? int(1, d) : str(2, d)]);
  const tensorType = msg(1, [int(1, 1), msg(2, dims.map(dim))]);
  return msg(field, [str(1, name), msg(2, [tensorType])]);
}

function emit(n: GraphNode, i: number, inits: Chunk[]): Chunk[] {
  const pre = `n${i}`;
  const withRelu = (op: string, inputs: string[], attrs: Chunk[]): Chunk[] =>
    n.relu
      ? [
        node(op, inputs, [`${pre}_pre`], attrs),
        node("Relu", [`${pre}_pre`], [n.output]),
      ]
      : [node(op, inputs, [n.output], attrs)];
  const params = (): string[] => {
    inits.push(initializer(`${pre}_w`, n.weightShape!, n.weight!));
    inits.push(initializer(`${pre}_b`, [n.bias!.length], n.bias!));
    return [n.inputs[0], `${pre}_w`, `${pre}_b`];
  };
  const k = n.kernel ?? 1, s = n.stride ?? 1, p = n.pad ?? 0;
  const spatial = [
    attrInts("kernel_shape", [k, k]),
    attrInts("strides", [s, s]),
    attrInts("pads", [p, p, p, p]),
  ];
  switch (n.op) {
    case "gemm":
      return withRelu("Gemm", params(), [attrInt("transB", 1)]);
    case "conv":
      return withRelu("Conv", params(), spatial);
    case "convT":
      return withRelu("ConvTranspose", params(), spatial);
    case "add":
      return withRelu("Add", n.inputs, []);
    case "maxpool":
      return withRelu("MaxPool", n.inputs, spatial);
  }
}

/** The ONNX bytes of a folded graph with input `[B, ...inShape]` and output `[B, ...outShape]`. */
export function onnxModel(
  g: Graph,
  inShape: number[],
  outShape: number[],
): Uint8Array {
  const inits: Chunk[] = [];
  const nodes = g.nodes.flatMap((n, i) => emit(n, i, inits));
  const graph = msg(7, [
    ...nodes,
    str(2, g.name),
    ...inits,
    valueInfo(11, g.input, ["B", ...inShape]),
    valueInfo(12, g.output, ["B", ...outShape]),
  ]);
  return concat([
    int(1, 8),
    str(2, "posegpu bench/peers"),
    graph,
    msg(8, [str(1, ""), int(2, 17)]),
  ]);
}
