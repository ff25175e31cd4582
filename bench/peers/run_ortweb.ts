// Peer-bench runner: onnxruntime-web with its WebGPU execution provider, in Deno on the same adapter as
// posegpu, running the ONNX files peers.ts wrote (BatchNorm already folded; ORT fuses Conv+ReLU itself).
// Input from and output to host memory, as posegpu's numbers are measured.
// Usage: deno run -A --no-lock bench/peers/run_ortweb.ts PLAN.json VERSION [--shim | --no-shim]
//
// The shim: ORT-web's WASM heap is a SharedArrayBuffer (its only WebGPU build is the threaded one), and it
// uploads weights and inputs with `GPUQueue.writeBuffer(buffer, offset, view-into-the-heap)`. A WebGPU
// implementation that rejects views of a SharedArrayBuffer fails there, so the shim copies each such upload
// into an ordinary ArrayBuffer first. By default the runner probes this Deno's writeBuffer with a
// SharedArrayBuffer view and installs the shim only when the probe throws (Deno 2.9.6 accepts the view and
// rejects only a bare SharedArrayBuffer, so no shim is needed there); `--shim` / `--no-shim` force it.
import { type Plan, runCase, type RunnerResult, WORKLOADS } from "./workloads.ts";

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
/** Whether this WebGPU's writeBuffer accepts a view of a SharedArrayBuffer (what ORT-web passes). */
async function acceptsSharedViews(): Promise<string | null> {
  const device = await (await navigator.gpu.requestAdapter())?.requestDevice();
  if (!device) return "no adapter";
  const buffer = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
  try {
    // The types forbid it (BufferSource is ArrayBuffer-backed); ORT-web does it at run time.
    device.queue.writeBuffer(
      buffer,
      0,
      new Float32Array(new SharedArrayBuffer(16)) as unknown as Float32Array<ArrayBuffer>,
    );
    return null;
  } catch (e) {
    return String(e).split("\n")[0];
  } finally {
    buffer.destroy();
    device.destroy();
  }
}
const probe = Deno.args.includes("--shim") || Deno.args.includes("--no-shim")
  ? null
  : await acceptsSharedViews();
const shim = Deno.args.includes("--shim") || (!Deno.args.includes("--no-shim") && probe !== null);
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
  result.notes.push(
    `SharedArrayBuffer upload shim on${probe ? ` (writeBuffer rejected a shared view: ${probe})` : ""}`,
  );
} else {
  result.notes.push(
    Deno.args.includes("--no-shim")
      ? "no shim (forced)"
      : "no shim needed (writeBuffer accepts SharedArrayBuffer views)",
  );
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
        console.log(JSON.stringify(result)); // results so far: kept if the process is killed later
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
      await runCase(result, c, {
        plan,
        prefix: "ortweb-webgpu",
        setup: () => {
          const x = all.subarray(0, c.batch * per);
          const run = async (): Promise<Float32Array> => {
            const input = new ort.Tensor("float32", x, [c.batch, ...w.inShape]);
            const outs = await session.run({ [session.inputNames[0]]: input });
            const y = outs[session.outputNames[0]];
            const data = Float32Array.from(await y.getData());
            y.dispose();
            return data;
          };
          return Promise.resolve({ run });
        },
      });
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
