/**
 * The one shared `GPUDevice` of the process. It asks the adapter for its own limits (the spec defaults are
 * far smaller: 128 MiB bindings, 256-invocation workgroups) and for `shader-f16` when offered. Device loss
 * and uncaptured errors are remembered and thrown at the next submit or readback (waits in flight fail at
 * once on a loss), so nothing waits forever on a dead device.
 * @module
 */

import { EnvironmentError } from "./errors.ts";

/** What the engine knows about the adapter it runs on. */
export interface AdapterSummary {
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Vendor id or name as the adapter reports it. */
  vendor: string;
  /** Architecture string (often empty on software adapters). */
  architecture: string;
  /** Best guess of the backend: "vulkan", "gl", "metal", "d3d12" or "unknown". */
  backend: string;
  /** True for CPU (software) adapters such as lavapipe/llvmpipe/SwiftShader: kernels are chosen for them. */
  isSoftware: boolean;
  /** Features granted to the device. */
  features: string[];
  /** Limits granted to the device (numeric ones). */
  limits: Record<string, number>;
}

const LIMIT_NAMES = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxUniformBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindGroups",
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

let devicePromise: Promise<GPUDevice> | null = null;
let summary: AdapterSummary | null = null;
let pendingError: Error | null = null;
let lost = false;

function guessBackend(info: GPUAdapterInfo): string {
  const d = `${info.description} ${info.vendor}`.toLowerCase();
  // Mesa's Vulkan driver reports vendor 0x10005 (65541); the GL path reports "mesa".
  if (info.vendor === "65541" || d.includes("lavapipe") || d.includes("vulkan")) return "vulkan";
  if (d.includes("mesa") || d.includes("opengl")) return "gl";
  if (d.includes("apple")) return "metal";
  if (d.includes("microsoft") || d.includes("d3d")) return "d3d12";
  return "unknown";
}

// Browsers have no `Deno`, and Deno without --allow-env would throw (or prompt at a terminal): both read as
// "not set", so narrow permissions (`--allow-read --allow-write`) and the browser bundle work.
function envVar(name: string): string | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  try {
    if (deno?.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
    return deno.env.get(name);
  } catch {
    return undefined;
  }
}

async function createDevice(): Promise<GPUDevice> {
  // POSEGPU_NO_WEBGPU=1 behaves as a runtime without WebGPU (to check that path on machines that have it).
  const disabled = envVar("POSEGPU_NO_WEBGPU") === "1";
  const gpu = disabled ? undefined : (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new EnvironmentError(
      "WebGPU is not available in this runtime. Use Deno 2 (navigator.gpu) or a browser with WebGPU; on Linux " +
        "without a GPU install Mesa's software drivers: `apt-get install -y mesa-vulkan-drivers`.",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new EnvironmentError(
      "No WebGPU adapter found. On Linux install Mesa's drivers (`apt-get install -y mesa-vulkan-drivers` for " +
        "the Vulkan lavapipe software adapter), or run on a machine with a GPU.",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") requiredLimits[name] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  // POSEGPU_NO_F16=1 leaves `shader-f16` off (f16 tensors then fall back to f32 storage; for tests).
  if (adapter.features.has("shader-f16") && envVar("POSEGPU_NO_F16") !== "1") {
    requiredFeatures.push("shader-f16");
  }
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.lost.then((info) => {
    lost = true;
    // A deliberate destroy() is not an error for the caller.
    if (info.reason !== "destroyed") {
      pendingError = new EnvironmentError(`WebGPU device lost: ${info.message || info.reason}`);
    }
  });
  device.addEventListener("uncapturederror", (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    pendingError ??= new EnvironmentError(`WebGPU error: ${e.message}`);
  });
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (device.limits as unknown as Record<string, number>)[name];
    if (typeof v === "number") limits[name] = v;
  }
  const desc = info.description || info.device || "unknown adapter";
  summary = {
    description: desc,
    vendor: info.vendor,
    architecture: info.architecture,
    backend: guessBackend(info),
    // Chromium's SwiftShader reports an empty description and "swiftshader" as the architecture.
    isSoftware: /llvmpipe|lavapipe|swiftshader|software|warp/i.test(`${desc} ${info.architecture}`) ||
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    features: [...device.features].sort(),
    limits,
  };
  return device;
}

/** Returns the process-wide device, creating it on first use. Throws `EnvironmentError` without WebGPU. */
export function getDevice(): Promise<GPUDevice> {
  if (!devicePromise) {
    devicePromise = createDevice();
    // A failed creation must be retried by a later call, not cached as a rejection forever.
    devicePromise.catch(() => devicePromise = null);
  }
  return devicePromise;
}

/** The adapter summary; valid after `getDevice()` has resolved. */
export function adapterSummary(): AdapterSummary {
  if (!summary) {
    throw new EnvironmentError("the WebGPU device has not been created yet: await getDevice() first");
  }
  return summary;
}

/** Throws (once) an error that the device reported since the last check; throws again while the device is lost. */
export function throwIfDeviceFailed(): void {
  if (pendingError) {
    const e = pendingError;
    pendingError = null;
    throw e;
  }
  if (lost) throw new EnvironmentError("WebGPU device lost; restart the process");
}

/** Records an error to be thrown by the next engine call (used by tests to simulate faults). */
export function reportDeviceError(error: Error): void {
  pendingError ??= error;
}
