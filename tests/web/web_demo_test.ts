// The browser demo in headless Chromium (WebGPU on SwiftShader): the page bundled by `deno bundle` lifts
// the sample with the same library code, and its 3D equals this Deno process's within 1e-3 mm; the CLI
// demo's HTML viewer shows a skeleton. Screenshots: out/web_demo.png, out/demo_html.png.
//
// Dev-only setup (skipped with a message when absent): Debian's `chromium` and playwright-core installed
// here by `npm ci --prefix tests/web` (tests/web/package.json; node_modules is git-ignored).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { initEngine } from "../../engine/backend.ts";
import { loadLifter } from "../../models/lifter.ts";
import { loadDemoSample } from "../../pose/demo_sample.ts";
import { buildWebDemo, serveStatic } from "../../web/build.ts";
import { posegpu, ROOT, writeTestCheckpoint } from "../cli/_lifter.ts";

const CHROMIUM = Deno.env.get("POSEGPU_CHROMIUM") ?? "/usr/bin/chromium";
const PLAYWRIGHT = fileURLToPath(new URL("./node_modules/playwright-core", import.meta.url));

/** Flags under which Chromium exposes WebGPU on SwiftShader without a GPU or display (checked here). */
export const CHROMIUM_ARGS: readonly string[] = [
  "--enable-unsafe-webgpu",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// Minimal typing of the playwright-core calls used here (the package is CommonJS, loaded via require).
interface Page {
  goto(url: string): Promise<unknown>;
  waitForFunction(fn: string, arg?: unknown, options?: { timeout: number }): Promise<unknown>;
  evaluate<T>(fn: string): Promise<T>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: string, fn: (x: { message?: string; text?: () => string; type?: () => string }) => void): void;
}
interface Browser {
  newPage(options?: { viewport: { width: number; height: number } }): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: { launch(options: Record<string, unknown>): Promise<Browser> };
}

function missing(): string | null {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    return `${CHROMIUM} is absent (apt-get install -y chromium)`;
  }
  try {
    Deno.statSync(`${PLAYWRIGHT}/package.json`);
  } catch {
    return `playwright-core is absent (npm ci --prefix tests/web)`;
  }
  return null;
}

const why = missing();
if (why) console.warn(`skipping the browser tests: ${why}`);

async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const { chromium } = createRequire(import.meta.url)(PLAYWRIGHT) as Playwright;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

Deno.test({
  name: "web: the bundled page lifts the sample in Chromium like Deno does (within 1e-3 mm)",
  ignore: why !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The page's own source type-checks (the bundler does not check).
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "web/main.ts"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    const site = await Deno.makeTempDir({ prefix: "posegpu_web_" });
    const build = await buildWebDemo(site);
    // Before the shipped weights exist the page gets a seeded random checkpoint under the same name.
    if (build.missingWeights.includes("martinez_sh")) {
      console.warn("web test: weights/martinez_sh.safetensors is absent; using a random test checkpoint");
      await writeTestCheckpoint(`${site}/weights/martinez_sh.safetensors`);
    }
    const bytes = await Deno.readFile(`${site}/weights/martinez_sh.safetensors`);
    await initEngine();
    const sample = await loadDemoSample();
    const lifter = await loadLifter(bytes);
    const k2 = sample.keypoints2d;
    // The page's options: those of `posegpu demo` (input mapping "auto").
    const ref = await lifter.lift(k2.coords, {
      mask: k2.mask,
      image: sample.doc.image ?? undefined,
      normalizeInput: "auto",
    });
    lifter.dispose();

    const { server, url } = serveStatic(site);
    try {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1100, height: 1150 } });
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message ?? String(e)));
        await page.goto(url);
        await page.waitForFunction("globalThis.posegpuDemo?.ready === true", null, { timeout: 180_000 });
        const got = await page.evaluate<{ error: string | null; poses3d: number[]; adapter: string }>(
          "globalThis.posegpuDemo",
        );
        assert.equal(got.error, null, `page error: ${got.error}`);
        assert.deepEqual(errors, []);
        assert.equal(got.poses3d.length, ref.length);
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got.poses3d[i]));
        console.log(`web: ${got.adapter}, max |browser − Deno| = ${worst.toExponential(2)} mm`);
        assert.ok(worst <= 1e-3, `browser vs Deno: max difference ${worst} mm`);
        // The animation runs (the canvas has been redrawn) before the screenshot.
        await page.waitForFunction("globalThis.posegpuDemo.drawnFrames > 3", null, { timeout: 30_000 });
        await Deno.mkdir(`${ROOT}out`, { recursive: true });
        await page.screenshot({ path: `${ROOT}out/web_demo.png`, fullPage: true });
      });
    } finally {
      await server.shutdown();
      await Deno.remove(site, { recursive: true });
    }
  },
});

Deno.test({
  name: "web: the demo's HTML viewer draws a skeleton in Chromium",
  ignore: why !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // out/demo.html as `posegpu demo` writes it (shipped weights when present, else a test checkpoint;
    // written to a temporary folder so a user's out/ is left alone).
    const dir = await Deno.makeTempDir({ prefix: "posegpu_web_viewer_" });
    let args = ["demo", "--out-dir", dir];
    try {
      Deno.statSync(`${ROOT}weights/martinez_sh.safetensors`);
    } catch {
      await writeTestCheckpoint(`${dir}/test.safetensors`);
      args = [...args, "--weights", `${dir}/test.safetensors`];
    }
    const r = await posegpu(args);
    assert.equal(r.code, 0, r.err);
    try {
      await withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
        await page.goto(`file://${dir}/demo.html`);
        await page.waitForFunction("globalThis.posegpuViewer?.ready === true", null, { timeout: 30_000 });
        // Count the canvas pixels that are neither the white background nor near-white grid lines.
        const inked = await page.evaluate<number>(`(() => {
          const c = document.getElementById("v3d");
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
          return n;
        })()`);
        assert.ok(inked > 500, `the 3D canvas looks blank (${inked} dark pixels)`);
        await Deno.mkdir(`${ROOT}out`, { recursive: true });
        await page.screenshot({ path: `${ROOT}out/demo_html.png` });
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
