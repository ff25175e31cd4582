// Peer-bench runner: TF.js with its WebGPU backend, in Deno on the same adapter as posegpu. Executes the
// folded graph of workloads.ts with TF.js's own best ops: fused matMul / conv2d (bias + ReLU in the kernel),
// NHWC activations (TF.js's native layout; the host input is transposed to NHWC before timing and the output
// back to NCHW after, neither timed). Usage: deno run -A --no-lock bench/peers/run_tfjs.ts PLAN.json VERSION
import {
  foldedGraph,
  type HostParam,
  type Plan,
  runCase,
  type RunnerResult,
  WORKLOADS,
} from "./workloads.ts";

/** The few TF.js entry points used here. */
interface TfTensor {
  shape: number[];
  data(): Promise<Float32Array>;
  dispose(): void;
}
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  version_core?: string;
  tensor(data: Float32Array, shape: number[]): TfTensor;
  tidy<T>(f: () => T): T;
  add(a: TfTensor, b: TfTensor): TfTensor;
  relu(a: TfTensor): TfTensor;
  maxPool(
    x: TfTensor,
    size: number[],
    strides: number[],
    pad: number,
  ): TfTensor;
  conv2dTranspose(
    x: TfTensor,
    filter: TfTensor,
    outputShape: number[],
    strides: number[],
    pad: number,
  ): TfTensor;
  fused: {
    matMul(
      o: { a: TfTensor; b: TfTensor; bias?: TfTensor; activation?: string },
    ): TfTensor;
    conv2d(o: {
      x: TfTensor;
      filter: TfTensor;
      strides: number[];
      pad: number;
      dataFormat: "NHWC";
      bias?: TfTensor;
      activation?: string;
    }): TfTensor;
  };
}

const plan: Plan = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const version = Deno.args[1] ?? "4.22.0";
const result: RunnerResult = {
  engine: "tfjs-webgpu",
  version: `TF.js ${version} webgpu`,
  results: [],
  notes: [],
};

/** Host permutation of a C-ordered array. */
function permute(
  data: Float32Array,
  shape: number[],
  order: number[],
): Float32Array {
  const outShape = order.map((o) => shape[o]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array(shape.length).fill(0);
  for (let n = 0; n < out.length; n++) {
    let src = 0;
    for (let d = 0; d < order.length; d++) src += idx[d] * strides[order[d]];
    out[n] = data[src];
    for (let d = order.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

try {
  const core = `npm:@tensorflow/tfjs-core@${version}`;
  const webgpu = `npm:@tensorflow/tfjs-backend-webgpu@${version}`;
  const tf: Tf = await import(core);
  await import(webgpu);
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error("tf.setBackend('webgpu') failed");
  }
  await tf.ready();
  result.notes.push(`backend ${tf.getBackend()}`);

  for (const w of WORKLOADS) {
    const cases = plan.cases.filter((c) => c.workload === w.id);
    if (!cases.length) continue;
    const { parseSafetensors } = await import("../../engine/safetensors.ts");
    const file = parseSafetensors(
      await Deno.readFile(`${plan.cache}/${w.id}.safetensors`),
    );
    const graph = foldedGraph(w, file.tensors as Map<string, HostParam>);
    // Weights in TF.js layouts, uploaded once.
    type Op = (v: Map<string, TfTensor>, batch: number) => TfTensor;
    const ops: { output: string; run: Op }[] = [];
    for (const n of graph.nodes) {
      const ws = n.weightShape!;
      const bias = n.bias ? tf.tensor(n.bias, [n.bias.length]) : undefined;
      const act = n.relu ? "relu" : "linear";
      const s = n.stride ?? 1, p = n.pad ?? 0, k = n.kernel ?? 1;
      const x = (v: Map<string, TfTensor>, i = 0) => v.get(n.inputs[i])!;
      let run: Op;
      if (n.op === "gemm") {
        const b = tf.tensor(permute(n.weight!, ws, [1, 0]), [ws[1], ws[0]]);
        run = (v) => tf.fused.matMul({ a: x(v), b, bias, activation: act });
      } else if (n.op === "conv") {
        const filter = tf.tensor(permute(n.weight!, ws, [2, 3, 1, 0]), [
          ws[2],
          ws[3],
          ws[1],
          ws[0],
        ]);
        run = (v) =>
          tf.fused.conv2d({
            x: x(v),
            filter,
            strides: [s, s],
            pad: p,
            dataFormat: "NHWC",
            bias,
            activation: act,
          });
      } else if (n.op === "convT") {
        // PyTorch [in, out, k, k] → TF.js [k, k, out, in].
        const filter = tf.tensor(permute(n.weight!, ws, [2, 3, 1, 0]), [
          ws[2],
          ws[3],
          ws[1],
          ws[0],
        ]);
        run = (v, batch) => {
          const xi = x(v);
          const [h, wd] = [xi.shape[1], xi.shape[2]];
          const oh = (h - 1) * s - 2 * p + k, ow = (wd - 1) * s - 2 * p + k;
          const y = tf.add(
            tf.conv2dTranspose(xi, filter, [batch, oh, ow, ws[1]], [s, s], p),
            bias!,
          );
          return n.relu ? tf.relu(y) : y;
        };
      } else if (n.op === "add") {
        run = (
          v,
        ) => (n.relu ? tf.relu(tf.add(x(v, 0), x(v, 1))) : tf.add(x(v, 0), x(v, 1)));
      } else {
        run = (v) => tf.maxPool(x(v), [k, k], [s, s], p);
      }
      ops.push({ output: n.output, run });
    }
    const all = new Float32Array(
      (await Deno.readFile(`${plan.cache}/${w.id}_input.f32`)).buffer,
    );
    const per = w.inShape.reduce((a, b) => a * b, 1);
    for (const c of cases) {
      await runCase(result, c, {
        plan,
        prefix: "tfjs-webgpu",
        setup: () => {
          const nchw = all.subarray(0, c.batch * per);
          const image = w.inShape.length === 3;
          const host = image ? permute(nchw, [c.batch, ...w.inShape], [0, 2, 3, 1]) : nchw;
          const inShape = image
            ? [c.batch, w.inShape[1], w.inShape[2], w.inShape[0]]
            : [c.batch, ...w.inShape];
          const run = async (): Promise<Float32Array> => {
            const input = tf.tensor(host, inShape);
            const y = tf.tidy(() => {
              const v = new Map<string, TfTensor>([[graph.input, input]]);
              for (const op of ops) v.set(op.output, op.run(v, c.batch));
              return v.get(graph.output)!;
            });
            const out = await y.data();
            y.dispose();
            input.dispose();
            return out;
          };
          const o = w.outShape;
          // Image outputs come back NHWC; the accuracy check reads NCHW.
          const toOutput = (y: Float32Array): Float32Array =>
            image ? permute(y, [c.batch, o[1], o[2], o[0]], [0, 3, 1, 2]) : y;
          return Promise.resolve({ run, toOutput });
        },
      });
    }
  }
} catch (e) {
  result.notes.push(`failed: ${String(e).split("\n")[0]}`);
}
console.log(JSON.stringify(result));
