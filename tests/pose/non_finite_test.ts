// NaN and ±Infinity coordinates in every input format are errors that name the file, the record or line,
// the person and the joint (one table: COCO results and annotations, OpenPose, MediaPipe, CSV, pose JSON,
// BVH, and the streaming CSV / pose JSON readers). JSON has no NaN: a bare NaN/Infinity token (Python's
// json.dump writes them) is named with its line; 1e999 parses as Infinity and 1e39 overflows float32.
import assert from "node:assert/strict";
import { InputError } from "../../engine/errors.ts";
import { readBvh } from "../../pose/bvh.ts";
import { readPoseDocument } from "../../pose/formats/detect.ts";
import { streamPoseFile } from "../../pose/formats/stream.ts";
import { BLAZEPOSE_33, BODY_25, COCO_17 } from "../../pose/skeletons.ts";

/** COCO keypoints `[x, y, v] × 17` with `bad` at flat index `at`. */
function cocoKeypoints(bad: string, at: number): string {
  return Array.from({ length: 51 }, (_, i) => (i === at ? bad : i % 3 === 2 ? "2" : String(100 + i))).join(
    ",",
  );
}

interface Case {
  name: string;
  /** File (relative; a path inside a folder for OpenPose) and its text with `bad` in one coordinate. */
  file: (bad: string) => [string, string];
  /** What to read: the file, or its folder. */
  read: (path: string, dir: string) => Promise<unknown>;
  /** Values to try. */
  bad: string[];
  /** The message must match each (after the bad value's own check). */
  names: RegExp[];
  /** A JSON format: a bare NaN/Infinity token is a syntax error naming its line. */
  tokenLine?: boolean;
}

const JSON_BAD = ["1e999", "-1e999", "1e39", "NaN", "-Infinity"];
const TEXT_BAD = ["NaN", "nan", "Infinity", "-inf", "1e999"];
const read = (path: string) => readPoseDocument(path);
const collect = async (path: string) => {
  for await (const _ of streamPoseFile(path, { chunkBytes: 16 })) { /* drain */ }
};

const poseJson = (bad: string) =>
  `{"format":"posegpu-pose","version":1,"skeleton":"coco17","joints":${JSON.stringify(COCO_17.joints)},\n` +
  `"units":"px","frame":"image","fps":null,"model":null,"weights":null,"people":[\n` +
  `{"track":2,"frames":[0],"keypoints2d":[[${COCO_17.joints.map(() => "[1,2]").join(",")}]]},\n` +
  `{"track":4,"frames":[3,8],"keypoints2d":[\n` +
  [0, 1].map((f) =>
    `[${COCO_17.joints.map((_, j) => (f === 1 && j === 9 ? `[5,${bad}]` : "[1,2]")).join(",")}]`
  )
    .join(",\n") +
  `]}]}\n`;
const csv = (bad: string) =>
  `# skeleton=coco17\nframe,track,joint,x,y\n0,0,nose,1,2\n0,1,nose,1,2\n0,1,left_wrist,4,${bad}\n`;

const CASES: Case[] = [
  {
    name: "COCO results",
    file: (b) => [
      "results.json",
      `[{"image_id":1,"category_id":1,"score":0.9,"keypoints":[${cocoKeypoints("1", -1)}]},\n` +
      `{"image_id":2,"category_id":1,"score":0.8,"keypoints":[${cocoKeypoints(b, 3 * 7 + 1)}]}]`,
    ],
    read,
    bad: JSON_BAD,
    names: [/results\.json: /, /result 1/, /joint "left_elbow" y/],
    tokenLine: true,
  },
  {
    name: "COCO annotations",
    file: (b) => [
      "annotations.json",
      JSON.stringify(
        {
          images: [{ id: 1, width: 640, height: 480, file_name: "a.jpg" }],
          annotations: [{
            id: 5,
            image_id: 1,
            category_id: 1,
            num_keypoints: 17,
            bbox: [0, 0, 10, 10],
            area: 100,
            iscrowd: 0,
            keypoints: "@",
          }],
          categories: [{ id: 1, name: "person", keypoints: COCO_17.joints, skeleton: [] }],
        },
        null,
        1,
      ).replace('"@"', `[${cocoKeypoints(b, 3 * 7)}]`),
    ],
    read,
    bad: JSON_BAD,
    names: [/annotations\.json: /, /annotation 0 \(id 5\)/, /joint "left_elbow" x/],
    tokenLine: true,
  },
  {
    name: "OpenPose",
    file: (b) => [
      "openpose/walk_000000000003_keypoints.json",
      `{"version":1.3,"people":[{"person_id":[-1],"pose_keypoints_2d":[${
        "1,2,0.9,".repeat(25).slice(0, -1)
      }]},\n` +
      `{"person_id":[-1],"pose_keypoints_2d":[${
        Array.from({ length: 75 }, (_, i) => (i === 3 * 4 ? b : i % 3 === 2 ? "0.9" : String(100 + i))).join(
          ",",
        )
      }]}]}`,
    ],
    read: (_path, dir) => readPoseDocument(`${dir}/openpose`),
    bad: JSON_BAD,
    names: [/walk_000000000003_keypoints\.json: /, /person 1/, new RegExp(`joint "${BODY_25.joints[4]}" x`)],
    tokenLine: true,
  },
  {
    name: "MediaPipe",
    file: (b) => [
      "landmarks.json",
      `{"width":640,"height":480,"frames":[{"frame":0,"landmarks":[]},\n{"frame":1,"landmarks":[${
        Array.from({ length: 33 }, (_, j) => `{"x":${j === 11 ? b : 0.5},"y":0.5,"z":0,"visibility":0.9}`)
          .join(",")
      }]}]}`,
    ],
    read,
    bad: JSON_BAD,
    names: [
      /landmarks\.json: /,
      /frame entry 1/,
      /person 0/,
      new RegExp(`joint "${BLAZEPOSE_33.joints[11]}"`),
    ],
    tokenLine: true,
  },
  {
    name: "CSV",
    file: (b) => ["poses.csv", csv(b)],
    read,
    bad: TEXT_BAD,
    names: [/poses\.csv: /, /line 5/, /track 1/, /joint "left_wrist"/],
  },
  {
    name: "CSV (streamed)",
    file: (b) => ["poses.csv", csv(b)],
    read: collect,
    bad: TEXT_BAD,
    names: [/poses\.csv: /, /line 5/, /track 1/, /joint "left_wrist"/],
  },
  {
    name: "pose JSON",
    file: (b) => ["poses.json", poseJson(b)],
    read,
    bad: JSON_BAD,
    names: [/poses\.json: /, /people\[1\]/, /track 4/, /frame 8/, /joint "left_wrist"/],
    tokenLine: true,
  },
  {
    name: "pose JSON (streamed)",
    file: (b) => ["poses.json", poseJson(b)],
    read: collect,
    bad: JSON_BAD.filter((b) => !/NaN|Infinity/.test(b)),
    names: [/poses\.json: /, /people\[1\]/, /track 4/, /frame 8/, /joint "left_wrist"/],
  },
  {
    name: "BVH",
    file: (b) => [
      "clip.bvh",
      "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n" +
      "JOINT Chest\n{\nOFFSET 0 5 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\nOFFSET 0 1 0\n}\n}\n}\n" +
      `MOTION\nFrames: 2\nFrame Time: 0.04\n0 0 0 0 0 0 0 0 0\n0 0 0 0 0 0 0 ${b} 0\n`,
    ],
    read: (path) => readBvh(path),
    bad: TEXT_BAD,
    // A BVH holds one skeleton: the record is the motion line and frame, the joint its channel's.
    names: [/clip\.bvh: /, /line 20/, /frame 1/, /joint "Chest" Xrotation/],
  },
];

Deno.test("non-finite coordinates in every format: the error names file, record/line, person and joint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "posegpu_nonfinite_" });
  try {
    let checked = 0;
    for (const c of CASES) {
      for (const bad of c.bad) {
        const [file, text] = c.file(bad);
        const path = `${dir}/${file}`;
        await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
        await Deno.writeTextFile(path, text);
        const what = `${c.name} with ${bad}`;
        const err = await c.read(path, dir).then(() => null, (e: Error) => e);
        assert.ok(err instanceof InputError, `${what}: expected an InputError, got ${err}`);
        if (/^-?(NaN|Infinity)$/.test(bad) && c.tokenLine) {
          // Not JSON at all: the file and the line of the token.
          const line = text.slice(0, text.indexOf(bad)).split("\n").length;
          assert.match(
            err.message,
            new RegExp(`${file.split("/").pop()!.replace(".", "\\.")}: line ${line}: `),
            what,
          );
          assert.match(err.message, new RegExp(`${bad.replace("-", "\\-")} is not a JSON number`), what);
        } else {
          for (const re of c.names) assert.match(err.message, re, what);
          assert.match(err.message, /finite/, what);
        }
        await Deno.remove(path);
        checked++;
      }
    }
    assert.equal(checked, CASES.reduce((s, c) => s + c.bad.length, 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
