// The two peer-benchmark workloads, defined once for every engine (bench-only, outside the JSR package):
// seeded random weights under PyTorch's key names (what posegpu and PyTorch load), and the same network as a
// small graph with every BatchNorm folded into the layer before it (what the TF.js runner executes and what
// onnx.ts writes for onnxruntime). Folding is exact algebra, so all engines compute the same function.
//
// - lifter: Martinez et al. (17 joints: input 32 = 16×2, output 48), width 1024, 2 residual blocks of two
//   Linear+BN+ReLU layers (models/martinez.ts defaults).
// - posefix: PoseFix = Simple Baselines pose_resnet on ResNet-50, input 3 + 17 heatmap channels at 256×192,
//   output 17 heatmaps at 64×48 (models/posefix.ts defaults).

/** A host tensor under a PyTorch name (F32 values or the I64 `num_batches_tracked` counters). */
export interface HostParam {
  /** Stored dtype. */
  dtype: "F32" | "I64";
  /** Dimensions. */
  shape: number[];
  /** Values in C order. */
  data: Float32Array | Int32Array;
}

/** One node of a folded graph (NCHW activations; weights in PyTorch layouts). */
export interface GraphNode {
  /** gemm: y = x·Wᵀ + b; conv / convT: 2D (transposed) convolution + bias; add; maxpool. */
  op: "gemm" | "conv" | "convT" | "add" | "maxpool";
  /** Input value names. */
  inputs: string[];
  /** Output value name. */
  output: string;
  /** Weight: gemm [out, in]; conv [out, in, k, k]; convT [in, out, k, k]. */
  weight?: Float32Array;
  /** Its shape. */
  weightShape?: number[];
  /** Bias [out]. */
  bias?: Float32Array;
  /** Square kernel size (conv, convT, maxpool). */
  kernel?: number;
  /** Stride (conv, convT, maxpool). */
  stride?: number;
  /** Symmetric padding (conv, convT, maxpool). */
  pad?: number;
  /** ReLU applied to the output. */
  relu?: boolean;
}

/** A folded network. */
export interface Graph {
  /** Workload name. */
  name: string;
  /** Input value name. */
  input: string;
  /** Output value name. */
  output: string;
  /** Nodes in execution order. */
  nodes: GraphNode[];
}

/** A benchmark workload. */
export interface Workload {
  /** Identifier used in file names and the table. */
  id: "lifter" | "posefix";
  /** Batch sizes measured. */
  batches: number[];
  /** Input shape without the batch dimension. */
  inShape: number[];
  /** Output shape without the batch dimension. */
  outShape: number[];
  /** Unit of throughput: poses or images. */
  unit: "poses" | "images";
}

/** The Martinez lifter workload. */
export const LIFTER: Workload = {
  id: "lifter",
  batches: [1, 64, 1024],
  inShape: [32],
  outShape: [48],
  unit: "poses",
};

/** The PoseFix ResNet-50 workload. */
export const POSEFIX: Workload = {
  id: "posefix",
  batches: [1, 8],
  inShape: [20, 256, 192],
  outShape: [17, 64, 48],
  unit: "images",
};

/** Both workloads. */
export const WORKLOADS: Workload[] = [LIFTER, POSEFIX];

/** Seeded uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(r: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = std * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function uniforms(
  r: () => number,
  n: number,
  lo: number,
  hi: number,
): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Seeded weights of a workload under PyTorch's state-dict names (BatchNorm with random statistics). */
export function stateDict(w: Workload, seed = 1): Map<string, HostParam> {
  const r = rng(seed * 7919 + (w.id === "lifter" ? 1 : 2));
  const sd = new Map<string, HostParam>();
  const f = (name: string, shape: number[], data: Float32Array) =>
    sd.set(name, { dtype: "F32", shape, data });
  const weight = (name: string, shape: number[]) => {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    f(
      name,
      shape,
      normals(r, shape.reduce((a, b) => a * b, 1), Math.sqrt(2 / fanIn)),
    );
  };
  const bn = (prefix: string, n: number, gamma: [number, number]) => {
    f(`${prefix}.weight`, [n], uniforms(r, n, gamma[0], gamma[1]));
    f(`${prefix}.bias`, [n], uniforms(r, n, -0.1, 0.1));
    f(`${prefix}.running_mean`, [n], uniforms(r, n, -0.1, 0.1));
    f(`${prefix}.running_var`, [n], uniforms(r, n, 0.5, 1.5));
    sd.set(`${prefix}.num_batches_tracked`, {
      dtype: "I64",
      shape: [],
      data: Int32Array.of(0),
    });
  };
  const linear = (prefix: string, inF: number, outF: number) => {
    weight(`${prefix}.weight`, [outF, inF]);
    f(`${prefix}.bias`, [outF], uniforms(r, outF, -0.1, 0.1));
  };
  if (w.id === "lifter") {
    linear("w1", 32, 1024);
    bn("batch_norm1", 1024, [0.5, 1]);
    for (let s = 0; s < 2; s++) {
      linear(`linear_stages.${s}.w1`, 1024, 1024);
      bn(`linear_stages.${s}.batch_norm1`, 1024, [0.5, 1]);
      linear(`linear_stages.${s}.w2`, 1024, 1024);
      bn(`linear_stages.${s}.batch_norm2`, 1024, [0.2, 0.5]);
    }
    linear("w2", 1024, 48);
    return sd;
  }
  weight("conv1.weight", [64, 20, 7, 7]);
  bn("bn1", 64, [0.5, 1]);
  let inplanes = 64;
  for (
    const [li, [planes, blocks]] of [[64, 3], [128, 4], [256, 6], [512, 3]]
      .entries()
  ) {
    for (let j = 0; j < blocks; j++) {
      const p = `layer${li + 1}.${j}`;
      weight(`${p}.conv1.weight`, [planes, inplanes, 1, 1]);
      bn(`${p}.bn1`, planes, [0.5, 1]);
      weight(`${p}.conv2.weight`, [planes, planes, 3, 3]);
      bn(`${p}.bn2`, planes, [0.5, 1]);
      weight(`${p}.conv3.weight`, [planes * 4, planes, 1, 1]);
      bn(`${p}.bn3`, planes * 4, [0.1, 0.3]);
      if (j === 0) {
        weight(`${p}.downsample.0.weight`, [planes * 4, inplanes, 1, 1]);
        bn(`${p}.downsample.1`, planes * 4, [0.5, 1]);
      }
      inplanes = planes * 4;
    }
  }
  for (let i = 0; i < 3; i++) {
    // ConvTranspose2d weight [in, out, k, k]: fan-in as PyTorch computes it (dim 1 × k²).
    const shape = [inplanes, 256, 4, 4];
    f(
      `deconv_layers.${3 * i}.weight`,
      shape,
      normals(r, inplanes * 256 * 16, Math.sqrt(2 / (inplanes * 4))),
    );
    bn(`deconv_layers.${3 * i + 1}`, 256, [0.5, 1]);
    inplanes = 256;
  }
  weight("final_layer.weight", [17, 256, 1, 1]);
  f("final_layer.bias", [17], uniforms(r, 17, -0.1, 0.1));
  return sd;
}

/** Seeded inputs of a workload at its largest batch (smaller batches use the leading rows). */
export function inputs(w: Workload, seed = 1): Float32Array {
  const r = rng(seed * 104729 + (w.id === "lifter" ? 3 : 4));
  const n = Math.max(...w.batches) * w.inShape.reduce((a, b) => a * b, 1);
  return w.id === "lifter" ? normals(r, n, 1) : uniforms(r, n, 0, 1);
}

/**
 * Folds the BatchNorm `bn` (eval mode, eps 1e-5) into a weight whose output channel is dimension
 * `outDim` (0 for Linear/Conv2d, 1 for ConvTranspose2d) and an optional bias.
 */
function fold(
  sd: Map<string, HostParam>,
  weightName: string,
  biasName: string | null,
  bn: string,
  outDim: 0 | 1,
): { weight: Float32Array; weightShape: number[]; bias: Float32Array } {
  const get = (n: string) => {
    const t = sd.get(n);
    if (!t) throw new Error(`workloads: no tensor ${n}`);
    return t;
  };
  const w = get(weightName);
  const gamma = get(`${bn}.weight`).data, beta = get(`${bn}.bias`).data;
  const mean = get(`${bn}.running_mean`).data,
    variance = get(`${bn}.running_var`).data;
  const out = w.shape[outDim];
  const scale = Float32Array.from(
    { length: out },
    (_, o) => gamma[o] / Math.sqrt(variance[o] + 1e-5),
  );
  const inner = w.shape.slice(outDim + 1).reduce((a, b) => a * b, 1);
  const outer = outDim === 0 ? 1 : w.shape[0];
  const weight = new Float32Array(w.data.length);
  for (let a = 0; a < outer; a++) {
    for (let o = 0; o < out; o++) {
      const base = (a * out + o) * inner;
      for (let i = 0; i < inner; i++) {
        weight[base + i] = w.data[base + i] * scale[o];
      }
    }
  }
  const b0 = biasName ? get(biasName).data : null;
  const bias = Float32Array.from(
    { length: out },
    (_, o) => ((b0 ? b0[o] : 0) - mean[o]) * scale[o] + beta[o],
  );
  return { weight, weightShape: [...w.shape], bias };
}

/** The network of a workload as a graph with every BatchNorm folded. */
export function foldedGraph(w: Workload, sd: Map<string, HostParam>): Graph {
  const nodes: GraphNode[] = [];
  let n = 0;
  const value = () => `v${n++}`;
  const push = (node: Omit<GraphNode, "output">): string => {
    const output = value();
    nodes.push({ ...node, output });
    return output;
  };
  if (w.id === "lifter") {
    const dense = (x: string, prefix: string, bn: string) =>
      push({
        op: "gemm",
        inputs: [x],
        ...fold(sd, `${prefix}.weight`, `${prefix}.bias`, bn, 0),
        relu: true,
      });
    let y = dense("input", "w1", "batch_norm1");
    for (let s = 0; s < 2; s++) {
      const p = `linear_stages.${s}`;
      const z = dense(
        dense(y, `${p}.w1`, `${p}.batch_norm1`),
        `${p}.w2`,
        `${p}.batch_norm2`,
      );
      y = push({ op: "add", inputs: [y, z] });
    }
    const out = push({
      op: "gemm",
      inputs: [y],
      weight: sd.get("w2.weight")!.data as Float32Array,
      weightShape: [48, 1024],
      bias: sd.get("w2.bias")!.data as Float32Array,
    });
    return { name: w.id, input: "input", output: out, nodes };
  }
  const conv = (
    x: string,
    name: string,
    bn: string,
    kernel: number,
    stride: number,
    relu: boolean,
  ) =>
    push({
      op: "conv",
      inputs: [x],
      ...fold(sd, name, null, bn, 0),
      kernel,
      stride,
      pad: (kernel - 1) >> 1,
      relu,
    });
  let x = conv("input", "conv1.weight", "bn1", 7, 2, true);
  x = push({ op: "maxpool", inputs: [x], kernel: 3, stride: 2, pad: 1 });
  for (const [li, blocks] of [3, 4, 6, 3].entries()) {
    for (let j = 0; j < blocks; j++) {
      const p = `layer${li + 1}.${j}`;
      const stride = j === 0 && li > 0 ? 2 : 1;
      const a = conv(x, `${p}.conv1.weight`, `${p}.bn1`, 1, 1, true);
      const b = conv(a, `${p}.conv2.weight`, `${p}.bn2`, 3, stride, true);
      const c = conv(b, `${p}.conv3.weight`, `${p}.bn3`, 1, 1, false);
      const id = j === 0
        ? conv(
          x,
          `${p}.downsample.0.weight`,
          `${p}.downsample.1`,
          1,
          stride,
          false,
        )
        : x;
      x = push({ op: "add", inputs: [c, id], relu: true });
    }
  }
  for (let i = 0; i < 3; i++) {
    x = push({
      op: "convT",
      inputs: [x],
      ...fold(
        sd,
        `deconv_layers.${3 * i}.weight`,
        null,
        `deconv_layers.${3 * i + 1}`,
        1,
      ),
      kernel: 4,
      stride: 2,
      pad: 1,
      relu: true,
    });
  }
  const out = push({
    op: "conv",
    inputs: [x],
    weight: sd.get("final_layer.weight")!.data as Float32Array,
    weightShape: [17, 256, 1, 1],
    bias: sd.get("final_layer.bias")!.data as Float32Array,
    kernel: 1,
    stride: 1,
    pad: 0,
  });
  return { name: w.id, input: "input", output: out, nodes };
}

/** Plan handed to every engine runner (JSON file). */
export interface Plan {
  /** Cache folder holding weights, inputs and models; runners write outputs under `out/` there. */
  cache: string;
  /** Folder for this run's outputs (one per run, so concurrent runs do not share files). */
  out: string;
  /** Wall-time budget per case: slow engines run fewer warmups and repetitions (at least one of each). */
  budgetMs: number;
  /** Cases in order. */
  cases: {
    workload: Workload["id"];
    batch: number;
    warmup: number;
    reps: number;
  }[];
}

/** What a runner prints as its last stdout line. */
export interface RunnerResult {
  /** Engine label. */
  engine: string;
  /** Version / configuration text. */
  version: string;
  /** Per case. */
  results: {
    workload: string;
    batch: number;
    firstMs?: number;
    medianMs?: number;
    times?: number[];
    output?: string;
    error?: string;
  }[];
  /** Notes (workarounds in use, adapter, threads). */
  notes: string[];
  /** Extra measurements by name (posegpu: Deno's sync floor). */
  extra?: Record<string, number>;
}

/** Median of a list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Times one case: the first call (compile, weight upload), `warmup − 1` more untimed calls, then the median
 * of `reps` calls — fewer where the calls would overrun `budgetMs` (at least one timed call). Progress goes
 * to stderr.
 */
export async function timeCase(
  f: () => Promise<Float32Array>,
  plan: { workload: string; batch: number; warmup: number; reps: number },
  budgetMs = Infinity,
): Promise<{ firstMs: number; medianMs: number; times: number[]; last: Float32Array }> {
  const start = performance.now();
  let t = start;
  let last = await f();
  const firstMs = performance.now() - t;
  let lastMs = firstMs;
  const left = () => budgetMs - (performance.now() - start);
  for (let i = 1; i < plan.warmup && left() > 2 * lastMs; i++) {
    t = performance.now();
    last = await f();
    lastMs = performance.now() - t;
  }
  const times: number[] = [];
  while (times.length < plan.reps && (times.length === 0 || left() > lastMs)) {
    t = performance.now();
    last = await f();
    times.push(lastMs = performance.now() - t);
  }
  console.error(
    `${plan.workload} B=${plan.batch}: first ${firstMs.toFixed(0)} ms, median ${
      median(times).toFixed(1)
    } ms of ${times.length}`,
  );
  return { firstMs, medianMs: median(times), times, last };
}

/**
 * One case of a runner: `setup` builds the timed call (and optionally how its last output maps to NCHW),
 * `timeCase` times it, the last output goes to `plan.out/<prefix>_<workload>_<batch>.f32` for the accuracy
 * check, and the timings — or the first line of whatever failed — are added to `result`. The results so
 * far are printed first, so that they survive a runner killed later.
 */
export async function runCase(
  result: RunnerResult,
  c: Plan["cases"][number],
  options: {
    plan: Plan;
    prefix: string;
    setup: () => Promise<{ run: () => Promise<Float32Array>; toOutput?: (y: Float32Array) => Float32Array }>;
  },
): Promise<void> {
  console.log(JSON.stringify(result));
  try {
    const { run, toOutput } = await options.setup();
    const t = await timeCase(run, c, options.plan.budgetMs);
    const last = toOutput ? toOutput(t.last) : t.last;
    const output = `${options.plan.out}/${options.prefix}_${c.workload}_${c.batch}.f32`;
    await Deno.writeFile(output, new Uint8Array(last.buffer, last.byteOffset, last.byteLength));
    const { firstMs, medianMs, times } = t;
    result.results.push({ workload: c.workload, batch: c.batch, firstMs, medianMs, times, output });
  } catch (e) {
    result.results.push({ workload: c.workload, batch: c.batch, error: String(e).split("\n")[0] });
  }
}
