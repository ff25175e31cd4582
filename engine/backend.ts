/**
 * The narrow backend: allocate, write, read, dispatch. Every WebGPU detail of the engine lives here.
 *
 * Work is recorded into one pending command encoder and submitted only at a readback or an explicit
 * `flush()`: in Deno each GPU→CPU sync costs ≥ 10 ms, so a whole forward pass (or many training steps)
 * must be one submit. Buffers come from a pool bucketed by size class; uniforms are packed into per-submit
 * arenas (one `writeBuffer` per arena, which the queue runs before the deferred passes).
 * @module
 */

import { adapterSummary, getDevice, throwIfDeviceFailed } from "./device.ts";
import { EnvironmentError, PosegpuError } from "./errors.ts";
import { installTuning } from "./tuning.ts";

/** A pooled GPU storage buffer. `epoch` is the submit in which it was last recorded. */
export interface GpuBuffer {
  /** The WebGPU buffer. */
  readonly buffer: GPUBuffer;
  /** Its allocated size in bytes (a size class). */
  readonly size: number;
  /** The last encoder epoch that used it (see `Backend.epoch`). */
  epoch: number;
  /** Whether it is held by a tensor (true) or waits in the pool (false). */
  live: boolean;
  /** Bytes its current holder asked for (≤ `size`); a whole-buffer binding need not cover more. */
  used?: number;
}

/** A sub-range of a pooled buffer bound to a kernel: `size` bytes from byte `offset` (see chunking.ts). */
export interface BufferRange {
  /** The buffer. */
  readonly buf: GpuBuffer;
  /** First byte; a multiple of `minStorageBufferOffsetAlignment`. */
  readonly offset: number;
  /** Bytes bound; a multiple of 4, at most `maxStorageBufferBindingSize`. */
  readonly size: number;
}

/** A texture view bound to a kernel (the texture-operand matmul kernels of `kernels/matmul_tex.ts`). */
export interface TextureBinding {
  /** The view. */
  readonly view: GPUTextureView;
}

/** What a kernel binds: a whole buffer, a sub-range of one, or a texture view. */
export type Binding = GpuBuffer | BufferRange | TextureBinding;

/** A compiled compute kernel. */
export interface Kernel {
  /** The pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Number of storage bindings (the uniform, if any, comes after them). */
  readonly storageBindings: number;
  /** Whether the shader declares a uniform block at binding `storageBindings`. */
  readonly hasUniform: boolean;
  /** Workgroup size (x·y·z) for reference. */
  readonly label: string;
}

/** Memory and activity counters, for leak tests and memory benchmarks. */
export interface EngineStats {
  /** Buffers held by live tensors. */
  liveBuffers: number;
  /** Bytes held by live tensors. */
  liveBytes: number;
  /** Highest `liveBytes` seen since the last `resetPeak()`. */
  peakLiveBytes: number;
  /** GPU storage buffers allocated in all (live + pooled). */
  allocatedBuffers: number;
  /** GPU storage bytes allocated in all (live + pooled). */
  allocatedBytes: number;
  /** Highest `allocatedBytes` since the last `resetPeak()`. */
  peakAllocatedBytes: number;
  /** Submits so far. */
  submits: number;
  /** Dispatches so far. */
  dispatches: number;
  /** Compiled pipelines. */
  pipelines: number;
  /** Milliseconds spent creating pipelines (shader compile). */
  compileMs: number;
}

const ARENA_BYTES = 64 * 1024;
const POOL_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Rounds a byte count up to a size class: multiples of a quarter of the next power of two (≤ 25% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 4) * 4);
  if (b <= 1024) return Math.ceil(b / 64) * 64;
  const p = 2 ** Math.ceil(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

interface Arena {
  buffer: GPUBuffer;
  data: Uint8Array;
  used: number;
}

/** The engine's WebGPU backend. One per process (see `backend()`). */
export class Backend {
  /** The device. */
  readonly device: GPUDevice;
  /** The current encoder epoch: incremented at every submit. */
  epoch = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly pool = new Map<number, GpuBuffer[]>();
  private pooledBytes = 0;
  private readonly pipelines = new Map<string, Kernel>();
  private arenas: Arena[] = [];
  private freeArenas: Arena[] = [];
  private readonly uniformAlign: number;
  private readonly stats: EngineStats = {
    liveBuffers: 0,
    liveBytes: 0,
    peakLiveBytes: 0,
    allocatedBuffers: 0,
    allocatedBytes: 0,
    peakAllocatedBytes: 0,
    submits: 0,
    dispatches: 0,
    pipelines: 0,
    compileMs: 0,
  };
  /** Bytes the pool may keep idle before it destroys freed buffers instead. */
  poolLimitBytes = 1024 * 1024 * 1024;

  /** Wraps a device. Use `initEngine()` rather than constructing one. */
  constructor(device: GPUDevice) {
    this.device = device;
    this.uniformAlign = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    // One reaction on `device.lost` for the backend's lifetime; it fails every wait in flight (see guard).
    device.lost.then((info) => {
      this.lostError = new EnvironmentError(`WebGPU device lost: ${info.message || info.reason}`);
      for (const fail of this.lostWaiters) fail(this.lostError);
      this.lostWaiters.clear();
    });
  }

  /** Largest storage binding in bytes. */
  get maxBindingBytes(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  /** Allocates a buffer of at least `bytes` from the pool (reusing one of the same size class if free). */
  alloc(bytes: number, options: { forWrite?: boolean } = {}): GpuBuffer {
    // No device check here nor in dispatch(): a kernel that failed half-way would leave its temporaries
    // live. A reported error is thrown at the next submit or readback instead (flush, sync, readMany).
    const maxBuffer = this.device.limits.maxBufferSize;
    let size = sizeClass(bytes);
    if (size > maxBuffer) {
      // The size class rounds up: a tensor that fits exactly still gets an exact-size buffer.
      const exact = Math.max(16, Math.ceil(bytes / 4) * 4);
      if (exact > maxBuffer) {
        throw new EnvironmentError(
          `a tensor of ${bytes} bytes exceeds this adapter's maxBufferSize (${maxBuffer} bytes); ` +
            `split the work (e.g. a smaller batch)`,
        );
      }
      size = exact;
    }
    const list = this.pool.get(size);
    let buf: GpuBuffer | undefined;
    if (list && list.length) {
      if (options.forWrite) {
        // A buffer recorded in the pending encoder must not receive a queue write: the write would run
        // before the pending commands that still read its old contents.
        const i = list.findIndex((b) => b.epoch < this.epoch);
        if (i >= 0) buf = list.splice(i, 1)[0];
      } else {
        buf = list.pop();
      }
      if (buf) this.pooledBytes -= buf.size;
    }
    if (!buf) {
      buf = {
        buffer: this.device.createBuffer({ size, usage: POOL_USAGE }),
        size,
        epoch: 0,
        live: false,
      };
      this.stats.allocatedBuffers++;
      this.stats.allocatedBytes += size;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    buf.live = true;
    buf.used = bytes;
    this.stats.liveBuffers++;
    this.stats.liveBytes += size;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    return buf;
  }

  /** Returns a buffer to the pool. Safe while commands that use it are pending: encoder order protects them. */
  release(buf: GpuBuffer): void {
    if (!buf.live) return;
    buf.live = false;
    this.stats.liveBuffers--;
    this.stats.liveBytes -= buf.size;
    if (this.pooledBytes + buf.size > this.poolLimitBytes) {
      this.destroyLater(buf);
      return;
    }
    const list = this.pool.get(buf.size);
    if (list) list.push(buf);
    else this.pool.set(buf.size, [buf]);
    this.pooledBytes += buf.size;
  }

  private destroyLater(buf: GpuBuffer): void {
    this.stats.allocatedBuffers--;
    this.stats.allocatedBytes -= buf.size;
    if (this.encoder) {
      // Pending commands may still read it: destroy after they are submitted.
      this.afterSubmit.push(() => buf.buffer.destroy());
    } else buf.buffer.destroy();
  }

  private afterSubmit: (() => void)[] = [];

  /** Runs `f` once the pending commands are submitted (at once when none are pending), e.g. a destroy. */
  afterPendingSubmit(f: () => void): void {
    if (this.encoder) this.afterSubmit.push(f);
    else f();
  }

  /** Destroys every idle pooled buffer (live tensors keep theirs). */
  trimPool(): void {
    for (const list of this.pool.values()) for (const b of list) this.destroyLater(b);
    this.pool.clear();
    this.pooledBytes = 0;
  }

  /** Uploads host data into a fresh buffer. */
  upload(data: ArrayBufferView, options: { bytes?: number } = {}): GpuBuffer {
    const bytes = options.bytes ?? data.byteLength;
    const buf = this.alloc(bytes, { forWrite: true });
    if (data.byteLength > 0) {
      const aligned = data.byteLength - (data.byteLength % 4);
      if (aligned > 0) {
        this.device.queue.writeBuffer(buf.buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, aligned);
      }
    }
    return buf;
  }

  /** Records a buffer-to-buffer copy. */
  copy(
    src: GpuBuffer,
    dst: GpuBuffer,
    options: { srcOffset?: number; dstOffset?: number; bytes: number },
  ): void {
    const enc = this.commandEncoder();
    this.endPass();
    src.epoch = dst.epoch = this.epoch;
    enc.copyBufferToBuffer(
      src.buffer,
      options.srcOffset ?? 0,
      dst.buffer,
      options.dstOffset ?? 0,
      options.bytes,
    );
  }

  /** Records a copy of rows of `src` (from byte 0, `bytesPerRow` apart) into the top of a 2-D texture. */
  copyToTexture(
    src: GpuBuffer,
    texture: GPUTexture,
    options: { bytesPerRow: number; width: number; height: number },
  ): void {
    const enc = this.commandEncoder();
    this.endPass();
    src.epoch = this.epoch;
    enc.copyBufferToTexture(
      { buffer: src.buffer, bytesPerRow: options.bytesPerRow },
      { texture },
      [options.width, options.height],
    );
  }

  /** Compiles (once per source) a compute kernel. Storage bindings 0..n-1, then the uniform block. */
  kernel(
    code: string,
    options: { storageBindings: number; hasUniform: boolean; label?: string; layout?: GPUBindGroupLayout },
  ): Kernel {
    let k = this.pipelines.get(code);
    if (k) return k;
    const t0 = performance.now();
    const module = this.device.createShaderModule({ code, label: options.label });
    const pipeline = this.device.createComputePipeline({
      // An explicit layout where "auto" cannot express a binding (unfilterable rgba32float textures).
      layout: options.layout
        ? this.device.createPipelineLayout({ bindGroupLayouts: [options.layout] })
        : "auto",
      compute: { module, entryPoint: "main" },
      label: options.label,
    });
    this.stats.compileMs += performance.now() - t0;
    this.stats.pipelines++;
    k = {
      pipeline,
      storageBindings: options.storageBindings,
      hasUniform: options.hasUniform,
      label: options.label ?? "",
    };
    this.pipelines.set(code, k);
    return k;
  }

  /**
   * Records one dispatch. `uniforms` are raw 32-bit words (floats via their bits). A buffer is bound whole
   * (over the binding limit only its `used` bytes, which must fit), a `BufferRange` as its sub-range.
   */
  dispatch(
    kernel: Kernel,
    buffers: Binding[],
    options: { uniforms?: Uint32Array; workgroups: [number, number?, number?] },
  ): void {
    const [x, y = 1, z = 1] = options.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new EnvironmentError(
        `dispatch ${x}×${y}×${z} exceeds ${maxDim} workgroups per dimension (${kernel.label})`,
      );
    }
    const entries: GPUBindGroupEntry[] = [];
    for (let i = 0; i < buffers.length; i++) {
      entries.push({ binding: i, resource: this.bindingResource(kernel, i, buffers[i]) });
    }
    if (kernel.hasUniform) {
      const u = options.uniforms ?? new Uint32Array(4);
      const { arena, offset } = this.uniformSlot(u);
      entries.push({
        binding: buffers.length,
        resource: { buffer: arena.buffer, offset, size: Math.max(16, u.byteLength) },
      });
    }
    const bindGroup = this.device.createBindGroup({ layout: kernel.pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
  }

  private bindingResource(kernel: Kernel, index: number, b: Binding): GPUBindingResource {
    const max = this.device.limits.maxStorageBufferBindingSize;
    if ("view" in b) return b.view;
    if ("buf" in b) {
      b.buf.epoch = this.epoch;
      const align = this.device.limits.minStorageBufferOffsetAlignment;
      if (b.offset % align !== 0 || b.size % 4 !== 0 || b.size > max || b.offset + b.size > b.buf.size) {
        throw new Error(
          `${kernel.label}: binding ${index} range [${b.offset}, +${b.size}) is invalid for a ${b.buf.size}-byte ` +
            `buffer (alignment ${align}, limit ${max}): an engine bug`,
        );
      }
      return { buffer: b.buf.buffer, offset: b.offset, size: b.size };
    }
    b.epoch = this.epoch;
    if (b.size <= max) return { buffer: b.buffer };
    // Larger than one binding: fine when the tensor itself fits (a size class rounded it up).
    const used = Math.max(4, Math.ceil((b.used ?? b.size) / 4) * 4);
    if (used <= max) return { buffer: b.buffer, size: used };
    throw new EnvironmentError(
      `${kernel.label || "kernel"}: a tensor of ${b.used ?? b.size} bytes exceeds this adapter's ` +
        `maxStorageBufferBindingSize (${max} bytes) and this operation does not split its work`,
    );
  }

  private uniformSlot(u: Uint32Array): { arena: Arena; offset: number } {
    const bytes = Math.ceil(Math.max(16, u.byteLength) / 16) * 16;
    let arena = this.arenas[this.arenas.length - 1];
    if (!arena || arena.used + bytes > ARENA_BYTES) {
      arena = this.freeArenas.pop() ?? {
        buffer: this.device.createBuffer({
          size: ARENA_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        data: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
      arena.used = 0;
      this.arenas.push(arena);
    }
    const offset = arena.used;
    arena.data.set(new Uint8Array(u.buffer, u.byteOffset, u.byteLength), offset);
    arena.used = Math.ceil((offset + bytes) / this.uniformAlign) * this.uniformAlign;
    return { arena, offset };
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /**
   * Submits the pending work (if any). Does not wait for it. After a device error or loss the pending work
   * is dropped (it belongs to the computation that failed) and the error is thrown.
   */
  flush(): void {
    this.checkDevice();
    if (!this.encoder) return;
    this.endPass();
    // Uniform arenas are written before the command buffer runs (queue order).
    for (const a of this.arenas) {
      if (a.used > 0) {
        this.device.queue.writeBuffer(
          a.buffer,
          0,
          a.data.buffer as ArrayBuffer,
          0,
          Math.min(a.used, ARENA_BYTES),
        );
      }
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    this.endPending();
  }

  /**
   * Closes the pending work, submitted or dropped: a new epoch, the uniform arenas free again (any later
   * queue write is ordered after a submit, so they can be reused at once) and the deferred callbacks run.
   */
  private endPending(): void {
    this.encoder = null;
    this.epoch++;
    this.freeArenas.push(...this.arenas);
    this.arenas = [];
    const later = this.afterSubmit;
    this.afterSubmit = [];
    for (const f of later) f();
  }

  /** Throws a reported device error (or the loss), dropping the pending work first. */
  private checkDevice(): void {
    try {
      throwIfDeviceFailed();
    } catch (e) {
      this.endPass();
      this.endPending();
      throw e;
    }
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    this.flush();
    await this.guard(this.device.queue.onSubmittedWorkDone());
    throwIfDeviceFailed();
  }

  /** Reads several buffers back with one submit and one wait. */
  async readMany(items: { buf: GpuBuffer; bytes: number; offset?: number }[]): Promise<ArrayBuffer[]> {
    this.checkDevice();
    const staging: GPUBuffer[] = [];
    const enc = this.commandEncoder();
    this.endPass();
    for (const it of items) {
      const bytes = Math.max(4, Math.ceil(it.bytes / 4) * 4);
      const s = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      if (it.bytes > 0) enc.copyBufferToBuffer(it.buf.buffer, it.offset ?? 0, s, 0, bytes);
      it.buf.epoch = this.epoch;
      staging.push(s);
    }
    const out: ArrayBuffer[] = [];
    try {
      this.flush(); // inside the try: a flush that throws must not leave the staging buffers behind
      try {
        await this.guard(Promise.all(staging.map((s) => s.mapAsync(GPUMapMode.READ))));
      } catch (e) {
        if (e instanceof PosegpuError) throw e;
        // A failed map is the device's doing (lost, destroyed, out of memory), not the caller's.
        throwIfDeviceFailed();
        throw new EnvironmentError(`WebGPU readback failed: ${(e as Error)?.message ?? e}`, { cause: e });
      }
      throwIfDeviceFailed();
      for (let i = 0; i < staging.length; i++) {
        out.push(staging[i].getMappedRange().slice(0, items[i].bytes));
        staging[i].unmap();
      }
    } finally {
      for (const s of staging) s.destroy();
    }
    return out;
  }

  /**
   * Waits for `p` unless the device is lost first (then throws instead of hanging). Not `Promise.race`
   * with `device.lost`: every race would leave a reaction on that never-settling promise (about 0.5 kB
   * of heap per readback, 5 MiB over 10,000 inferences); a waiter here is dropped as soon as `p` settles.
   */
  private guard<T>(p: Promise<T>): Promise<T> {
    if (this.lostError) {
      p.catch(() => {}); // it may still reject; nobody waits for it any more
      return Promise.reject(this.lostError);
    }
    return new Promise<T>((resolve, reject) => {
      this.lostWaiters.add(reject);
      p.then(
        (v) => {
          this.lostWaiters.delete(reject);
          resolve(v);
        },
        (e) => {
          this.lostWaiters.delete(reject);
          reject(e);
        },
      );
    });
  }

  private lostError: EnvironmentError | null = null;
  private readonly lostWaiters = new Set<(e: Error) => void>();

  /** A snapshot of the counters. */
  getStats(): EngineStats {
    return { ...this.stats };
  }

  /** Resets the peak counters to the current values. */
  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }
}

let instance: Backend | null = null;

/** Creates the device and backend once. Call (and await) before using tensors. */
export async function initEngine(): Promise<Backend> {
  if (instance) return instance;
  const device = await getDevice();
  instance ??= new Backend(device);
  installTuning();
  return instance;
}

/** The backend; throws if `initEngine()` has not completed. */
export function backend(): Backend {
  if (!instance) {
    throw new EnvironmentError(
      "the posegpu engine is not initialised: `await initEngine()` before using tensors",
    );
  }
  return instance;
}

/** Whether the current adapter is a CPU (software) adapter, which wants different kernels. */
export function isSoftwareAdapter(): boolean {
  return adapterSummary().isSoftware;
}
