// Peer-bench runner: onnxruntime-web with its WebGPU execution provider, in Deno on the same adapter as
// posegpu, running the ONNX files peers.ts wrote (BatchNorm already folded; ORT fuses Conv+ReLU itself).
// Input from and output to host memory, as posegpu's numbers are measured.
// Usage: deno run -A --no-lock bench/peers/run_ortweb.ts PLAN.json VERSION [--no-shim]
//
// The shim: ORT-web's WASM heap is a SharedArrayBuffer (the threaded build), and it uploads tensors with
// `GPUQueue.writeBuffer(buffer, offset, view-into-the-heap)`. Deno's WebGPU rejects views of a
// SharedArrayBuffer, so every such upload is copied into an ordinary ArrayBuffer first. `--no-shim` runs
// without it, to show what breaks.
import { type Plan, type RunnerResult, timeCase, WORKLOADS } from "./workloads.ts";

/** The few onnxruntime-web entry points used here. */
interface OrtTensor {
  getData(): Promise<Float32Array> | Float32Array;
  dispose(): void;
}
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: {
    wasm: { numThreads?: number; proxy?: boolean };
    logLevel?: string;
    versions?: Record<string, string>;
  };
  Tensor: new (
    type: "float32",
    data: Float32Array,
    dims: number[],
  ) => OrtTensor;
  InferenceSession: {
    create(
      model: Uint8Array,
      options: Record<string, unknown>,
    ): Promise<OrtSession>;
  };
}

const plan: Plan = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const version = Deno.args[1] ?? "1.31.1";
const shim = !Deno.args.includes("--no-shim");
const result: RunnerResult = {
  engine: "ortweb-webgpu",
  version: `onnxruntime-web ${version} webgpu EP`,
  results: [],
  notes: [],
};

let copies = 0;
if (shim) {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue
    .prototype;
  const writeBuffer = proto.writeBuffer;
  proto.writeBuffer = function (
    this: GPUQueue,
    buffer: GPUBuffer,
    offset: number,
    data: BufferSource,
    dataOffset?: number,
    size?: number,
  ): void {
    const backing = ArrayBuffer.isView(data) ? data.buffer : data;
    if (
      typeof SharedArrayBuffer !== "undefined" &&
      backing instanceof SharedArrayBuffer
    ) {
      copies++;
      const view = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      const el = ArrayBuffer.isView(data) && "BYTES_PER_ELEMENT" in data
        ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
        : 1;
      const start = (dataOffset ?? 0) * el;
      const end = size === undefined ? view.length : start + size * el;
      return writeBuffer.call(this, buffer, offset, view.slice(start, end));
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  } as GPUQueue["writeBuffer"];
  result.notes.push("SharedArrayBuffer upload shim on");
} else {
  result.notes.push("no shim");
}

try {
  const ort: Ort = await import(`npm:onnxruntime-web@${version}/webgpu`);
  ort.env.wasm.numThreads = 1; // Deno has no cross-origin-isolated pthread pool for ORT's workers
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  for (const w of WORKLOADS) {
    const cases = plan.cases.filter((c) => c.workload === w.id);
    if (!cases.length) continue;
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(
        await Deno.readFile(`${plan.cache}/${w.id}.onnx`),
        {
          executionProviders: ["webgpu"],
          graphOptimizationLevel: "all",
        },
      );
    } catch (e) {
      for (const c of cases) {
        result.results.push({
          workload: w.id,
          batch: c.batch,
          error: `session: ${String(e).split("\n")[0]}`,
        });
      }
      continue;
    }
    const all = new Float32Array(
      (await Deno.readFile(`${plan.cache}/${w.id}_input.f32`)).buffer,
    );
    const per = w.inShape.reduce((a, b) => a * b, 1);
    for (const c of cases) {
      try {
        const x = all.subarray(0, c.batch * per);
        const run = async (): Promise<Float32Array> => {
          const input = new ort.Tensor("float32", x, [c.batch, ...w.inShape]);
          const outs = await session.run({ [session.inputNames[0]]: input });
          const y = outs[session.outputNames[0]];
          const data = Float32Array.from(await y.getData());
          y.dispose();
          return data;
        };
        const t = await timeCase(run, c, plan.budgetMs);
        const output = `${plan.cache}/out/ortweb-webgpu_${w.id}_${c.batch}.f32`;
        await Deno.writeFile(output, new Uint8Array(t.last.buffer));
        const { firstMs, medianMs, times } = t;
        result.results.push({
          workload: w.id,
          batch: c.batch,
          firstMs,
          medianMs,
          times,
          output,
        });
      } catch (e) {
        result.results.push({
          workload: w.id,
          batch: c.batch,
          error: String(e).split("\n")[0],
        });
      }
    }
    await session.release();
  }
} catch (e) {
  result.notes.push(`failed: ${String(e).split("\n")[0]}`);
}
if (shim) {
  result.notes.push(
    `${copies} uploads copied out of the SharedArrayBuffer heap`,
  );
}
console.log(JSON.stringify(result));
