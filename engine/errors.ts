/**
 * Error types shared by the library and the CLI. Every error carries the exit code the CLI uses:
 * 1 for bad input (a file, tensor, joint, record or argument at fault), 2 for the environment
 * (no WebGPU, a lost device).
 * @module
 */

/** Base class of posegpu's errors; `exitCode` is what the CLI exits with. */
export class PosegpuError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  /** Creates an error with a message and an exit code (default 1). */
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "PosegpuError";
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad input: the message names the file, record/line, tensor or field at fault. Exit code 1. */
export class InputError extends PosegpuError {
  /** Creates an input error. */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: 1, cause: options.cause });
    this.name = "InputError";
  }
}

/** The environment cannot run the work (no WebGPU adapter, device lost). Exit code 2. */
export class EnvironmentError extends PosegpuError {
  /** Creates an environment error. */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: 2, cause: options.cause });
    this.name = "EnvironmentError";
  }
}
