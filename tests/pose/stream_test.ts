// streamPoseFile against the whole-file readers: the same person-frames from CSV (long and wide) and
// pose JSON, whatever the batch size and the read chunk (1-byte chunks split every token), and errors
// that name the file, line or record, track and joint.
import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { readPoseDocument } from "../../pose/formats/detect.ts";
import { csvText } from "../../pose/formats/csv.ts";
import { createPoseDocument, type PoseDocument, poseJsonText } from "../../pose/formats/pose_json.ts";
import { type PoseFrameBatch, streamPoseFile } from "../../pose/formats/stream.ts";
import { Rng } from "../../engine/random.ts";

const rng = new Rng(77);

function sampleDoc(): PoseDocument {
  const J = 17;
  const track = (id: number, frames: number[]) => {
    const n = frames.length;
    const coords = new Float32Array(n * J * 2),
      mask = new Uint8Array(n * J),
      scores = new Float32Array(n * J);
    const c3 = new Float32Array(n * J * 3), m3 = new Uint8Array(n * J);
    for (let i = 0; i < n * J; i++) {
      mask[i] = rng.uniform() < 0.85 ? 1 : 0;
      scores[i] = Math.round(rng.uniform() * 100) / 100;
      if (mask[i]) {
        coords[2 * i] = Math.round(rng.uniform() * 9000) / 10;
        coords[2 * i + 1] = Math.round(rng.uniform() * 9000) / 10;
      }
      m3[i] = rng.uniform() < 0.9 ? 1 : 0;
      if (m3[i]) { for (let d = 0; d < 3; d++) c3[3 * i + d] = Math.round(rng.normal() * 5000) / 10; }
    }
    return {
      track: id,
      frames,
      keypoints2d: { skeleton: "coco17", frames: n, joints: J, coords, scores, mask },
      keypoints3d: { skeleton: "coco17", frames: n, joints: J, coords: c3, mask: m3 },
    };
  };
  return createPoseDocument({
    skeleton: "coco17",
    fps: 25,
    image: { width: 1280, height: 720 },
    people: [track(0, [0, 1, 2, 3, 5, 8, 9, 10, 11, 12, 13]), track(3, [2, 3, 4]), track(7, [20])],
    units: "mm",
    frame: "camera",
  });
}

async function collect(
  path: string,
  options: Parameters<typeof streamPoseFile>[1],
): Promise<PoseFrameBatch[]> {
  const out: PoseFrameBatch[] = [];
  for await (const b of streamPoseFile(path, options)) out.push(b);
  return out;
}

/** Person-frame (track, frame) → its 2D/3D values, from a document or from batches. */
function table(rows: Iterable<[number, number, number[]]>): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const [t, f, v] of rows) m.set(`${t}/${f}`, v);
  return m;
}

function* docRows(doc: PoseDocument): Generator<[number, number, number[]]> {
  for (const p of doc.people) {
    const J = p.keypoints2d!.joints;
    for (let f = 0; f < p.frames.length; f++) {
      const v: number[] = [];
      for (let j = 0; j < J; j++) {
        const i = f * J + j;
        v.push(p.keypoints2d!.mask[i], p.keypoints2d!.coords[2 * i], p.keypoints2d!.coords[2 * i + 1]);
        v.push(p.keypoints2d!.scores ? p.keypoints2d!.scores[i] : -1);
        const k3 = p.keypoints3d!;
        v.push(k3.mask[i], k3.coords[3 * i], k3.coords[3 * i + 1], k3.coords[3 * i + 2]);
      }
      yield [p.track, p.frames[f], v];
    }
  }
}

function* batchRows(batches: PoseFrameBatch[]): Generator<[number, number, number[]]> {
  for (const b of batches) {
    const k2 = b.keypoints2d!, k3 = b.keypoints3d!, J = k2.joints;
    for (let f = 0; f < b.tracks.length; f++) {
      const v: number[] = [];
      for (let j = 0; j < J; j++) {
        const i = f * J + j;
        v.push(k2.mask[i], k2.coords[2 * i], k2.coords[2 * i + 1], k2.scores ? k2.scores[i] : -1);
        v.push(k3.mask[i], k3.coords[3 * i], k3.coords[3 * i + 1], k3.coords[3 * i + 2]);
      }
      yield [b.tracks[f], b.frames[f], v];
    }
  }
}

Deno.test("streamPoseFile reads CSV (long, wide) and pose JSON as the whole-file readers do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_stream_" });
  try {
    const doc = sampleDoc();
    const files = {
      "long.csv": csvText(doc, { layout: "long" }),
      "wide.csv": csvText(doc, { layout: "wide" }),
      "poses.json": poseJsonText(doc),
    };
    for (const [name, text] of Object.entries(files)) {
      const path = `${dir}/${name}`;
      await Deno.writeTextFile(path, text);
      const whole = table(docRows(await readPoseDocument(path)));
      for (const [batchSize, chunkBytes] of [[4096, 65536], [4, 7], [1, 1]]) {
        const batches = await collect(path, { batchSize, chunkBytes });
        assert.ok(batches.every((b) => b.tracks.length <= batchSize && b.skeleton === "coco17"));
        assert.deepEqual(batches[0].info, { fps: 25, image: { width: 1280, height: 720 } }, name);
        assert.deepEqual(
          table(batchRows(batches)),
          whole,
          `${name}, batches of ${batchSize}, ${chunkBytes} B reads`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streamPoseFile errors name the file, line or record, track, frame and joint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_stream_err_" });
  try {
    const doc = sampleDoc();
    const cases: [string, string, RegExp][] = [];
    const csv = csvText(doc, { layout: "long" }).split("\n");
    // Line 3 is the second data row (line 1 metadata, line 2 header).
    const row = csv[2].split(",");
    cases.push([
      "nan.csv",
      [...csv.slice(0, 2), [...row.slice(0, 3), "NaN", ...row.slice(4)].join(","), ...csv.slice(3)].join(
        "\n",
      ),
      new RegExp(`nan\\.csv: line 3: track 0 frame 0 joint "${row[2]}": x is "NaN"`),
    ]);
    cases.push([
      "order.csv",
      [csv[0], csv[1], "5,0,nose,1,2,0.5,1,2,3", "4,0,nose,1,2,0.5,1,2,3"].join("\n"),
      /order\.csv: line 4: track 0 frame 4 comes after its frame 5/,
    ]);
    cases.push(["empty.csv", "# skeleton=coco17\nframe,joint,x,y\n", /empty\.csv: no data rows/]);
    const json = JSON.parse(poseJsonText(doc));
    json.people[1].keypoints2d[2][5] = [12, "1e999"];
    cases.push([
      "inf.json",
      JSON.stringify(json, null, 1).replace('"1e999"', "1e999"),
      /inf\.json: people\[1\] \(track 3\) keypoints2d\[2\] \(frame 4\) joint "left_shoulder": coordinate y is Infinity/,
    ]);
    const late = JSON.parse(poseJsonText(doc));
    const { skeleton: _s, ...rest } = late;
    cases.push([
      "late.json",
      JSON.stringify({ ...rest, skeleton: "coco17" }),
      /"skeleton" must come before "people"/,
    ]);
    cases.push(["cut.json", poseJsonText(doc).slice(0, 900), /cut\.json: line \d+: .*(end|expected)/]);
    for (const [name, text, re] of cases) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      await assert.rejects(() => collect(`${dir}/${name}`, { chunkBytes: 64 }), (e: Error) => {
        assert.ok(e instanceof InputError, `${name}: ${e}`);
        assert.match(e.message, re);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
