/**
 * Shared pieces of the WGSL kernels: the uniform block (an array of vec4<u32> words read by `P(i)`,
 * floats by `PF(i)`), flat invocation indices that survive the 65,535-workgroup limit, and the grid helper.
 * @module
 */

import { backend, type Binding, type Kernel } from "../backend.ts";
import { type DType, empty, type Tensor } from "../tensor.ts";

/** Invocations per workgroup of the flat (element-wise) kernels. */
export const WG = 256;

/** Builds the uniform words of a dispatch: integers as u32, floats by their bits. */
export class Uniforms {
  private words: number[] = [];
  private readonly f = new Float32Array(1);
  private readonly u = new Uint32Array(this.f.buffer);
  /** Appends unsigned/signed integers (two's complement). */
  int(...values: number[]): this {
    for (const v of values) this.words.push(v >>> 0);
    return this;
  }
  /** Appends floats. */
  float(...values: number[]): this {
    for (const v of values) {
      this.f[0] = v;
      this.words.push(this.u[0]);
    }
    return this;
  }
  /** Number of words so far (the index the next value gets). */
  get length(): number {
    return this.words.length;
  }
  /** The packed words, padded to a multiple of 4. */
  build(): Uint32Array {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const out = new Uint32Array(n);
    out.set(this.words);
    return out;
  }
}

/** WGSL declaring the uniform block at `binding` with `words` 32-bit words, plus `P()`/`PF()`/`PI()` readers. */
export function uniformDecl(binding: number, words: number): string {
  const n = Math.max(1, Math.ceil(words / 4));
  return `struct Params { v: array<vec4<u32>, ${n}> }
@group(0) @binding(${binding}) var<uniform> u: Params;
fn P(i: u32) -> u32 { return u.v[i / 4u][i % 4u]; }
fn PF(i: u32) -> f32 { return bitcast<f32>(u.v[i / 4u][i % 4u]); }
fn PI(i: u32) -> i32 { return bitcast<i32>(u.v[i / 4u][i % 4u]); }
`;
}

/** WGSL entry-point header computing a flat invocation index `gi` over a 2-D grid of workgroups. */
export function flatMain(wg: number = WG): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gi = (wid.y * nwg.x + wid.x) * ${wg}u + lid;
`;
}

/** Splits `n` workgroups into an (x, y) grid within the per-dimension limit. */
export function grid(n: number): [number, number] {
  const max = backend().device.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [Math.max(n, 0), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/** Storage declarations: inputs read-only, outputs read_write, in binding order. */
export function storageDecl(
  inputs: { name: string; type?: string }[],
  outputs: { name: string; type?: string }[],
): string {
  let s = "";
  let b = 0;
  for (const i of inputs) {
    s += `@group(0) @binding(${b++}) var<storage, read> ${i.name}: array<${i.type ?? "f32"}>;\n`;
  }
  for (const o of outputs) {
    s += `@group(0) @binding(${b++}) var<storage, read_write> ${o.name}: array<${o.type ?? "f32"}>;\n`;
  }
  return s;
}

/** Compiles a kernel with `storage` storage bindings and a uniform block after them. */
export function compile(code: string, storage: number, label: string): Kernel {
  return backend().kernel(code, { storageBindings: storage, hasUniform: true, label });
}

/** Records a flat kernel over `n` invocations (workgroups of `WG`). */
export function runFlat(kernel: Kernel, buffers: Binding[], uniforms: Uniforms, n: number): void {
  if (n === 0) return;
  backend().dispatch(kernel, buffers, { uniforms: uniforms.build(), workgroups: grid(Math.ceil(n / WG)) });
}

/** Allocates an output tensor. */
export function output(shape: readonly number[], dtype: DType = "f32"): Tensor {
  return empty(shape, dtype);
}

/** Normalises a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}
