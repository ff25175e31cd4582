// 10^5 poses from a CSV and from a pose JSON file (~20 MB each) lift in a process whose JS heap is capped
// at 64 MiB: streamPoseFile → H36M-17 → Lifter.liftStream, with the heap (after gc) flat. The
// whole-file reader cannot do this under the same cap (checked once: it runs out of memory).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { H36M_17 } from "../../pose/skeletons.ts";
import { writeTestCheckpoint } from "../cli/_lifter.ts";

const MAIN = fileURLToPath(new URL("./_stream_lift_main.ts", import.meta.url));
const POSES = 100_000;
const MiB = 2 ** 20;

/** Writes the file in pieces (the test process itself keeps no 20 MB string either). */
async function writeLarge(path: string, parts: () => Generator<string>): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let pending: string[] = [];
  let size = 0;
  for (const p of parts()) {
    pending.push(p);
    size += p.length;
    if (size > 1 << 20) {
      await f.write(enc.encode(pending.join("")));
      pending = [];
      size = 0;
    }
  }
  await f.write(enc.encode(pending.join("")));
  f.close();
}

function joint(f: number, j: number): [number, number] {
  return [
    Math.round((500 + 60 * Math.sin(j * 0.9) + 20 * Math.sin(f * 0.01)) * 10) / 10,
    Math.round((500 + 150 * Math.cos(j * 0.4) + 10 * Math.cos(f * 0.013)) * 10) / 10,
  ];
}

async function liftCapped(file: string, weights: string, mode?: string): Promise<
  {
    code: number;
    err: string;
    result: { poses: number; checksum: number; heap: number[]; seconds: number } | null;
  }
> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--max-old-space-size=64",
      MAIN,
      file,
      weights,
      ...(mode ? [mode] : []),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(240_000),
  }).output();
  const out = new TextDecoder().decode(r.stdout).trim();
  return {
    code: r.code,
    err: new TextDecoder().decode(r.stderr).slice(-2000),
    result: r.code === 0 ? JSON.parse(out.split("\n").pop()!) : null,
  };
}

Deno.test("10^5 poses of CSV and pose JSON lift under a 64 MiB heap (streamed), heap flat", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_stream_heap_" });
  try {
    const weights = `${dir}/lifter.safetensors`;
    await writeTestCheckpoint(weights);
    const J = H36M_17.joints;
    const csv = `${dir}/poses.csv`;
    await writeLarge(csv, function* () {
      yield `# skeleton=h36m17; width=1000; height=1000\nframe,track,${
        J.map((n) => `${n}.x,${n}.y`).join(",")
      }\n`;
      for (let f = 0; f < POSES; f++) {
        const cells: (number | string)[] = [f, f % 3];
        for (let j = 0; j < 17; j++) cells.push(...(f % 10 === 0 && j === 5 ? ["", ""] : joint(f, j)));
        yield cells.join(",") + "\n";
      }
    });
    const json = `${dir}/poses.json`;
    await writeLarge(json, function* () {
      const per = POSES / 4;
      yield `{"format":"posegpu-pose","version":1,"skeleton":"h36m17","joints":${JSON.stringify(J)},` +
        `"units":"px","frame":"image","fps":50,"image":{"width":1000,"height":1000},"model":null,"weights":null,"people":[`;
      for (let t = 0; t < 4; t++) {
        yield `${t ? "," : ""}\n{"track":${t},"frames":[${
          Array.from({ length: per }, (_, i) => i).join(",")
        }],"keypoints2d":[`;
        for (let f = 0; f < per; f++) {
          const pts = Array.from(
            { length: 17 },
            (_, j) => f % 10 === 0 && j === 5 ? "null" : `[${joint(f, j)}]`,
          );
          yield `${f ? "," : ""}\n[${pts.join(",")}]`;
        }
        yield "]}";
      }
      yield "]}\n";
    });
    for (const file of [csv, json]) {
      const size = (await Deno.stat(file)).size;
      const r = await liftCapped(file, weights);
      assert.equal(r.code, 0, `${file} (${(size / MiB).toFixed(1)} MiB) under a 64 MiB heap:\n${r.err}`);
      const { poses, checksum, heap, seconds } = r.result!;
      assert.equal(poses, POSES);
      assert.ok(Number.isFinite(checksum));
      // After the first batches (pipelines compiled, JIT warm) the heap stays within 4 MiB.
      const settled = heap.slice(2);
      const spread = (Math.max(...settled) - Math.min(...settled)) / MiB;
      assert.ok(settled.length >= 4, `${settled.length} heap samples`);
      assert.ok(
        spread < 4,
        `heap varied by ${spread.toFixed(1)} MiB: ${heap.map((h) => (h / MiB).toFixed(1))}`,
      );
      console.log(
        `${file.split("/").pop()}: ${(size / MiB).toFixed(1)} MiB, ${POSES} poses in ${
          seconds.toFixed(1)
        } s, heap ${(Math.min(...heap) / MiB).toFixed(1)}–${(Math.max(...heap) / MiB).toFixed(1)} MiB`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The stream itself: 10^5 generated poses (10^6 with POSEGPU_LONG=1) through liftStream under the same
// 64 MiB cap, the heap flat from the first samples to the last.
Deno.test("liftStream of 10^5 generated poses (10^6 with POSEGPU_LONG=1) under a 64 MiB heap, heap flat", async () => {
  const total = Deno.env.get("POSEGPU_LONG") === "1" ? 1_000_000 : 100_000;
  const dir = await Deno.makeTempDir({ prefix: "posegpu_stream_gen_" });
  try {
    const weights = `${dir}/lifter.safetensors`;
    await writeTestCheckpoint(weights);
    const r = await liftCapped(String(total), weights, "generated");
    assert.equal(r.code, 0, r.err);
    const { poses, heap, seconds } = r.result!;
    assert.equal(poses, total);
    const settled = heap.slice(1);
    assert.ok(settled.length >= 2, `${settled.length} heap samples`);
    const spread = (Math.max(...settled) - Math.min(...settled)) / MiB;
    assert.ok(
      spread < 4,
      `heap varied by ${spread.toFixed(1)} MiB: ${heap.map((h) => (h / MiB).toFixed(1))}`,
    );
    console.log(
      `${total} generated poses in ${seconds.toFixed(1)} s, heap ${(Math.min(...heap) / MiB).toFixed(1)}–${
        (Math.max(...heap) / MiB).toFixed(1)
      } MiB`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
